"""Non-Cartesian subspace encoding: ``A = √W · NUFFT_t · S · U`` over coefficient images.

For dynamic or multi-contrast non-Cartesian data with one readout set per frame ``t`` (e.g. MR
fingerprinting, one spoke or interleave per frame) and a temporal basis ``U (n, K)``, the image
series is ``x_t = Σ_k U_tk α_k`` and the data of frame ``t`` are ``y_t = NUFFT_t S x_t``. With
sample weights ``W`` (density compensation, or 1 for plain least squares) the operator on the
coefficient images ``α (K, y, x)`` is

    ``(A α)_t = √W_t NUFFT_t S Σ_k U_tk α_k``,   ``(Aᴴ d)_k = Σ_t conj(U_tk) Sᴴ NUFFT_tᴴ √W_t d_t``.

Both run as *one* NUFFT over the samples of all frames (batch ``K × coils``): the basis enters as
a per-sample factor, so the plans are made once and reused by every application.

The normal operator needs no NUFFT at all (Toeplitz embedding with a subspace, Mani et al. 2015,
Tamir et al. 2017): ``(AᴴA α)_k = Σ_k' Sᴴ T_kk' S α_k'`` where ``T_kk'`` is the Toeplitz
operator of the point weights ``w_j conj(U_{t_j k}) U_{t_j k'}`` (``t_j`` the frame of sample
``j``); its ``K²`` kernels on the 2× grid are computed once (one type-1 NUFFT of ``K²``
weight vectors, as :class:`~recon_engine.operators.toeplitz.ToeplitzNormalOp` does for one), and
an application costs ``2·K·coils`` FFTs of the 2× grid plus ``K²`` kernel products per coil.

References
----------
M. Mani, M. Jacob, V. Magnotta, J. Zhong, "Fast iterative algorithm for the reconstruction of
multishot non-Cartesian diffusion data", Magn. Reson. Med. 74:1086–1094 (2015),
doi:10.1002/mrm.25486.
J. I. Tamir, M. Uecker, W. Chen, et al., "T2 shuffling: sharp, multicontrast, volumetric fast
spin-echo imaging", Magn. Reson. Med. 77:180–195 (2017), doi:10.1002/mrm.26102.
J. Assländer, M. A. Cloos, F. Knoll, D. K. Sodickson, J. Hennig, R. Lattanzi, "Low rank
alternating direction method of multipliers reconstruction for MR fingerprinting", Magn. Reson.
Med. 79:83–96 (2018), doi:10.1002/mrm.26639.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recon_engine.errors import DataError
from recon_engine.operators.nufft import DEFAULT_EPS, NUFFTOp

__all__ = ["SubspaceNUFFT"]


class SubspaceNUFFT:
    """The subspace encoding of one 2D slice with one readout set per frame.

    Parameters
    ----------
    trajectory
        float ``(n, P, 3)`` ``(kz, ky, kx)`` in cycles per FOV: the ``P`` samples of each of the
        ``n`` frames.
    image_shape
        ``(y, x)``.
    basis
        ``U``: real or complex ``(n, K)``.
    maps
        Coil maps complex ``(coils, y, x)``.
    weights
        Sample weights ``W`` ``(n, P)`` (≥ 0), or None for ``W = 1``.
    device
        Where the data and the operators live.
    eps
        NUFFT tolerance.

    Notes
    -----
    Shapes: coefficient images ``(K, y, x)``; data ``(n, coils, P)``. :attr:`plans_created`
    counts the NUFFT plans made (they are reused; the tests check it stays constant).
    """

    def __init__(
        self,
        trajectory: torch.Tensor | np.ndarray,
        image_shape: tuple[int, int],
        basis: torch.Tensor | np.ndarray,
        maps: torch.Tensor | np.ndarray,
        *,
        weights: torch.Tensor | np.ndarray | None = None,
        device: torch.device | str = "cpu",
        eps: float = DEFAULT_EPS,
    ) -> None:
        dev = torch.device(device)
        traj = torch.as_tensor(trajectory).to(torch.float32).cpu()
        u = torch.as_tensor(basis).to(dev, torch.complex64)
        s = torch.as_tensor(maps).to(dev, torch.complex64)
        if traj.ndim != 3 or traj.shape[-1] != 3:
            raise DataError(f"the trajectory must be (frames, samples, 3), got {tuple(traj.shape)}")
        n, p = int(traj.shape[0]), int(traj.shape[1])
        if u.ndim != 2 or u.shape[0] != n:
            raise DataError(f"the basis must be (frames = {n}, K), got {tuple(u.shape)}")
        shape = (int(image_shape[0]), int(image_shape[1]))
        if s.ndim != 3 or tuple(s.shape[-2:]) != shape:
            raise DataError(f"coil maps must be (coils, {shape[0]}, {shape[1]}), got {tuple(s.shape)}")
        if weights is None:
            w = torch.ones(n, p, device=dev)
        else:
            w = torch.as_tensor(weights).to(dev, torch.float32)
            if tuple(w.shape) != (n, p):
                raise DataError(f"the sample weights must be ({n}, {p}), got {tuple(w.shape)}")
            if bool((w < 0).any()) or not bool(torch.isfinite(w).all()):
                raise DataError("the sample weights must be finite and ≥ 0")
        self.device = dev
        self.shape = shape
        self.n_frames, self.n_samples, self.rank = n, p, int(u.shape[1])
        self.u = u
        self.maps = s
        self.maps_conj = s.conj().resolve_conj()
        self.weights = w
        self.root = w.sqrt().to(torch.complex64)
        flat = traj.reshape(-1, 3)
        self.nufft = NUFFTOp(flat, shape, device=dev, eps=eps)
        self._kernels = self._toeplitz_kernels(flat, eps)

    @property
    def n_coils(self) -> int:
        """Receive channels."""
        return int(self.maps.shape[0])

    @property
    def plans_created(self) -> int:
        """NUFFT plans made so far (forward/adjoint; the kernels' plan is not counted)."""
        return int(self.nufft.plans_created)

    def _toeplitz_kernels(self, flat: torch.Tensor, eps: float) -> torch.Tensor:
        """``K_kk' = F(T_kk')`` complex64 ``(K, K, 2y, 2x)`` (unshifted FFT order)."""
        big = (2 * self.shape[0], 2 * self.shape[1])
        op2 = NUFFTOp(2.0 * flat, big, device=self.device, eps=eps)
        k = self.rank
        pair = self.u.conj()[:, :, None] * self.u[:, None, :]  # (n, K, K)
        wts = (pair[..., None] * self.weights[:, None, None, :]).permute(1, 2, 0, 3)  # (K, K, n, P)
        wts = wts.reshape(k * k, self.n_frames * self.n_samples).contiguous()
        kern = op2.adjoint(wts) * math.sqrt(4.0 / (self.shape[0] * self.shape[1]))  # (K², 2y, 2x)
        kern[:, 0, :] = 0  # offset −N is never used; zero it to keep T Hermitian
        kern[:, :, 0] = 0
        spec = torch.fft.fft2(torch.fft.ifftshift(kern, dim=(-2, -1)))
        return spec.reshape(k, k, *big).to(torch.complex64)

    def _check(self, a: torch.Tensor) -> None:
        if tuple(a.shape) != (self.rank, *self.shape):
            raise DataError(
                f"coefficient images must be (K = {self.rank}, {self.shape[0]}, {self.shape[1]}), "
                f"got {tuple(a.shape)}"
            )

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """``A α``: ``(K, y, x)`` → weighted data ``(n, coils, P)``."""
        self._check(a)
        coil = self.maps[None] * a[:, None]  # (K, C, y, x)
        kk = self.nufft(coil.contiguous()).reshape(self.rank, self.n_coils, self.n_frames, self.n_samples)
        out = torch.einsum("tk,kctp->tcp", self.u, kk)
        return out * self.root[:, None, :]

    def adjoint(self, d: torch.Tensor) -> torch.Tensor:
        """``Aᴴ d``: weighted data ``(n, coils, P)`` → ``(K, y, x)``."""
        if tuple(d.shape) != (self.n_frames, self.n_coils, self.n_samples):
            raise DataError(
                f"data must be (frames = {self.n_frames}, coils = {self.n_coils}, samples = "
                f"{self.n_samples}), got {tuple(d.shape)}"
            )
        dw = d.to(torch.complex64) * self.root[:, None, :]
        z = torch.einsum("tk,tcp->kctp", self.u.conj(), dw).reshape(self.rank, self.n_coils, -1)
        img = self.nufft.adjoint(z.contiguous())  # (K, C, y, x)
        return (self.maps_conj[None] * img).sum(1)

    def normal(self, a: torch.Tensor) -> torch.Tensor:
        """``AᴴA α`` by the subspace Toeplitz embedding (no NUFFT): ``(K, y, x)`` → same."""
        self._check(a)
        ny, nx = self.shape
        coil = self.maps[None] * a.to(torch.complex64)[:, None]  # (K, C, y, x)
        padded = torch.nn.functional.pad(coil, (0, nx, 0, ny))
        spec = torch.fft.fft2(padded)  # (K, C, 2y, 2x)
        mixed = torch.zeros_like(spec)
        for k in range(self.rank):
            for j in range(self.rank):
                mixed[k].addcmul_(self._kernels[k, j], spec[j])
        back = torch.fft.ifft2(mixed)[..., :ny, :nx]
        return (self.maps_conj[None] * back).sum(1)

    def weigh(self, y: torch.Tensor) -> torch.Tensor:
        """``√W y`` for measured data ``(n, coils, P)`` (the data term is ``‖A α − √W y‖²``)."""
        return y.to(torch.complex64) * self.root[:, None, :]
