"""Cartesian sampling: keep the acquired k-space samples, zero the rest.

``M`` is a diagonal 0/1 matrix, so ``Mᴴ = M`` and ``MᴴM = M``; k-space keeps its shape
(unsampled positions are 0, as in :class:`~recon_engine.data.kspace.KSpace`).
"""

from __future__ import annotations

import torch

from recon_engine.errors import DataError
from recon_engine.operators.base import LinearOperator

__all__ = ["CartesianSamplingOp"]


class CartesianSamplingOp(LinearOperator):
    """Multiply k-space by a sampling mask.

    Parameters
    ----------
    mask
        bool (or 0/1) tensor broadcastable to the k-space ``(*, coils, k2, k1, k0)``, e.g.
        ``(k2, k1, 1)`` for a phase-encoding pattern with full readouts, or
        ``(frames, 1, k2, k1, 1)`` for a different pattern per frame.

    Notes
    -----
    Shapes: ``(*, coils, k2, k1, k0)`` → same.
    """

    def __init__(self, mask: torch.Tensor) -> None:
        self.mask = mask.to(torch.bool)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return x * self.mask
        except RuntimeError:
            raise DataError(
                f"sampling mask of shape {tuple(self.mask.shape)} does not broadcast to k-space "
                f"{tuple(x.shape)}"
            ) from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zero the unsampled positions of ``(*, coils, k2, k1, k0)``."""
        return self._apply(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward` (``M`` is a real diagonal projection)."""
        return self._apply(y)
