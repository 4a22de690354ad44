"""File ▸ Open Sample ▸ qMRI phantom: MRF raw radial — a non-Cartesian k-space layer for the qMRI dock."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from napari_mrrecon.model.entries import raw_of
from recon_engine.simulate import sample_data
from tests.plugin._helpers import PLUGIN


def test_qmri_mrf_raw_sample(viewer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    small = {"n": 16, "n_frames": 40, "n_coils": 2}
    for key, value in small.items():  # the layout of the real sample (64², 300 frames, 8 coils), made small
        monkeypatch.setitem(sample_data.QMRI_MRF_SAMPLE, key, value)
    layers = viewer.open_sample(PLUGIN, "qmri_mrf_raw")
    assert len(layers) == 1 and layers[0].name == "phantom MRF raw radial k-space"
    dataset = raw_of(layers[0])
    assert dataset is not None and dataset.name == "phantom MRF raw radial"
    ks = dataset.kspace
    assert tuple(ks.data.shape) == (40, 2, 1, 1, 32) and ks.other_axes == ("repetition",)
    assert ks.trajectory is not None and tuple(ks.trajectory.shape) == (40, 1, 1, 32, 3)
    assert len(ks.header.flip_angle_deg) == 40 and ks.header.tr_ms == (12.0,) and ks.header.ti_ms == (20.0,)
    assert np.isfinite(np.asarray(layers[0].data)).all()
