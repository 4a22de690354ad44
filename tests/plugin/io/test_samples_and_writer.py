"""Sample data and the NIfTI writer contributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from napari_mrrecon.model.entries import raw_of, result_of
from tests.plugin._helpers import PLUGIN


@pytest.mark.parametrize("key", ["phantom_full", "phantom_R2", "phantom_R4"])
def test_sample_data_gives_kspace_layers(viewer: Any, key: str) -> None:
    layers = viewer.open_sample(PLUGIN, key)
    assert len(layers) == 1
    dataset = raw_of(layers[0])
    assert dataset is not None
    assert tuple(dataset.kspace.data.shape) == (8, 1, 128, 256)
    assert layers[0].data.shape == (8, 1, 128, 256)


def test_nifti_writer_exports_complex_master(
    qtbot: Any, viewer: Any, recon_widget: Any, raw_path: Path, tmp_path: Path
) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    with qtbot.waitSignal(recon_widget.run_finished, timeout=30_000):
        recon_widget.run()
    layer = viewer.layers["phantom_R2 recon"]
    image = result_of(layer).image  # type: ignore[union-attr]
    recon_widget.view.setCurrentText("phase")  # the writer then also writes the phase

    viewer.layers.selection = {layer}
    written = viewer.layers.save(str(tmp_path / "recon.nii.gz"), selected=True, plugin=PLUGIN)
    assert [Path(p).name for p in written] == ["recon.nii.gz", "recon_phase.nii.gz"]
    mag = nib.load(written[0])
    assert mag.shape == (128, 128, 1)  # (x, y, z)
    expected = np.transpose(image.magnitude()[0], (2, 1, 0))  # (z, y, x) -> (x, y, z)
    np.testing.assert_allclose(np.asarray(mag.dataobj), expected, rtol=1e-6)
    phase = np.asarray(nib.load(written[1]).dataobj)
    assert phase.min() >= -np.pi - 1e-6
    assert phase.max() <= np.pi + 1e-6


def test_nifti_writer_refuses_foreign_layers(tmp_path: Path) -> None:
    from napari_mrrecon.io.writer import write_nifti
    from recon_engine.errors import ExportError

    with pytest.raises(ExportError, match="not an MR reconstruction"):
        write_nifti(str(tmp_path / "x.nii"), np.zeros((4, 4), np.float32), {"name": "other"})
