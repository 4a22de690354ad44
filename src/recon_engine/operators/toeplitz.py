"""Toeplitz embedding of the NUFFT normal operator ``AᴴWA`` (no NUFFT per iteration).

For the NUFFT ``A`` of :class:`~recon_engine.operators.nufft.NUFFTOp` (orthonormal scale
``s = 1/sqrt(N_pixels)``) and sample weights ``w``,

    ``(AᴴWA x)[r] = Σ_r' x[r'] · T[r - r']``,  ``T[d] = s² Σ_j w_j exp(2πi Σ_a k_ja d_a / N_a)``,

a convolution with a kernel on offsets ``|d_a| < N_a``. Embedded in a circulant matrix on
the 2× grid it becomes ``crop(F⁻¹(K · F(pad(x))))`` with ``K = F(T)``: two FFTs of the 2×
grid per application, exact up to the NUFFT tolerance of the kernel. ``T`` is computed
once as the adjoint NUFFT of ``w`` onto the 2× grid (trajectory in cycles per 2× FOV,
i.e. ``2k``). For real ``w`` the kernel is Hermitian and ``K`` is real.

References
----------
J. A. Fessler, S. Lee, V. T. Olafsson, H. R. Shi, D. C. Noll, "Toeplitz-based iterative
image reconstruction for MRI with correction for magnetic field inhomogeneity", IEEE
Trans. Signal Process. 53:3393–3402 (2005), doi:10.1109/TSP.2005.853152.
F. T. A. W. Wajer and K. P. Pruessmann, "Major speedup of reconstruction for sensitivity
encoding with arbitrary trajectories", Proc. ISMRM 9:767 (2001).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from recon_engine.errors import ParameterError
from recon_engine.operators.base import LinearOperator
from recon_engine.operators.nufft import DEFAULT_EPS, NUFFTOp

__all__ = ["ToeplitzNormalOp"]


class ToeplitzNormalOp(LinearOperator):
    """``AᴴWA`` of a NUFFT through 2× oversampled FFTs.

    Parameters
    ----------
    trajectory
        float32 ``(*sets, n_points, 3)``, ``(kz, ky, kx)`` in cycles per FOV (as for
        :class:`~recon_engine.operators.nufft.NUFFTOp`).
    image_shape
        ``(y, x)`` or ``(z, y, x)``.
    weights
        Sample weights ``W`` (e.g. density compensation), real or complex, broadcastable to
        ``(*sets, n_points)``; ``None`` for ``W = I`` (the plain normal operator ``AᴴA``).
    device
        Device of the kernel and the data (default: the trajectory's).
    eps
        NUFFT tolerance of the kernel computation.

    Notes
    -----
    Shapes: ``(*sets, *batch, [z,] y, x)`` → same. Memory: one kernel of ``2^d · N_pixels``
    complex64 values per point set.
    """

    def __init__(
        self,
        trajectory: np.ndarray | torch.Tensor,
        image_shape: Sequence[int],
        *,
        weights: np.ndarray | torch.Tensor | None = None,
        device: torch.device | str | None = None,
        eps: float = DEFAULT_EPS,
    ) -> None:
        traj = torch.as_tensor(trajectory)
        self.image_shape = tuple(int(n) for n in image_shape)
        nd = len(self.image_shape)
        if nd not in (2, 3):
            raise ParameterError(f"Toeplitz image shape must be (y, x) or (z, y, x), got {image_shape!r}")
        self.device = torch.device(device) if device is not None else traj.device
        big = tuple(2 * n for n in self.image_shape)
        op2 = NUFFTOp(2.0 * traj.to(torch.float32), big, device=self.device, eps=eps)
        self.set_shape = op2.set_shape
        if weights is None:
            w = torch.ones(*self.set_shape, 1, op2.n_points, dtype=torch.complex64, device=self.device)
        else:
            wt = torch.as_tensor(weights).to(self.device, torch.complex64)
            try:
                wt = torch.broadcast_to(wt, (*self.set_shape, op2.n_points))
            except RuntimeError as exc:
                raise ParameterError(
                    f"weights of shape {tuple(wt.shape)} do not broadcast to "
                    f"{(*self.set_shape, op2.n_points)}"
                ) from exc
            w = wt.unsqueeze(-2)
        real = bool((w.imag == 0).all())
        # T[d] on the centred 2× grid: s_N² Σ w exp(iω d) = adjoint₂ₓ(w) · s_N² / s_2N
        kern = op2.adjoint(w.contiguous()).squeeze(-nd - 1) * math.sqrt(2**nd / math.prod(self.image_shape))
        for a in range(-nd, 0):  # offset -N is never used; zero it to keep T Hermitian
            kern.select(a, 0).zero_()
        dims = tuple(range(-nd, 0))
        spec = torch.fft.fftn(torch.fft.ifftshift(kern, dim=dims), dim=dims)
        # complex64 even when real: a real × complex product converts the real factor on every
        # call (3.0 vs 0.5 ms for two 512² grids on this CPU)
        self._kernel = spec.real.to(torch.complex64) if real else spec
        self._hermitian = real

    @property
    def kernel(self) -> torch.Tensor:
        """complex64 ``K = F(T)`` on the 2× grid, ``(*sets, [2z,] 2y, 2x)`` (unshifted FFT order).

        Real-valued for real weights (the operator is then Hermitian, see :attr:`hermitian`).
        """
        return self._kernel

    @property
    def hermitian(self) -> bool:
        """True when ``K`` is real: :meth:`adjoint` is :meth:`forward`."""
        return self._hermitian

    def _convolve(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        nd = len(self.image_shape)
        ns = len(self.set_shape)
        if tuple(x.shape[-nd:]) != self.image_shape or tuple(x.shape[:ns]) != self.set_shape:
            raise ParameterError(
                f"Toeplitz input of shape {tuple(x.shape)} does not match (*{self.set_shape}, *batch, "
                f"*{self.image_shape})"
            )
        dims = tuple(range(-nd, 0))
        pad: list[int] = []
        for n in reversed(self.image_shape):
            pad += [0, n]
        xp = torch.nn.functional.pad(x.to(torch.complex64), pad)
        k = kernel.reshape(*self.set_shape, *([1] * (x.ndim - ns - nd)), *kernel.shape[-nd:])
        y = torch.fft.ifftn(torch.fft.fftn(xp, dim=dims) * k, dim=dims)
        return y[(..., *(slice(0, n) for n in self.image_shape))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``AᴴWA x`` for ``x`` ``(*sets, *batch, [z,] y, x)``."""
        return self._convolve(x, self._kernel)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``AᴴWᴴA y`` (the same as :meth:`forward` for real weights)."""
        return self._convolve(y, self._kernel if self._hermitian else self._kernel.conj())
