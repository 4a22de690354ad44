"""Centred, orthonormal FFT over the last one to three axes.

k-space ``(*, k2, k1, k0)`` ↔ image ``(*, z, y, x)``; the k-space centre (DC) and the
image centre (FOV centre) are both at index ``N // 2``.
"""

from __future__ import annotations

import torch

from recon_engine.operators.base import LinearOperator

__all__ = ["FFTOp", "centered_fft", "centered_ifft"]


def _dims(ndim: int) -> tuple[int, ...]:
    if ndim not in (1, 2, 3):
        raise ValueError(f"FFT dimensionality must be 1, 2 or 3, got {ndim}")
    return tuple(range(-ndim, 0))


def centered_ifft(k: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """k-space → image: ``fftshift(ifftn(ifftshift(k)))`` over the last ``ndim`` axes (ortho)."""
    d = _dims(ndim)
    return torch.fft.fftshift(torch.fft.ifftn(torch.fft.ifftshift(k, dim=d), dim=d, norm="ortho"), dim=d)


def centered_fft(x: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Image → k-space: ``fftshift(fftn(ifftshift(x)))`` over the last ``ndim`` axes (ortho)."""
    d = _dims(ndim)
    return torch.fft.fftshift(torch.fft.fftn(torch.fft.ifftshift(x, dim=d), dim=d, norm="ortho"), dim=d)


class FFTOp(LinearOperator):
    """Image → k-space Fourier transform (centred, orthonormal, so ``Aᴴ = A⁻¹``).

    Parameters
    ----------
    ndim
        Number of trailing axes transformed: 2 for ``(y, x)``, 3 for ``(z, y, x)``.
    """

    def __init__(self, ndim: int = 2) -> None:
        _dims(ndim)
        self.ndim = ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``(*, [z,] y, x)`` → k-space ``(*, [k2,] k1, k0)``."""
        return centered_fft(x, self.ndim)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """k-space → image."""
        return centered_ifft(y, self.ndim)
