"""SENSE g-factor maps: analytic (regular Cartesian undersampling) and pseudo-replica.

The g-factor is the noise amplification of a SENSE reconstruction beyond the ``√R`` of
fewer samples: ``SNR_R(ρ) = SNR_1(ρ) / (g(ρ) √R)``.

- Analytic (Pruessmann et al. 1999): with regular undersampling by ``R_y`` (and ``R_z``), each
  voxel folds onto ``R_y R_z`` others ``N/R`` apart. For the ``coils × (R_y R_z n_maps)``
  encoding ``E`` of one fold set (prewhitened maps), ``g_ρ = √([(EᴴE)⁻¹]_ρρ [EᴴE]_ρρ)``.
- Exact (any mask of whole phase-encoding lines, 1D acceleration): with the readout and ``z``
  fully sampled the normal matrix decouples into one ``(n_maps N_y) × (n_maps N_y)`` system per
  ``(z, x)`` column, ``[EᴴE]_{(m,y),(m',y')} = Σ_c s̄_{mc}(y) P_{yy'} s_{m'c}(y')`` with
  ``P = Fᴴ diag(mask) F``; the noise variance of the SENSE solution is ``[(EᴴE)⁻¹]_ρρ`` and
  ``g = √([(EᴴE)⁻¹]_ρρ) / (σ_1 √R)`` as below. Deterministic, covers random and variable-density
  lines and calibration blocks, and costs one batched inversion (no replicas).
- Pseudo-replica (Robson et al. 2008): reconstruct pure complex Gaussian noise (unit
  variance per sample after prewhitening, only at sampled positions) with CG-SENSE
  ``replicas`` times; ``σ_R(ρ)`` is the voxel's standard deviation (mean zero is known), and
  ``g = σ_R / (σ_1 √R)`` with ``σ_1² = [(SᴴS)⁻¹]_ρρ`` the exact fully sampled noise variance
  (only the accelerated reconstruction needs replicas) and ``R`` = encoded / sampled positions.
  Works for any mask; its statistical error is ≈ ``1/√(2·replicas)`` per voxel.

Both use the first map set's image (``n_maps`` > 1 sets enter the encoding) and return 0
where the maps vanish.

References
----------
K. P. Pruessmann, M. Weiger, M. B. Scheidegger, P. Boesiger, "SENSE: sensitivity encoding for
fast MRI", Magn. Reson. Med. 42:952–962 (1999),
doi:10.1002/(SICI)1522-2594(199911)42:5<952::AID-MRM16>3.0.CO;2-S.
P. M. Robson, A. K. Grant, A. J. Madhuranthakam, R. Lattanzi, D. K. Sodickson, C. A. McKenzie,
"Comprehensive quantification of signal-to-noise ratio and g-factor for image-based and
k-space-based parallel imaging reconstructions", Magn. Reson. Med. 60:895–907 (2008),
doi:10.1002/mrm.21728.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Literal

import numpy as np
import torch

from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.coils import SensitivityOp
from recon_engine.operators.fft import FFTOp
from recon_engine.operators.sampling import CartesianSamplingOp
from recon_engine.progress import ProgressEvent, Steps, relay, run
from recon_engine.solvers.cg import CGState, conjugate_gradient_steps

__all__ = ["GFACTOR_METHODS", "GFactorMethod", "gfactor_map", "gfactor_steps", "regular_acceleration"]

GFactorMethod = Literal["analytic", "exact", "pseudo_replica"]
GFACTOR_METHODS: tuple[str, ...] = ("analytic", "exact", "pseudo_replica")

#: Largest ``n_maps × N_y`` of the per-column systems the exact method inverts.
EXACT_MAX_UNKNOWNS = 1024
Sampling = int | tuple[int, int] | np.ndarray | torch.Tensor


def _tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor view of ``a`` (read-only numpy arrays, e.g. from ``broadcast_to``, are copied)."""
    if isinstance(a, np.ndarray) and not a.flags.writeable:
        a = a.copy()
    return torch.as_tensor(a)


def _as_maps(maps: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    t = _tensor(maps).to(device, torch.complex64)
    if t.ndim == 4:
        t = t.unsqueeze(0)
    if t.ndim != 5:
        raise DataError(f"coil maps must be (n_maps, coils, z, y, x), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(torch.view_as_real(t)).all()):
        raise DataError("coil maps contain NaN or infinite values")
    return t


def _whiten(maps: torch.Tensor, covariance: np.ndarray | torch.Tensor | None) -> torch.Tensor:
    """``L⁻¹ S`` along coils for ``Ψ = L Lᴴ`` (white noise afterwards)."""
    if covariance is None:
        return maps
    c = maps.shape[1]
    psi = _tensor(covariance).to(maps.device, torch.complex128)
    if psi.shape != (c, c):
        raise DataError(f"noise covariance must be ({c}, {c}) for {c} coils, got {tuple(psi.shape)}")
    try:
        chol = torch.linalg.cholesky(psi)
    except RuntimeError:
        raise ParameterError("noise covariance must be Hermitian positive definite") from None
    w = torch.linalg.inv(chol).to(torch.complex64)
    return torch.einsum("dc,mc...->md...", w, maps)


def _regular_factor(mask: torch.Tensor, axis: int) -> int:
    """The factor of a regular pattern along ``axis`` of a ``(k2, k1)`` mask, or raise."""
    line = mask.any(dim=1 - axis)
    idx = torch.nonzero(line).flatten().tolist()
    if not idx:
        raise DataError("the sampling mask samples nothing")
    r = int(np.gcd.reduce(np.diff(idx))) if len(idx) > 1 else line.numel()
    expected = torch.zeros_like(line)
    expected[idx[0] % r :: r] = True
    if not torch.equal(line, expected):
        raise ParameterError(
            "the analytic g-factor needs regular undersampling (every R-th line, no calibration "
            "block); use method='pseudo_replica' for this mask"
        )
    return r


def _mask_and_factors(
    sampling: Sampling, grid: tuple[int, int, int], device: torch.device
) -> tuple[torch.Tensor, tuple[int, int] | None]:
    """``(k2, k1)`` mask and the regular factors ``(R_z, R_y)`` (None when irregular)."""
    nz, ny = grid[0], grid[1]
    if isinstance(sampling, (np.ndarray, torch.Tensor)):
        m = _tensor(sampling).to(device, torch.bool)
        if m.ndim == 1:
            m = m.unsqueeze(0).expand(nz, -1)
        if tuple(m.shape) != (nz, ny):
            raise DataError(f"sampling mask must be (k2, k1) = ({nz}, {ny}), got {tuple(m.shape)}")
        try:
            rz, ry = _regular_factor(m, 0), _regular_factor(m, 1)
        except ParameterError:
            return m, None
        regular = torch.equal(m, m.any(dim=1)[:, None] & m.any(dim=0)[None, :])
        return m, ((rz, ry) if regular else None)
    ry, rz = (int(sampling), 1) if isinstance(sampling, (int, np.integer)) else map(int, sampling)
    if ry < 1 or rz < 1 or ry > ny or rz > nz:
        raise ParameterError(f"acceleration must be ≥ 1 and ≤ the matrix along y/z, got {sampling!r}")
    ky = (torch.arange(ny, device=device) - ny // 2) % ry == 0
    kz = (torch.arange(nz, device=device) - nz // 2) % rz == 0
    return kz[:, None] & ky[None, :], (rz, ry)


def regular_acceleration(mask: np.ndarray | torch.Tensor) -> int | None:
    """``R`` of a ``(k2, k1)`` mask that is every ``R``-th ``k1`` line plus a central calibration block.

    Every ``k2`` partition must be sampled alike (1D acceleration). The analytic g-factor of
    that ``R`` ignores the calibration lines, which only lower the noise (a conservative
    estimate, exact for the pure regular pattern). Returns None when the mask is not of
    that form (or not undersampled).
    """
    m = _tensor(mask).to("cpu", torch.bool)
    if m.ndim != 2 or not bool((m == m[:1]).all()):
        return None
    line = m[0].tolist()
    n = len(line)
    sampled = [i for i, v in enumerate(line) if v]
    for r in range(min(8, n), 1, -1):
        for offset in range(r):
            pattern = {i for i in range(offset, n, r)}
            if not pattern <= set(sampled):
                continue
            extra = sorted(set(sampled) - pattern)
            if not extra:
                return r
            lo, hi = extra[0], extra[-1]
            block = [i for i in range(lo, hi + 1) if line[i]] == list(range(lo, hi + 1))
            if block and lo <= n // 2 <= hi + 1:
                return r
    return None


def _analytic(maps: torch.Tensor, rz: int, ry: int) -> torch.Tensor:
    m, c, nz, ny, nx = maps.shape
    if ny % ry or nz % rz:
        raise ParameterError(
            f"the analytic g-factor needs the matrix ({nz}, {ny}) divisible by R = ({rz}, {ry}); "
            "use method='pseudo_replica'"
        )
    s = maps.reshape(m, c, rz, nz // rz, ry, ny // ry, nx)
    e = s.permute(3, 5, 6, 1, 2, 4, 0).reshape(-1, c, rz * ry * m).to(torch.complex128)
    gram = e.mH @ e
    inv = torch.linalg.pinv(gram, hermitian=True)
    g = torch.sqrt((torch.diagonal(inv, dim1=-2, dim2=-1) * torch.diagonal(gram, dim1=-2, dim2=-1)).real)
    g = g.reshape(nz // rz, ny // ry, nx, rz, ry, m).permute(5, 3, 0, 4, 1, 2).reshape(m, nz, ny, nx)
    return g[0].to(torch.float32)


def _line_mask(mask: torch.Tensor) -> torch.Tensor | None:
    """The ``k1`` line pattern of a ``(k2, k1)`` mask whose partitions are all sampled alike, else None."""
    if not bool((mask == mask[:1]).all()):
        return None
    return mask[0]


def _exact_lines(maps: torch.Tensor, lines: torch.Tensor) -> torch.Tensor:
    """Exact g-factor of a 1D line pattern ``lines (N_y,)`` for maps ``(m, c, z, y, x)``."""
    m, c, nz, ny, nx = maps.shape
    if m * ny > EXACT_MAX_UNKNOWNS:
        raise ParameterError(
            f"the exact g-factor inverts {m * ny} × {m * ny} systems per column, more than "
            f"{EXACT_MAX_UNKNOWNS}; use method='pseudo_replica'"
        )
    dev = maps.device
    eye = torch.eye(ny, dtype=torch.complex128, device=dev)
    fourier = torch.fft.fftshift(torch.fft.fft(torch.fft.ifftshift(eye, dim=0), dim=0, norm="ortho"), dim=0)
    psf = fourier.mH @ (lines.to(dev, torch.complex128)[:, None] * fourier)  # P = Fᴴ diag(mask) F
    cols = maps.permute(2, 4, 0, 1, 3).reshape(nz * nx, m, c, ny).to(torch.complex128)
    var = torch.empty(nz * nx, ny, dtype=torch.float64, device=dev)
    chunk = max(1, (1 << 22) // (m * ny) ** 2)
    for start in range(0, nz * nx, chunk):
        s = cols[start : start + chunk]
        gram = torch.einsum("bmcy,bncv->bmynv", s.conj(), s) * psf[None, None, :, None, :]
        a = gram.reshape(-1, m * ny, m * ny)
        diag = torch.diagonal(a, dim1=-2, dim2=-1)
        empty = diag.real <= 1e-12 * diag.real.amax(dim=-1, keepdim=True).clamp_min(1e-30)
        a = a + torch.diag_embed(empty.to(a.dtype))  # voxels without signal: decoupled unit rows
        inv = torch.linalg.inv(a)
        var[start : start + chunk] = torch.diagonal(inv, dim1=-2, dim2=-1).real[:, :ny]
    var = var.reshape(nz, nx, ny).permute(0, 2, 1)
    sigma_1 = _full_noise_std(maps)
    acceleration = ny / max(int(lines.sum()), 1)
    g = torch.where(
        sigma_1 > 0,
        var.clamp_min(0.0).sqrt() / (sigma_1.to(torch.float64).clamp_min(1e-30) * math.sqrt(acceleration)),
        0.0,
    )
    return g.to(torch.float32)


def _replica_event(stage: str, done: int, replicas: int, state: CGState) -> ProgressEvent:
    return ProgressEvent(stage, done, int(replicas), metrics={"residual": state.residual})


def _full_noise_std(maps: torch.Tensor) -> torch.Tensor:
    """``σ_1 = √([(SᴴS)⁻¹]_00)`` per voxel for white unit noise and full sampling."""
    s = maps.permute(2, 3, 4, 1, 0).to(torch.complex128)  # (z, y, x, c, m)
    gram = s.mH @ s
    inv = torch.linalg.pinv(gram, hermitian=True)
    return torch.sqrt(inv[..., 0, 0].real.clamp_min(0.0)).to(torch.float32)


def gfactor_steps(
    maps: np.ndarray | torch.Tensor,
    sampling: Sampling,
    *,
    method: GFactorMethod = "analytic",
    replicas: int = 50,
    noise_covariance: np.ndarray | torch.Tensor | None = None,
    iterations: int = 100,
    tolerance: float = 1e-4,
    seed: int = 0,
    device: DeviceLike = "auto",
) -> Steps[torch.Tensor]:
    """g-factor map as a progress generator (see :func:`gfactor_map`)."""
    if method not in GFACTOR_METHODS:
        raise ParameterError(f"unknown g-factor method {method!r}; choose one of {GFACTOR_METHODS}")
    if int(replicas) != replicas or replicas < 2:
        raise ParameterError(f"replicas must be an integer ≥ 2, got {replicas!r}")
    if int(iterations) != iterations or iterations < 1:
        raise ParameterError(f"iterations must be an integer ≥ 1, got {iterations!r}")
    dev = resolve_device(device)
    s = _whiten(_as_maps(maps, dev), noise_covariance)
    grid = (int(s.shape[2]), int(s.shape[3]), int(s.shape[4]))
    mask, factors = _mask_and_factors(sampling, grid, dev)
    if method == "analytic":
        if factors is None:
            raise ParameterError(
                "the analytic g-factor needs regular undersampling (every R-th line, no calibration "
                "block); use method='pseudo_replica' for this mask"
            )
        yield ProgressEvent("analytic g-factor", 0, 1)
        return _analytic(s, *factors)
    if method == "exact":
        lines = _line_mask(mask)
        if lines is None:
            raise ParameterError(
                "the exact g-factor needs whole phase-encoding lines sampled alike in every partition "
                "(1D acceleration); use method='pseudo_replica' for this mask"
            )
        yield ProgressEvent("exact g-factor", 0, 1)
        return _exact_lines(s, lines)
    acceleration = mask.numel() / max(int(mask.sum()), 1)
    ndim = 3 if grid[0] > 1 else 2
    a = CartesianSamplingOp(mask[:, :, None]) @ FFTOp(ndim) @ SensitivityOp(s)
    gen = torch.Generator().manual_seed(seed)
    chunk = max(1, min(int(replicas), 16))
    power = torch.zeros(grid, dtype=torch.float64, device=dev)
    done = 0
    while done < replicas:
        n = min(chunk, int(replicas) - done)
        shape = (n, s.shape[1], *grid)
        noise = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
        rhs = a.adjoint(noise.to(dev) / math.sqrt(2.0))  # Aᴴ keeps the sampled noise only
        steps = conjugate_gradient_steps(a.gram, rhs, max_iterations=iterations, tolerance=tolerance)
        event = partial(_replica_event, f"pseudo-replica {done + 1}–{done + n} of {replicas}", done, replicas)
        x: torch.Tensor = yield from relay(steps, event)  # an event per CG iteration: batches take a while
        power += (x[:, 0].abs() ** 2).sum(dim=0).to(torch.float64)
        done += n
        yield ProgressEvent(f"pseudo-replica {done}/{replicas}", done, int(replicas))
    sigma_r = torch.sqrt(power / replicas).to(torch.float32)
    sigma_1 = _full_noise_std(s)
    g = torch.where(sigma_1 > 0, sigma_r / (sigma_1.clamp_min(1e-30) * math.sqrt(acceleration)), 0.0)
    return g.to(torch.float32)


def gfactor_map(
    maps: np.ndarray | torch.Tensor,
    sampling: Sampling,
    *,
    method: GFactorMethod = "analytic",
    replicas: int = 50,
    noise_covariance: np.ndarray | torch.Tensor | None = None,
    iterations: int = 100,
    tolerance: float = 1e-4,
    seed: int = 0,
    device: DeviceLike = "auto",
) -> torch.Tensor:
    """SENSE g-factor map of coil maps and an undersampling pattern.

    Parameters
    ----------
    maps
        complex ``(n_maps, coils, z, y, x)`` (or ``(coils, z, y, x)``) on the encoded grid.
    sampling
        Acceleration ``R`` along ``y`` (int), ``(R_y, R_z)``, or a bool mask ``(k2, k1)`` (or
        ``(k1,)``) of sampled phase-encoding positions (readouts fully sampled).
    method
        ``"analytic"`` (regular undersampling only), ``"exact"`` (any pattern of whole ``k1``
        lines, the same in every partition; ``n_maps × N_y ≤ 1024``) or ``"pseudo_replica"``
        (any mask).
    replicas
        Noise replicas of the pseudo-replica method (≥ 2).
    noise_covariance
        Receiver noise covariance ``(coils, coils)``; None for white noise (or prewhitened maps).
    iterations, tolerance
        Of the CG-SENSE reconstructions of the pseudo-replica method.
    seed
        Seed of the replica noise.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    torch.Tensor
        float32 ``(z, y, x)`` on the compute device: ``g ≥ 1`` where the maps are non-zero
        (up to the replica noise), 0 where they vanish.

    Raises
    ------
    ParameterError
        Unknown method, irregular mask for ``"analytic"``, impossible factors.
    DataError
        Maps or mask of the wrong shape, NaNs.
    """
    return run(
        gfactor_steps(
            maps,
            sampling,
            method=method,
            replicas=replicas,
            noise_covariance=noise_covariance,
            iterations=iterations,
            tolerance=tolerance,
            seed=seed,
            device=device,
        )
    )
