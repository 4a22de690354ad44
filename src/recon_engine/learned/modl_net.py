"""MoDL: a shared-weight CNN alternating with conjugate-gradient data consistency.

``x₀`` is a few CG-SENSE iterations; each of ``K`` unrolls applies the CNN denoiser
``z_k = D_w(x_k)`` (:class:`~recon_engine.learned.networks.DnCNN`, no noise channel) and solves
the data-consistency problem

    ``x_{k+1} = argmin_x ‖A x − y‖² + λ‖x − z_k‖²``  ⇔  ``(AᴴA + λI) x = Aᴴy + λ z_k``

by ``cg_iterations`` CG steps started at ``z_k`` (differentiable: the CG coefficients are
tensors, so the gradient reaches ``λ`` and the CNN through every step). ``λ = exp(log_λ)`` is
learned. The encoding enters only through ``x ↦ AᴴA x`` and ``Aᴴy``, so one trained network
serves Cartesian, non-Cartesian (Toeplitz) and multi-coil SENSE problems alike.

Reference
---------
H. K. Aggarwal, M. P. Mani, M. Jacob, "MoDL: model-based deep learning architecture for inverse
problems", IEEE Trans. Med. Imaging 38:394–405 (2019), doi:10.1109/TMI.2018.2865356.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from recon_engine.errors import ParameterError
from recon_engine.learned.networks import DnCNN

__all__ = ["MoDLNet", "batched_cg"]

Normal = Callable[[torch.Tensor], torch.Tensor]


def _dot(a: torch.Tensor, b: torch.Tensor, per_sample: bool) -> torch.Tensor:
    """``Re⟨a, b⟩`` per leading index ``(B, 1, 1)`` or over everything (a 0-d tensor)."""
    prod = (a.conj() * b).real
    return prod.sum(dim=(-2, -1), keepdim=True) if per_sample else prod.sum()


def batched_cg(
    normal: Normal,
    rhs: torch.Tensor,
    x0: torch.Tensor,
    iterations: int,
    *,
    per_sample: bool = True,
) -> torch.Tensor:
    """Differentiable CG for ``H x = b`` from ``x0``, a fixed number of steps.

    Parameters
    ----------
    normal
        ``x ↦ H x`` on complex ``(B, y, x)``, Hermitian positive definite.
    rhs, x0
        complex ``(B, y, x)``.
    iterations
        CG steps (≥ 0).
    per_sample
        Every leading index is its own problem (training batches); False: the whole tensor is
        one system (slices of a volume or map sets coupled by ``H``).
    """
    x = x0
    r = rhs - normal(x)
    p = r
    rr = _dot(r, r, per_sample)
    tiny = torch.finfo(rr.dtype).tiny
    for _ in range(int(iterations)):
        hp = normal(p)
        alpha = rr / _dot(p, hp, per_sample).clamp_min(tiny)
        x = x + alpha * p
        r = r - alpha * hp
        rr_new = _dot(r, r, per_sample)
        p = r + (rr_new / rr.clamp_min(tiny)) * p
        rr = rr_new
    return x


class MoDLNet(nn.Module):
    """The MoDL unrolled network.

    Parameters
    ----------
    features, depth
        Of the DnCNN regulariser (no noise channel).
    unrolls
        ``K``, denoiser + data-consistency blocks (shared weights; ≥ 1).
    cg_iterations
        CG steps of each data-consistency block (≥ 1).
    initial_lambda
        Starting value of the learned ``λ`` (> 0, in units of ``‖AᴴA‖`` ≈ 1).
    """

    kind = "modl"

    def __init__(
        self,
        features: int = 32,
        depth: int = 5,
        unrolls: int = 5,
        cg_iterations: int = 8,
        initial_lambda: float = 0.05,
    ) -> None:
        super().__init__()
        if int(unrolls) < 1 or int(cg_iterations) < 1 or not initial_lambda > 0:
            raise ParameterError(
                f"MoDL needs unrolls ≥ 1, cg_iterations ≥ 1 and λ > 0, got {unrolls}, {cg_iterations}, "
                f"{initial_lambda}"
            )
        self.denoiser = DnCNN(features, depth, noise_channel=False)
        self.unrolls, self.cg_iterations = int(unrolls), int(cg_iterations)
        self.initial_lambda = float(initial_lambda)
        self.log_lambda = nn.Parameter(torch.tensor(math.log(initial_lambda), dtype=torch.float32))

    @classmethod
    def from_denoiser(
        cls,
        denoiser: DnCNN,
        sigma: float,
        *,
        unrolls: int = 5,
        cg_iterations: int = 8,
        initial_lambda: float = 0.1,
    ) -> MoDLNet:
        """A MoDL network whose regulariser is a noise-conditional denoiser frozen at ``sigma``.

        The noise channel of ``denoiser`` (constant ``σ``) is folded into the bias of its first
        convolution (exact away from the image border, where the zero padding of the constant
        channel differs), so the regulariser starts as ``D_σ`` and the network as ``unrolls``
        iterations of plug-and-play HQS: the start of MoDL's fine-tuning in
        ``scripts/train_shipped_models.py``.

        Parameters
        ----------
        denoiser
            A :class:`DnCNN` with a noise channel.
        sigma
            Noise level to freeze (scaled units, see :mod:`recon_engine.learned.denoiser`), > 0.
        unrolls, cg_iterations, initial_lambda
            As for the constructor.
        """
        if not denoiser.noise_channel:
            raise ParameterError("MoDLNet.from_denoiser needs a denoiser with a noise channel")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ParameterError(f"sigma must be a finite number > 0, got {sigma!r}")
        net = cls(denoiser.features, denoiser.depth, unrolls, cg_iterations, initial_lambda)
        state = {k: v.detach().clone() for k, v in denoiser.state_dict().items()}
        w = state["body.0.weight"]
        state["body.0.bias"] = state["body.0.bias"] + float(sigma) * w[:, 2].sum(dim=(1, 2))
        state["body.0.weight"] = w[:, :2].contiguous()
        net.denoiser.load_state_dict(state)
        return net

    @property
    def architecture(self) -> dict[str, Any]:
        """Constructor arguments and the kind, as stored in a weights file."""
        return {
            "kind": self.kind,
            "features": self.denoiser.features,
            "depth": self.denoiser.depth,
            "unrolls": self.unrolls,
            "cg_iterations": self.cg_iterations,
            "initial_lambda": self.initial_lambda,
        }

    @property
    def lam(self) -> torch.Tensor:
        """The learned ``λ``."""
        return self.log_lambda.exp()

    def forward(
        self,
        normal: Normal,
        rhs: torch.Tensor,
        x0: torch.Tensor,
        *,
        per_sample: bool = True,
        callback: Callable[[int, torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Run the ``K`` unrolls.

        Parameters
        ----------
        normal
            ``x ↦ AᴴA x`` on complex ``(B, y, x)``.
        rhs
            ``Aᴴy`` complex ``(B, y, x)``.
        x0
            Starting image complex ``(B, y, x)`` (e.g. a few CG-SENSE iterations).
        per_sample
            See :func:`batched_cg`.
        callback
            Called with ``(k, x_k)`` after every unroll (previews).

        Returns
        -------
        torch.Tensor
            complex ``(B, y, x)``.
        """
        lam = self.lam.to(rhs.device)

        def dc_normal(v: torch.Tensor) -> torch.Tensor:
            return normal(v) + lam * v

        x = x0
        for k in range(self.unrolls):
            z = self.denoiser(x)
            x = batched_cg(dc_normal, rhs + lam * z, z, self.cg_iterations, per_sample=per_sample)
            if callback is not None:
                callback(k + 1, x)
        return x
