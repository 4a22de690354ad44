"""Poisson-disc sampling of a Cartesian ``(ky, kx)`` grid (random sequential acceptance).

Grid points are visited in a seeded random order; a point is taken when no point taken so far
lies closer than the radius ``r`` (grid units). The radius is found by bisection so that at
least the target count is reached; the few surplus points are then dropped at random (dropping
never breaks the minimum distance). The calibration square is taken first.

Reference: R. L. Cook, "Stochastic sampling in computer graphics", ACM Trans. Graph. 5:51–72
(1986), doi:10.1145/7529.8927; for MRI: M. Lustig's and BART's ``poisson`` masks.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["poisson_disc_points"]

_BISECTIONS = 10


def _disc(radius: float) -> np.ndarray:
    h = math.ceil(radius) - 1  # largest offset strictly inside the radius
    o = np.arange(-h, h + 1)
    return (o[:, None] ** 2 + o[None, :] ** 2) < radius**2


def _accept(order: np.ndarray, shape: tuple[int, int], seeded: np.ndarray, radius: float) -> np.ndarray:
    """Points accepted in ``order`` (flat indices) with minimum distance ``radius``."""
    ny, nx = shape
    disc = _disc(radius)
    h = disc.shape[0] // 2
    forbidden = np.zeros((ny + 2 * h, nx + 2 * h), dtype=bool)
    taken = np.zeros((ny, nx), dtype=bool)
    for y, x in zip(*np.nonzero(seeded), strict=True):
        forbidden[y : y + 2 * h + 1, x : x + 2 * h + 1] |= disc
    taken |= seeded
    ys, xs = np.divmod(order, nx)
    for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
        if forbidden[y + h, x + h]:
            continue
        taken[y, x] = True
        forbidden[y : y + 2 * h + 1, x : x + 2 * h + 1] |= disc
    return taken


def poisson_disc_points(
    shape: tuple[int, int], acceleration: float, calibration: int, seed: int
) -> np.ndarray:
    """Poisson-disc mask with ``round(N_y N_x / R)`` points and a sampled central square.

    Parameters
    ----------
    shape
        ``(ky, kx)``.
    acceleration
        R ≥ 1 (total points = grid points / R, calibration included; at least the calibration).
    calibration
        Edge of the fully sampled central square (0 for none).
    seed
        Seed of the visiting order and of the surplus removal.

    Returns
    -------
    np.ndarray
        bool ``(ky, kx)``.
    """
    ny, nx = shape
    seeded = np.zeros(shape, dtype=bool)
    cy, cx = ny // 2 - calibration // 2, nx // 2 - calibration // 2
    seeded[cy : cy + calibration, cx : cx + calibration] = True
    target = max(round(ny * nx / acceleration), int(seeded.sum()), 1)
    if target >= ny * nx:
        return np.ones(shape, dtype=bool)
    rng = np.random.default_rng([int(seed), 2])
    order = rng.permutation(np.flatnonzero(~seeded.ravel()))
    lo, hi = 1.0, math.sqrt(2.0 * acceleration) + 2.0  # count(lo) = all points ≥ target
    best = np.ones(shape, dtype=bool)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        taken = _accept(order, shape, seeded, mid)
        if taken.sum() >= target:
            lo, best = mid, taken
        else:
            hi = mid
    surplus = int(best.sum()) - target
    if surplus > 0:
        free = np.flatnonzero((best & ~seeded).ravel())
        drop = rng.choice(free, size=surplus, replace=False)
        best.ravel()[drop] = False
    return best
