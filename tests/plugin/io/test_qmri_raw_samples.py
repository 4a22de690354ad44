"""File ▸ Open Sample ▸ qMRI phantom raw IR / MESE: multi-contrast k-space layers for the qMRI dock."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from napari_mrrecon.model.entries import raw_of
from tests.plugin._helpers import PLUGIN


@pytest.mark.parametrize(
    ("key", "n", "header", "values"),
    [
        ("qmri_ir_raw", 8, "ti_ms", (50.0, 150.0, 300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0)),
        ("qmri_mese_raw", 12, "te_ms", tuple(10.0 * np.arange(1, 13))),
    ],
)
def test_qmri_raw_samples(viewer: Any, key: str, n: int, header: str, values: tuple[float, ...]) -> None:
    layers = viewer.open_sample(PLUGIN, key)
    assert len(layers) == 1
    dataset = raw_of(layers[0])
    assert dataset is not None
    ks = dataset.kspace
    assert tuple(ks.data.shape) == (n, 8, 1, 64, 64)
    assert ks.other_axes == ("contrast",)
    assert getattr(ks.header, header) == values
    mask = ks.sampling_mask[:, 0].numpy()  # (contrast, k1): a lattice shifted per contrast + 12 lines
    assert not np.array_equal(mask[0], mask[1])
    assert np.all(mask[:, 26:38])
    assert 2.0 < 64 / mask.sum(1).mean() < 3.0  # R = 4 with the central block: effective ≈ 2.5
    assert layers[0].data.shape == (n, 8, 1, 64, 64)
