"""Acquisition movie: k-space filled in the scanner's order while the image builds up.

Orders (:data:`ORDERS`):

- ``"linear"``: whole ``ky`` lines from the top row (most negative ``ky``) to the bottom; the
  image stays dark and blurred-stripy until the centre lines arrive halfway through.
- ``"centric"``: the centre line first, then alternately outwards; the image contrast appears
  at once and the detail (edges) fills in last.
- ``"epi"``: one zig-zag trajectory, sample by sample, odd lines read backwards (frames may
  end mid-line).
- ``"radial"``: whole spokes through the centre in acquisition order (golden-angle or uniform
  angles, from the settings); each frame is gridded with the density compensation of the full
  set of spokes (scaled by ``total / acquired`` for golden-angle ordering, whose every subset
  covers k-space evenly).

With settings, only the samples these settings acquire are filled (an undersampled movie), with
their noise, spikes and window, and the last frame is the explorer's zero-filled image; without,
the last Cartesian frame is the fully sampled reference.
"""

from __future__ import annotations

import math

import numpy as np

from recon_engine.errors import ParameterError
from recon_engine.teaching.acquire import acquire, combine_natural, natural_order, zero_filled_natural
from recon_engine.teaching.radial import nyquist_spokes, radial_setup, sample_cells
from recon_engine.teaching.settings import ExplorerSettings, check_settings
from recon_engine.teaching.source import ExplorerSource

__all__ = ["ORDERS", "acquisition_movie"]

ORDERS: tuple[str, ...] = ("linear", "centric", "epi", "radial")


def _cartesian_units(order: str, acquired: np.ndarray) -> tuple[np.ndarray, int]:
    """Rank of the time unit (line or sample) of every sample; unacquired samples get ``-1``."""
    ny, nx = acquired.shape
    rows = np.arange(ny)
    if order == "centric":
        d = rows - ny // 2
        row_order = rows[np.lexsort((d > 0, np.abs(d)))]  # centre, then -1, +1, -2, +2, ...
    else:
        row_order = rows
    rank = np.full((ny, nx), -1, dtype=np.int64)
    if order == "epi":
        cols = np.arange(nx)
        path = [(r, c) for i, r in enumerate(row_order) for c in (cols[::-1] if i % 2 else cols)]
        t = 0
        for r, c in path:
            if acquired[r, c]:
                rank[r, c] = t
                t += 1
        return rank, t
    t = 0
    for r in row_order:
        if acquired[r].any():
            rank[r, acquired[r]] = t
            t += 1
    return rank, t


def _frame_counts(units: int, n_frames: int) -> list[int]:
    return [math.ceil(units * (f + 1) / n_frames) for f in range(n_frames)]


def acquisition_movie(
    source: ExplorerSource, order: str, *, n_frames: int = 32, settings: ExplorerSettings | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """k-space filled in ``order``, and the zero-filled image after each frame.

    Parameters
    ----------
    source
        The fully sampled data.
    order
        One of :data:`ORDERS`.
    n_frames
        Number of frames (≥ 1); each adds an equal share of lines / samples / spokes.
    settings
        Optional: acquire only what these settings acquire (Cartesian pattern, noise, spikes,
        window; radial spoke count and ordering). None: everything, noise-free.

    Returns
    -------
    masks, images
        float32 ``(frames, ky, kx)`` (1 where acquired so far; radial: grid cells holding a
        sample) and float32 ``(frames, y, x)`` magnitudes, coil-combined as the reference.

    Raises
    ------
    ParameterError
        Unknown order, ``n_frames < 1`` or impossible settings.
    """
    if order not in ORDERS:
        raise ParameterError(f"unknown acquisition order {order!r}; choose one of {ORDERS}")
    if int(n_frames) != n_frames or n_frames < 1:
        raise ParameterError(f"n_frames must be a whole number ≥ 1, got {n_frames!r}")
    s = settings if settings is not None else ExplorerSettings()
    check_settings(s)
    if order == "radial":
        return _radial_movie(source, s, int(n_frames))
    acq = acquire(source, s)
    shown = acq.shown()
    rank, units = _cartesian_units(order, acq.masks.acquired)
    masks, images = [], []
    for count in _frame_counts(units, int(n_frames)):
        mask = ((rank >= 0) & (rank < count)).astype(np.float32)
        coil = zero_filled_natural(shown * natural_order(mask))
        masks.append(mask)
        images.append(np.abs(combine_natural(source, coil)).astype(np.float32))
    return np.stack(masks), np.stack(images)


def _radial_movie(
    source: ExplorerSource, s: ExplorerSettings, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    spokes = int(s.radial_spokes or nyquist_spokes(max(source.shape)))
    setup = radial_setup(source, spokes, bool(s.golden_angle))
    per_spoke = setup.trajectory.shape[1]
    masks, images = [], []
    for count in _frame_counts(spokes, n_frames):
        n = count * per_spoke
        scale = spokes / count if s.golden_angle else 1.0
        weights = setup.weights * scale
        weights[n:] = 0.0  # spokes not yet acquired
        coil = setup.grid(setup.samples, weights)
        masks.append(sample_cells(setup.trajectory[:count], source.shape))
        images.append(np.abs(source.combine(coil)).astype(np.float32))
    return np.stack(masks), np.stack(images)
