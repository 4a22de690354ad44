"""Largest eigenpairs of ESPIRiT's per-voxel matrices ``G(r)`` (private to :mod:`.espirit`).

``G(r) = Σ_d C_d exp(2πi d·r/N)`` is a trigonometric polynomial with ``M = 2k - 1`` Fourier
coefficients per axis (``C`` from :func:`recon_engine.calibration.espirit._coefficients`), so
it can be evaluated at any point ``r``, on or off the image grid, by separable DFTs.

Two eigen-solvers share that evaluation:

- :func:`exact_eigen`: a batched Hermitian ``eigh`` at every voxel (LAPACK ``cheevd`` per
  ``coils × coils`` matrix; ~85 % of the run time of a 256² map before the coarse path).
- :func:`coarse_eigen`: ``eigh`` on a coarse grid of ``4 M`` points per axis (44² instead of
  256² for ``k = 6``; 3 or 2 where that is not 4× smaller than the image, see
  :func:`coarse_shape`). The coarse eigenvectors, as the weighted projector applied to
  reference coil weights ``W`` (``u = Σ_i λ_i v_i (v_iᴴ W)``; one set: ``λ v (vᴴ w)``, the
  eigenvector with its phase referenced to ``w``; it does not depend on how ``eigh`` splits a
  near-degenerate pair), a smooth field where the object is, are brought to the image grid by
  periodic cubic (Catmull–Rom) interpolation (``G`` is periodic in ``r``). There ``λ(r)`` is
  their Rayleigh quotient with ``G(r)`` (two sets: Rayleigh–Ritz in their span) and the map
  is one power step from them (two sets: the Ritz vectors). Voxels whose residual
  ``‖G v − λ v‖`` is above :data:`_TOLERANCE` (slow convergence where ``λ₂ ≈ λ₁``, edges
  where the interpolation mixes the object and the background), or whose ``λ`` is well below
  the interpolated coarse eigenvalue (a start without the dominant component), and whose
  eigenvalue may reach ``crop``, get the exact ``eigh``: where the result is kept it is an
  eigenvector to within the tolerance. On P1 of the benchmark (256², 16 coils, 6-sample
  kernel) that is 1,936 coarse and 1,809 fallback ``eigh`` instead of 65,536, all the
  fallbacks in the background, where ``λ₂/λ₁`` is 0.7–0.998.

Tried and left: 6 points per coefficient (more coarse ``eigh`` than the fallbacks it saves),
one or two power steps before the Rayleigh quotient (1,621 and 1,514 fallbacks on P1: too
few saved to pay for a full-resolution ``G v`` each), inverse iteration from ``eigvalsh`` on
the coarse grid (~25 % faster than ``eigh`` there, a small part of the total),
real-arithmetic evaluation of ``G`` (no faster than the complex GEMM), ``G`` of the whole
image at once (a 134 MB array, fresh pages to fault in on every call: the row blocks of
:data:`_BLOCK_VALUES` take ~half the time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["coarse_eigen", "coarse_shape", "exact_eigen"]

_CHUNK = 16384  # voxels per batched eigh (cuSOLVER rejects much larger batches)
_BLOCK_VALUES = 1 << 20  # complex values of G per row block (8 MB: reused by the allocator)
_BLOCK_VALUES_CUDA = 1 << 24  # on a GPU (caching allocator): fewer, larger kernels
_POINTS_PER_COEFFICIENT = (4, 3, 2)  # coarse grid points per axis per Fourier coefficient of G
_COARSE_GAIN = 4  # the coarse grid must have ≥ 4× fewer voxels than the image
_TOLERANCE = 1e-3  # residual ‖G v − λ v‖ above which a voxel gets the exact eigh
_CROP_MARGIN = 0.1  # voxels with λ < crop − margin are cropped without the exact eigh
_EIGENVALUE_DROP = 0.05  # λ this far below the interpolated coarse one: wrong eigenvector?


def dft_matrix(positions: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """``E[p, i] = exp(2πi d_i (x_p - n // 2) / n)``, ``d_i = i`` or ``i - m`` (index ``d mod m``).

    Parameters
    ----------
    positions
        float64 ``(P,)`` voxel coordinates ``x`` in units of the grid spacing (integers on the
        image grid, any value in between).
    n, m
        Image grid size and number of Fourier coefficients along the axis.

    Returns
    -------
    torch.Tensor
        complex64 ``(P, m)``.
    """
    idx = torch.arange(m, device=positions.device, dtype=torch.float64)
    d = torch.where(idx <= (m - 1) / 2, idx, idx - m)
    rho = positions.to(torch.float64) - n // 2
    return torch.exp(2j * math.pi * rho[:, None] * d[None, :] / n).to(torch.complex64)


def _grid_dft(n: int, m: int, points: int, device: torch.device) -> torch.Tensor:
    """:func:`dft_matrix` at ``points`` equally spaced positions ``j n / points`` of an ``n`` grid."""
    pos = torch.arange(points, device=device, dtype=torch.float64) * (n / points)
    return dft_matrix(pos, n, m)


class _Grid:
    """``G`` on a ``points`` grid of the image ``zyx``, evaluated in row blocks.

    ``C (c, c, M2, M1, M0)`` is summed along ``x`` once (and along ``y`` in 3D, ``M2 > 1``);
    each block is then one small GEMM: ``(rows, M1) @ (M1, x·c·c)`` (``M2 = 1``) or
    ``(M2,) @ (rows, M2, x·c·c)``.
    """

    def __init__(self, coeff: torch.Tensor, zyx: Sequence[int], points: Sequence[int]) -> None:
        c, _, m2, m1, m0 = coeff.shape
        dev = coeff.device
        self.c, self.shape = c, tuple(int(p) for p in points)
        self.ez, self.ey, ex = (
            _grid_dft(int(n), int(m), int(p), dev)
            for n, m, p in zip(zyx, coeff.shape[2:], points, strict=True)
        )
        t = coeff.reshape(-1, m0) @ ex.T  # (a b f g, x)
        t = t.reshape(c, c, m2, m1, -1).permute(2, 3, 4, 0, 1).reshape(m2, m1, -1)  # (f, g, x a b)
        self.part = t[0] if m2 == 1 else torch.einsum("yg,fgr->yfr", self.ey, t)
        self.size = math.prod(self.shape)
        self.budget = _BLOCK_VALUES if dev.type == "cpu" else _BLOCK_VALUES_CUDA

    def blocks(self, per_voxel: int) -> list[tuple[slice, int, int, int]]:
        """``(voxels, z, y0, y1)`` of row blocks, C order, ~:data:`_BLOCK_VALUES` values of ``G`` each."""
        nz, ny, nx = self.shape
        rows = max(1, self.budget // (nx * per_voxel))
        out = []
        for z in range(nz):
            for y in range(0, ny, rows):
                y1 = min(y + rows, ny)
                out.append((slice((z * ny + y) * nx, (z * ny + y1) * nx), z, y, y1))
        return out

    def g(self, z: int, y0: int, y1: int) -> torch.Tensor:
        """``G`` on rows ``y0 … y1 - 1`` of plane ``z``: ``(rows · x, c, c)``."""
        if self.part.ndim == 2:
            block = self.ey[y0:y1] @ self.part
        else:
            block = torch.matmul(self.ez[z].reshape(1, 1, -1), self.part[y0:y1])
        return block.reshape(-1, self.c, self.c)


def _eigh_top(g: torch.Tensor, n_maps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest ``n_maps`` eigenpairs of Hermitian ``(V, c, c)``: values ``(V, n)``, vectors ``(V, c, n)``."""
    vals, vecs = [], []
    for start in range(0, g.shape[0], _CHUNK):
        chunk = g[start : start + _CHUNK]
        w, v = torch.linalg.eigh((chunk + chunk.conj().transpose(-1, -2)) / 2)
        vals.append(w[:, -n_maps:].flip(-1))
        vecs.append(v[:, :, -n_maps:].flip(-1))
    return torch.cat(vals), torch.cat(vecs)


def exact_eigen(
    coeff: torch.Tensor, zyx: Sequence[int], n_maps: int, points: Sequence[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest ``n_maps`` eigenpairs of ``G(r)`` at every voxel by a batched ``eigh``.

    Parameters
    ----------
    coeff
        complex64 ``(c, c, M2, M1, M0)`` Fourier coefficients of ``G``.
    zyx
        Image grid ``(z, y, x)``.
    n_maps
        Number of eigenpairs.
    points
        Evaluate on this many equally spaced points per axis instead (``j n / points``).

    Returns
    -------
    tuple of torch.Tensor
        Values ``(n_maps, V)`` (descending) and vectors ``(n_maps, c, V)``, ``V`` the voxels
        of the grid in C order.
    """
    grid = _Grid(coeff, zyx, zyx if points is None else points)
    c = grid.c
    vals = torch.empty((grid.size, n_maps), dtype=torch.float32, device=coeff.device)
    vecs = torch.empty((grid.size, c, n_maps), dtype=torch.complex64, device=coeff.device)
    for voxels, z, y0, y1 in grid.blocks(c * c):
        vals[voxels], vecs[voxels] = _eigh_top(grid.g(z, y0, y1), n_maps)
    return vals.T, vecs.permute(2, 1, 0)


def coarse_shape(zyx: Sequence[int], m: Sequence[int]) -> tuple[int, ...] | None:
    """Coarse grid of :func:`coarse_eigen`, ``None`` where the image is too small for one.

    ``min(n, p M)`` points per axis with the largest ``p`` of :data:`_POINTS_PER_COEFFICIENT`
    that leaves :data:`_COARSE_GAIN` × fewer voxels than the image (fewer points per
    coefficient interpolate less well: more voxels need the exact fallback; P1: 4 → 3,557
    ``eigh`` in all, 3 → 3,896, 2 → 6,254; a 64³ 8-coil image takes 3: 33³).
    """
    for p in _POINTS_PER_COEFFICIENT:
        shape = tuple(min(int(n), p * int(k)) for n, k in zip(zyx, m, strict=True))
        if _COARSE_GAIN * math.prod(shape) <= math.prod(zyx):
            return shape
    return None


def _interpolation_matrix(n: int, m: int, device: torch.device) -> torch.Tensor:
    """Periodic Catmull–Rom weights ``(n, m)`` from samples at ``j n / m`` to the points ``0 … n-1``."""
    x = torch.arange(n, device=device, dtype=torch.float64) * (m / n)
    i0 = torch.floor(x)
    t = x - i0
    weights = (
        ((-0.5 * t + 1.0) * t - 0.5) * t,
        (1.5 * t - 2.5) * t * t + 1.0,
        ((-1.5 * t + 2.0) * t + 0.5) * t,
        (0.5 * t - 0.5) * t * t,
    )
    out = torch.zeros((n, m), device=device, dtype=torch.float64)
    rows = torch.arange(n, device=device)
    for offset, w in zip((-1, 0, 1, 2), weights, strict=True):
        out.index_put_((rows, (i0.long() + offset) % m), w, accumulate=True)
    return out.to(torch.complex64)


def _norm(v: torch.Tensor) -> torch.Tensor:
    """``‖v‖`` over the coils of complex ``(V, c, n)`` as ``(V, 1, n)`` (real arithmetic: faster)."""
    return torch.view_as_real(v).square().sum((1, 3)).sqrt()[:, None]


def _refine(g: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rayleigh–Ritz of ``G`` in the span of ``x (V, c, n)`` (power steps before it did not pay).

    Returns Ritz values ``(V, n)`` (descending), residual norms ``‖G y − θ y‖`` ``(V, n)`` and
    unit Ritz vectors ``(V, c, n)`` (``n = 1``: one power step, free: ``G y`` is known).
    """
    tiny = torch.finfo(torch.float32).tiny
    q = x / _norm(x).clamp_min(tiny) if x.shape[-1] == 1 else torch.linalg.qr(x)[0]
    gq = g @ q
    h = q.mH @ gq  # (V, n, n)
    if x.shape[-1] == 1:
        lam, y, gy = h[:, 0].real, q, gq
    else:
        lam, s = torch.linalg.eigh((h + h.mH) / 2)
        lam, s = lam.flip(-1), s.flip(-1)
        y, gy = q @ s, gq @ s
    res = _norm(gy - y * lam[:, None, :].to(y.dtype))[:, 0]
    if x.shape[-1] == 1:
        y = gy / _norm(gy).clamp_min(tiny)
    return lam, res, y


def coarse_eigen(
    coeff: torch.Tensor, zyx: Sequence[int], reference: torch.Tensor, crop: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest ``n`` eigenpairs of ``G(r)`` at every voxel via a coarse grid (module docstring).

    Parameters
    ----------
    coeff
        complex64 ``(c, c, M2, M1, M0)`` Fourier coefficients of ``G``.
    zyx
        Image grid ``(z, y, x)``.
    reference
        complex ``(c, n)`` orthonormal coil weights: the start of the subspace iteration is the
        coarse grid's ``Σ_i λ_i v_i v_iᴴ`` applied to them, interpolated (``n = 1``:
        ``λ v (vᴴ w)``, the eigenvector with its phase referenced to ``w``).
    crop
        Eigenvalue threshold of the maps: voxels surely below it skip the exact fallback.

    Returns
    -------
    tuple of torch.Tensor
        Values ``(n, z·y·x)`` (descending) and unit vectors ``(n, c, z·y·x)``.
    """
    dev = coeff.device
    c, n_maps = coeff.shape[0], reference.shape[1]
    coarse = coarse_shape(zyx, coeff.shape[2:]) or tuple(int(n) for n in zyx)
    w, v = exact_eigen(coeff, zyx, n_maps, points=coarse)  # (n, Vc), (n, c, Vc)
    w, v = w.T, v.permute(2, 1, 0)
    u = (v * w[:, None, :].to(v.dtype)) @ (v.mH @ reference)  # (Vc, c, n)
    width = c * n_maps
    u = torch.cat([u.reshape(-1, width), w.to(u.dtype)], dim=1)  # the coarse λ rides along
    lz, ly, lx = (_interpolation_matrix(n, p, dev) for n, p in zip(zyx, coarse, strict=True))
    # (y, m2, x·(width + n)): the rows of a block are contiguous
    start_yx = torch.einsum("yg,fghc,xh->yfxc", ly, u.reshape(*coarse, -1), lx).reshape(zyx[1], coarse[0], -1)
    grid = _Grid(coeff, zyx, zyx)
    vals = torch.empty((grid.size, n_maps), dtype=torch.float32, device=dev)
    vecs = torch.empty((grid.size, c, n_maps), dtype=torch.complex64, device=dev)
    for voxels, z, y0, y1 in grid.blocks(c * c):
        g = grid.g(z, y0, y1)
        start = torch.matmul(lz[z].reshape(1, 1, -1), start_yx[y0:y1]).reshape(g.shape[0], -1)
        lam, res, vec = _refine(g, start[:, :width].reshape(-1, c, n_maps))
        # not converged, or converged to a smaller eigenvalue than the coarse grid's around it
        lam_coarse = start[:, width:].real
        suspect = (res > _TOLERANCE) | (lam <= 0) | (lam < lam_coarse - _EIGENVALUE_DROP)
        relevant = torch.maximum(lam, lam_coarse) >= crop - _CROP_MARGIN
        bad = torch.nonzero((suspect & relevant).any(dim=1))[:, 0]
        if bad.numel():
            lam[bad], vec[bad] = _eigh_top(g[bad], n_maps)
        vals[voxels], vecs[voxels] = lam, vec
    return vals.T, vecs.permute(2, 1, 0)
