"""Simulated multi-contrast raw data (qMRI): shapes, masks that vary per contrast, truth."""

from __future__ import annotations

import numpy as np
import pytest

from recon_engine.errors import ParameterError
from recon_engine.simulate.qmri_raw import contrast_masks, simulate_qmri_raw, tissue_masks


def test_contrast_masks_shift_per_contrast_and_cover_kspace() -> None:
    m = contrast_masks(8, 48, 4, calibration_lines=6)
    assert m.shape == (8, 48)
    assert not np.array_equal(m[0], m[1])
    assert m[:4].any(0).all()  # R consecutive contrasts cover every line
    assert m[:, 21:27].all()  # the calibration block in every contrast


@pytest.mark.parametrize(("kind", "n_contrasts"), [("ir", 8), ("molli", 8), ("vfa", 6), ("mese", 12)])
def test_cartesian_kinds(kind: str, n_contrasts: int) -> None:
    r = simulate_qmri_raw(kind, n=32, acceleration=4, noise_std=0.0)
    assert r.kspace.data.shape == (n_contrasts, 8, 1, 32, 32)
    assert r.kspace.other_axes == ("contrast",)
    mask = r.kspace.sampling_mask.numpy()[:, 0]
    assert mask.shape == (n_contrasts, 32)
    # unsampled lines are zero, sampled ones carry signal
    energy = np.abs(r.kspace.data.numpy()).sum((1, 2, 4))  # (contrast, k1)
    assert np.all(energy[~mask] == 0)
    assert np.all(energy[mask] > 0)
    assert r.times.size == n_contrasts
    assert 2.0 < r.effective_acceleration < 4.0
    wm = tissue_masks(r.truth["labels"])["wm"]
    assert wm.sum() > 20
    assert np.allclose(r.truth["t1"][wm], 830.0)


def test_ir_images_follow_the_signal_equation() -> None:
    r = simulate_qmri_raw("ir", n=32, noise_std=0.0)
    wm = tissue_masks(r.truth["labels"])["wm"]
    s = (r.images * np.exp(-1j * np.angle(r.images[-1])))[:, wm].real.mean(1)
    expect = 0.69 * (1 - 2 * np.exp(-r.times / 830.0))
    np.testing.assert_allclose(s, expect, atol=1e-4)


def test_mrf_one_interleave_per_frame() -> None:
    r = simulate_qmri_raw("mrf", n=32, n_frames=48)
    assert r.kspace.trajectory is not None
    traj = r.kspace.trajectory.numpy()
    assert traj.shape[:3] == (48, 1, 1)
    assert not np.allclose(traj[0], traj[1])  # a different interleave each frame
    assert r.kspace.data.shape[:2] == (48, 8)


def test_unknown_kind() -> None:
    with pytest.raises(ParameterError, match="unknown qMRI acquisition"):
        simulate_qmri_raw("dwi")
