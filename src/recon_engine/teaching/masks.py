"""Sampling masks (undersampling patterns, partial Fourier, resolution) for the teaching demos.

All masks are ``(ky, kx)`` arrays (``ky`` = phase encoding = axis -2, ``kx`` = readout = axis -1)
with the k-space centre at index ``N // 2``, as the centred FFT of
:mod:`recon_engine.operators.fft` expects.

Undersampling patterns (:func:`sampling_mask`):

- ``"regular"``: every R-th ``ky`` line on a lattice through the centre line (the scanner's
  nominal R; the calibration block comes on top, as in
  :func:`recon_engine.simulate.acquire.cartesian_mask`), so a lattice of spacing R folds the
  image at FOV/R.
- ``"random"``: ``round(N_y / R)`` whole lines in total (calibration included), the others drawn
  uniformly without replacement.
- ``"variable_density"``: the same count, drawn with probability ``∝ (1 − |k_y|/k_max)^2``
  (dense centre, sparse edges, as in Lustig et al. 2007).
- ``"poisson_disc"``: ``round(N_y N_x / R)`` points ``(ky, kx)`` (2D undersampling, for 3D
  acquisitions' phase-encoding plane), no two closer than a radius chosen to give that count,
  with a fully sampled central square.

Masks are reproducible: the same ``seed`` gives the same mask; they are cached, so a slider
that returns to an earlier value costs nothing.

References
----------
M. Lustig, D. Donoho, J. M. Pauly, "Sparse MRI: the application of compressed sensing for rapid
MR imaging", Magn. Reson. Med. 58:1182–1195 (2007), doi:10.1002/mrm.21391.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from recon_engine.errors import ParameterError
from recon_engine.teaching._poisson import poisson_disc_points
from recon_engine.teaching._shapes import centre_block, check_shape, fraction, kept

__all__ = [
    "PATTERNS",
    "calibration_region",
    "partial_fourier_mask",
    "resolution_mask",
    "sampling_mask",
]

PATTERNS: tuple[str, ...] = ("regular", "random", "variable_density", "poisson_disc")
_VD_POWER = 2.0


def _regular_lines(ny: int, acceleration: float) -> np.ndarray:
    """Lines ``c + round(j R)`` for all integers ``j`` (``c = ny // 2``): every R-th line."""
    c = ny // 2
    j = np.arange(-math.ceil(c / acceleration) - 1, math.ceil((ny - c) / acceleration) + 2)
    idx = c + np.round(j * acceleration).astype(int)
    lines = np.zeros(ny, dtype=bool)
    lines[idx[(idx >= 0) & (idx < ny)]] = True
    return lines


def _drawn_lines(ny: int, acceleration: float, calibration: int, seed: int, dense_centre: bool) -> np.ndarray:
    lines = np.zeros(ny, dtype=bool)
    lines[centre_block(ny, calibration)] = True
    target = max(round(ny / acceleration), int(lines.sum()), 1)
    free = np.flatnonzero(~lines)
    extra = target - int(lines.sum())
    if extra > 0:
        if dense_centre:
            k = np.abs(free - ny // 2) / (ny / 2.0)
            p = np.clip(1.0 - k, 1e-3, None) ** _VD_POWER
        else:
            p = np.ones(free.size)
        rng = np.random.default_rng([int(seed), 1])
        lines[rng.choice(free, size=extra, replace=False, p=p / p.sum())] = True
    return lines


@lru_cache(maxsize=64)
def _cached_mask(
    ny: int, nx: int, pattern: str, acceleration: float, calibration: int, seed: int
) -> np.ndarray:
    if pattern == "poisson_disc":
        mask = poisson_disc_points((ny, nx), acceleration, calibration, seed)
    else:
        if pattern == "regular":
            lines = _regular_lines(ny, acceleration)
            lines[centre_block(ny, calibration)] = True
        else:
            lines = _drawn_lines(ny, acceleration, calibration, seed, pattern == "variable_density")
        mask = np.broadcast_to(lines[:, None], (ny, nx)).copy()
    mask.setflags(write=False)
    return mask


def sampling_mask(
    shape: tuple[int, int], pattern: str, acceleration: float, *, calibration: int = 24, seed: int = 0
) -> np.ndarray:
    """Undersampling pattern of a 2D Cartesian acquisition.

    Parameters
    ----------
    shape
        ``(ky, kx)`` matrix.
    pattern
        One of :data:`PATTERNS` (see the module docstring).
    acceleration
        R ≥ 1: the lattice spacing (``"regular"``) or total samples / R (the others).
    calibration
        Width of the fully sampled centre (lines for the line patterns, the edge of a square for
        ``"poisson_disc"``), ≥ 0; clipped to the matrix.
    seed
        Seed of the random patterns (ignored by ``"regular"``).

    Returns
    -------
    np.ndarray
        bool ``(ky, kx)``, read-only (cached; copy it to modify).

    Raises
    ------
    ParameterError
        Unknown pattern, ``R < 1``, negative calibration, bad shape.
    """
    ny, nx = check_shape(tuple(shape))
    if pattern not in PATTERNS:
        raise ParameterError(f"unknown sampling pattern {pattern!r}; choose one of {PATTERNS}")
    if not (math.isfinite(acceleration) and acceleration >= 1.0):
        raise ParameterError(f"acceleration R must be ≥ 1 (1 = fully sampled), got {acceleration!r}")
    if int(calibration) != calibration or calibration < 0:
        raise ParameterError(f"calibration must be a whole number of lines ≥ 0, got {calibration!r}")
    cal = min(int(calibration), ny if pattern != "poisson_disc" else min(ny, nx))
    return _cached_mask(ny, nx, pattern, float(acceleration), cal, int(seed))


def calibration_region(shape: tuple[int, int], pattern: str, calibration: int) -> np.ndarray:
    """Return the fully sampled centre of :func:`sampling_mask`, bool ``(ky, kx)`` (lines or a square)."""
    ny, nx = check_shape(tuple(shape))
    region = np.zeros((ny, nx), dtype=bool)
    if pattern == "poisson_disc":
        c = min(int(calibration), ny, nx)
        region[centre_block(ny, c), centre_block(nx, c)] = True
    else:
        region[centre_block(ny, min(int(calibration), ny))] = True
    return region


def partial_fourier_mask(shape: tuple[int, int], fraction: float) -> np.ndarray:
    """Partial Fourier along ``ky``: the first ``ceil(fraction · N_y)`` lines are acquired.

    The kept lines are rows ``0 … n − 1`` (negative ``ky`` first, as a linear phase-encoding order
    starts; the last lines of the far side are skipped), so the centre and a band around it are
    sampled on both sides when ``fraction > 0.5``.

    Parameters
    ----------
    shape
        ``(ky, kx)``.
    fraction
        Acquired fraction of the ``ky`` lines, in ``[0.5, 1]``.

    Returns
    -------
    np.ndarray
        bool ``(ky, kx)``.

    Raises
    ------
    ParameterError
        ``fraction`` outside ``[0.5, 1]``.
    """
    ny, nx = check_shape(tuple(shape))
    if not (math.isfinite(fraction) and 0.5 <= fraction <= 1.0):
        raise ParameterError(
            f"partial Fourier fraction must lie in [0.5, 1] (e.g. 5/8 = 0.625), got {fraction!r}"
        )
    n = min(ny, max(ny // 2 + 1, math.ceil(fraction * ny - 1e-9)))
    mask = np.zeros((ny, nx), dtype=bool)
    mask[:n] = True
    return mask


def resolution_mask(shape: tuple[int, int], *, phase: float = 1.0, readout: float = 1.0) -> np.ndarray:
    """Lower resolution: only the central ``phase · N_y`` × ``readout · N_x`` samples are kept.

    Parameters
    ----------
    shape
        ``(ky, kx)``.
    phase, readout
        Kept fractions along ``ky`` and ``kx``, in ``(0, 1]`` (at least 2 samples each).

    Returns
    -------
    np.ndarray
        bool ``(ky, kx)``.
    """
    ny, nx = check_shape(tuple(shape))
    py, px = fraction(phase, "phase"), fraction(readout, "readout")
    mask = np.zeros((ny, nx), dtype=bool)
    mask[centre_block(ny, kept(ny, py)), centre_block(nx, kept(nx, px))] = True
    return mask
