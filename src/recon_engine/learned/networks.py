"""Small convolutional networks of the learned reconstructions (plain torch).

- :class:`DnCNN`: a residual CNN denoiser (Zhang et al. 2017) on complex images as two real
  channels (real, imaginary), optionally with a third input channel holding the noise level
  ``σ`` everywhere, so that one network serves every denoising strength (FFDNet's idea,
  Zhang et al. 2018). ``depth`` 3 × 3 convolutions of ``features`` channels, ReLU between,
  no batch norm (the output must not depend on the batch), and the network predicts the
  noise: ``D(x) = x − CNN(x)``.
- :class:`MoDLNet`'s regulariser is the same DnCNN without the noise channel.

Every network records its constructor arguments in :attr:`architecture` (a plain dict saved
beside the weights, see :mod:`recon_engine.learned.weights`).

References
----------
K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian denoiser: residual learning of
deep CNN for image denoising", IEEE Trans. Image Process. 26:3142–3155 (2017),
doi:10.1109/TIP.2017.2662206.
K. Zhang, W. Zuo, L. Zhang, "FFDNet: toward a fast and flexible solution for CNN-based image
denoising", IEEE Trans. Image Process. 27:4608–4622 (2018), doi:10.1109/TIP.2018.2839891.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recon_engine.errors import ParameterError

__all__ = ["DnCNN", "channels_to_complex", "complex_to_channels"]


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex ``(B, y, x)`` → float ``(B, 2, y, x)`` (real, imaginary)."""
    return torch.view_as_real(x).permute(0, 3, 1, 2).contiguous()


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Float ``(B, 2, y, x)`` → complex ``(B, y, x)``."""
    return torch.complex(x[:, 0], x[:, 1])


class DnCNN(nn.Module):
    """Residual CNN denoiser of complex images.

    Parameters
    ----------
    features
        Channels of the hidden layers (≥ 1).
    depth
        Number of 3 × 3 convolutions (≥ 2).
    noise_channel
        Take the noise level ``σ`` as a third input channel.
    he_init
        Initialise the hidden convolutions with He's normal initialisation (for ReLU, He et al.
        2015) instead of torch's default, which shrinks the signal layer by layer, so that deeper
        networks (≥ 10 layers) train without batch norm; not part of the architecture (only the
        starting point of training).
    """

    kind = "dncnn"

    def __init__(
        self, features: int = 32, depth: int = 8, noise_channel: bool = True, *, he_init: bool = False
    ) -> None:
        super().__init__()
        if int(features) < 1 or int(depth) < 2:
            raise ParameterError(f"DnCNN needs features ≥ 1 and depth ≥ 2, got {features}, {depth}")
        self.features, self.depth, self.noise_channel = int(features), int(depth), bool(noise_channel)
        layers: list[nn.Module] = [nn.Conv2d(3 if noise_channel else 2, self.features, 3, padding=1)]
        for _ in range(self.depth - 2):
            layers += [nn.ReLU(inplace=True), nn.Conv2d(self.features, self.features, 3, padding=1)]
        layers += [nn.ReLU(inplace=True), nn.Conv2d(self.features, 2, 3, padding=1)]
        self.body = nn.Sequential(*layers)
        last = self.body[-1]
        assert isinstance(last, nn.Conv2d)
        with torch.no_grad():  # starts close to the identity D(x) = x
            if he_init:
                for conv in list(self.body)[:-1]:
                    if isinstance(conv, nn.Conv2d):
                        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                        assert conv.bias is not None
                        conv.bias.zero_()
            last.weight.mul_(0.1)
            if last.bias is not None:
                last.bias.zero_()

    @property
    def architecture(self) -> dict[str, Any]:
        """Constructor arguments and the kind, as stored in a weights file."""
        return {
            "kind": self.kind,
            "features": self.features,
            "depth": self.depth,
            "noise_channel": self.noise_channel,
        }

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float | None = None) -> torch.Tensor:
        """Denoise.

        Parameters
        ----------
        x
            complex64 ``(B, y, x)``, scaled as the network expects (see
            :mod:`recon_engine.learned.denoiser`).
        sigma
            Noise level per image ``(B,)`` or a scalar (same units as ``x``); needed with a
            noise channel, ignored without.

        Returns
        -------
        torch.Tensor
            complex64 ``(B, y, x)``.
        """
        ch = complex_to_channels(x)
        if self.noise_channel:
            if sigma is None:
                raise ParameterError("this denoiser takes a noise level sigma")
            s = torch.as_tensor(sigma, dtype=ch.dtype, device=ch.device).reshape(-1, 1, 1, 1)
            ch_in = torch.cat([ch, s.expand(ch.shape[0], 1, *ch.shape[2:])], dim=1)
        else:
            ch_in = ch
        return channels_to_complex(ch - self.body(ch_in))


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
