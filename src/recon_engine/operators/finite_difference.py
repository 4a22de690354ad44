"""Forward finite differences along chosen axes (the ``∇`` of total variation).

``(D_a x)[i] = x[i+1] − x[i]`` along axis ``a`` for ``i < n − 1`` and 0 at the last index
(Neumann boundary: no jump across the FOV edge). The directions are stacked on a new
leading axis. The adjoint is minus the divergence:
``(D_aᴴ p)[i] = p[i−1] − p[i]`` with ``p[−1] = p[n−1] = 0``. ``‖D_a‖² < 4``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from recon_engine.errors import ParameterError
from recon_engine.operators.base import LinearOperator

__all__ = ["FiniteDifferenceOp"]


def _pad_axis(x: torch.Tensor, axis: int, before: int, after: int) -> torch.Tensor:
    moved = x.movedim(axis, -1)
    return F.pad(moved, (before, after)).movedim(-1, axis)


class FiniteDifferenceOp(LinearOperator):
    """Forward differences along ``dims``, stacked on a new leading axis.

    Parameters
    ----------
    dims
        Axes of the input to difference, e.g. ``(-2, -1)`` for ``(y, x)`` of images
        ``(*, z, y, x)``, ``(-3, -2, -1)`` in 3D, or ``(0,)`` along frames of
        ``(frames, n_maps, z, y, x)``. Negative axes count from the end of the input.
    weights
        Optional scale per axis (e.g. voxel size ratios); default 1.

    Notes
    -----
    Shapes: forward ``shape`` → ``(len(dims), *shape)``; the adjoint goes back. Axes of
    length 1 give zero differences.
    """

    def __init__(self, dims: Sequence[int] = (-2, -1), weights: Sequence[float] | None = None) -> None:
        self.dims = tuple(int(d) for d in dims)
        if not self.dims or len(set(self.dims)) != len(self.dims):
            raise ParameterError(f"finite differences need distinct axes, got {tuple(dims)}")
        w = [1.0] * len(self.dims) if weights is None else [float(v) for v in weights]
        if len(w) != len(self.dims):
            raise ParameterError(f"{len(w)} weights for {len(self.dims)} difference axes")
        self.weights = tuple(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` → ``(len(dims), *x.shape)`` forward differences."""
        out = []
        for d, w in zip(self.dims, self.weights, strict=True):
            diff = torch.diff(x, dim=d) if x.shape[d] > 1 else x.narrow(d, 0, 0)
            out.append(w * _pad_axis(diff, d, 0, 1))
        return torch.stack(out)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``(len(dims), *shape)`` → ``shape``: ``−div``."""
        if y.shape[0] != len(self.dims):
            raise ParameterError(
                f"finite-difference adjoint needs {len(self.dims)} directions on axis 0, got {y.shape[0]}"
            )
        out = torch.zeros_like(y[0])
        for i, (d, w) in enumerate(zip(self.dims, self.weights, strict=True)):
            p = y[i]
            n = p.shape[d]
            if n < 2:
                continue
            q = p.narrow(d, 0, n - 1)
            out = out + w * (_pad_axis(q, d, 1, 0) - _pad_axis(q, d, 0, 1))
        return out
