"""Forward finite differences along chosen axes (the ``∇`` of total variation).

``(D_a x)[i] = x[i+1] − x[i]`` along axis ``a`` for ``i < n − 1`` and 0 at the last index
(Neumann boundary: no jump across the FOV edge). The directions are stacked on a new
leading axis. The adjoint is minus the divergence:
``(D_aᴴ p)[i] = p[i−1] − p[i]`` with ``p[−1] = p[n−1] = 0``. ``‖D_a‖² < 4``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from recon_engine.errors import ParameterError
from recon_engine.operators.base import LinearOperator

__all__ = ["FiniteDifferenceOp"]


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
        # written into one zero-filled output through views (no torch.diff + pad + stack:
        # 4-5x faster, 0.2 vs 0.75 ms for 2 x 256² complex on this CPU; autograd still works)
        out = x.new_zeros((len(self.dims), *x.shape))
        for i, (d, w) in enumerate(zip(self.dims, self.weights, strict=True)):
            n = x.shape[d]
            if n < 2:
                continue
            diff = x.narrow(d, 1, n - 1) - x.narrow(d, 0, n - 1)
            out[i].narrow(d, 0, n - 1).copy_(diff if w == 1.0 else w * diff)
        return out

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
            out.narrow(d, 1, n - 1).add_(q, alpha=w)
            out.narrow(d, 0, n - 1).sub_(q, alpha=w)
        return out
