"""Acquisition movie (filling orders, frame counts, final frame) and the students' explanations."""

from __future__ import annotations

import numpy as np
import pytest

from recon_engine.errors import ParameterError
from recon_engine.teaching import (
    EXPLANATIONS,
    ORDERS,
    ExplorerSettings,
    ExplorerSource,
    acquisition_movie,
    explore,
    nyquist_spokes,
)

N = 48


@pytest.fixture(scope="module")
def phantom() -> ExplorerSource:
    return ExplorerSource.phantom(N, 4)


@pytest.mark.parametrize("order", ["linear", "centric", "epi"])
def test_cartesian_movie_ends_with_the_full_image(phantom: ExplorerSource, order: str) -> None:
    """12 frames: masks grow monotonically to the full k-space, each frame adds N²/12 samples
    (± one line), and the last image is the reference (relative error < 1e-5)."""
    masks, images = acquisition_movie(phantom, order, n_frames=12)
    assert masks.shape == (12, N, N) and images.shape == (12, N, N)
    assert masks.dtype == np.float32 and images.dtype == np.float32
    assert np.all(np.diff(masks, axis=0) >= 0) and masks[-1].min() == 1.0
    counts = masks.reshape(12, -1).sum(axis=1)
    assert np.all(np.abs(np.diff(counts, prepend=0) - N * N / 12) <= N)
    ref = np.abs(phantom.reference())
    assert np.linalg.norm(images[-1] - ref) / np.linalg.norm(ref) < 1e-5


def test_orders_differ_where_students_look(phantom: ExplorerSource) -> None:
    """Centric acquires the centre line first, linear the top line; EPI frames end mid-line and
    a linear movie's first quarter (centre still missing) has far less energy than a centric one's."""
    lin, lin_img = acquisition_movie(phantom, "linear", n_frames=4)
    cen, cen_img = acquisition_movie(phantom, "centric", n_frames=4)
    epi, _ = acquisition_movie(phantom, "epi", n_frames=5)
    assert lin[0, 0].all() and not lin[0, N // 2].any()
    assert cen[0, N // 2].all() and not cen[0, 0].any()
    partial = [(0 < row.sum() < N) for row in epi[0]]
    assert any(partial)
    assert np.linalg.norm(lin_img[0]) < 0.5 * np.linalg.norm(cen_img[0])


def test_undersampled_movie_ends_with_the_aliased_view(phantom: ExplorerSource) -> None:
    """With settings (regular R = 3): only the acquired lines are filled and the last frame is the
    explorer's zero-filled image."""
    s = ExplorerSettings(acceleration=3, calibration=8, snr=30.0)
    masks, images = acquisition_movie(phantom, "centric", n_frames=6, settings=s)
    v = explore(phantom, s)
    assert np.array_equal(masks[-1], v.mask)
    assert np.allclose(images[-1], v.aliased, atol=1e-6 * v.aliased.max())


def test_radial_movie(phantom: ExplorerSource) -> None:
    """Radial, golden angle, πN/2 spokes in 8 frames: the sampled cells grow, every frame is
    density compensated (mean intensity within 15 % of the reference), the last NRMSE < 0.25."""
    masks, images = acquisition_movie(phantom, "radial", n_frames=8)
    assert masks.shape == (8, N, N) and images.shape == (8, N, N)
    assert np.all(np.diff(masks.reshape(8, -1).sum(axis=1)) >= 0)
    ref = np.abs(phantom.reference())
    inside = ref > 0.1 * ref.max()
    for img in images:
        assert img[inside].mean() == pytest.approx(ref[inside].mean(), rel=0.15)
    assert np.linalg.norm(images[-1] - ref) / np.linalg.norm(ref) < 0.25
    few, _ = acquisition_movie(phantom, "radial", n_frames=3, settings=ExplorerSettings(radial_spokes=9))
    assert few.shape == (3, N, N) and nyquist_spokes(N) > 9


def test_bad_movie_parameters(phantom: ExplorerSource) -> None:
    """Unknown order, no frames or impossible settings raise ParameterError."""
    with pytest.raises(ParameterError, match="unknown acquisition order"):
        acquisition_movie(phantom, "spiral")
    with pytest.raises(ParameterError, match="n_frames"):
        acquisition_movie(phantom, "linear", n_frames=0)
    with pytest.raises(ParameterError, match="R must be"):
        acquisition_movie(phantom, "linear", settings=ExplorerSettings(acceleration=0.0))


def test_explanations_cover_every_panel_and_control() -> None:
    """Every view, control group, reconstruction and movie has a short text (40–700 characters)."""
    keys = {
        "mask", "kspace", "aliased", "recon", "difference", "psf", "gfactor",
        "pattern", "acceleration", "calibration", "partial_fourier", "resolution", "window",
        "noise", "spikes", "filter", "radial", "zero_filled", "sense", "grappa", "cs",
        "acquisition_movie", "iteration_movie",
    }  # fmt: skip
    assert keys <= set(EXPLANATIONS)
    for key, text in EXPLANATIONS.items():
        assert 40 <= len(text) <= 700, key
    assert "FOV/R" in EXPLANATIONS["aliased"] and "conjugate" in EXPLANATIONS["partial_fourier"]
    assert set(ORDERS) == {"linear", "centric", "epi", "radial"}
