"""The qMRI Fitting dock on non-Cartesian MR fingerprinting raw data: model, header schedule, methods, maps.

The raw data are the tissue phantom's FISP fingerprinting, 32², 160 frames, one golden-angle
radial spoke (64 samples) per frame, 4 coils, noise SD 0.002
(:func:`recon_engine.simulate.mrf_raw.simulate_mrf_raw`), so T1/T2 are known (WM 830/80 ms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from napari_mrrecon.docks.qmri.raw_methods import NONCARTESIAN_METHODS
from napari_mrrecon.io.reader import raw_layer
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.model.qmri import maps_of
from recon_engine.simulate.mrf_raw import simulate_mrf_raw
from recon_engine.simulate.qmri_raw import QMRIRaw, simulate_qmri_raw, tissue_masks
from tests.plugin._helpers import PLUGIN, run_and_wait

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIM = {"n": 32, "n_frames": 160, "n_coils": 4, "noise_std": 0.002, "seed": 3}
#: Largest median relative T1/T2 error in white matter, subspace + matching, ESPIRiT maps from the
#: data: measured 8.2 % / 7.9 % for noise seeds 0-4 (the dictionary grid's step next to WM's 830/80 ms;
#: the next grid point gives 14 % / 18 %, as 120 frames do for some seeds).
MEDIAN_TOLERANCE = 0.12


@pytest.fixture(scope="module")
def mrf_raw() -> QMRIRaw:
    return simulate_mrf_raw(**SIM)  # type: ignore[arg-type]


@pytest.fixture
def qmri(viewer: Any) -> Any:
    """The dock, created through the manifest, on the CPU."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "qMRI Fitting")
    widget.device.setCurrentText("cpu")
    return widget


def _add_raw(viewer: Any, raw: QMRIRaw, name: str = "mrf raw") -> Any:
    data, kwargs, _ = raw_layer(raw.kspace, name)
    return viewer.add_image(data, **kwargs)


def _methods(qmri: Any) -> list[str]:
    combo = qmri.raw_method.method
    return [combo.itemText(i) for i in range(combo.count())]


def test_subspace_maps_from_mrf_raw(qtbot: Any, viewer: Any, qmri: Any, mrf_raw: QMRIRaw) -> None:
    _add_raw(viewer, mrf_raw)
    form = qmri.model_form
    assert qmri.series_choice.currentText() == "mrf raw k-space"
    assert form.model.currentText() == "mrf"
    # 160 flip angles: a summary of the header, not a 160-row table; TR and TI from the header
    assert form.summarized and form.times_table.isHidden() and form.times_table.rowCount() == 0
    lo, hi = mrf_raw.times.min(), mrf_raw.times.max()
    assert form.summary.text().startswith(f"160 flip angles from the raw header ({lo:g}–{hi:g} deg)")
    assert "inversion time 20 ms" in form.summary.text()
    assert form.tr_edit.text() == "12"
    # only the methods that map non-Cartesian MRF data, subspace chosen
    assert _methods(qmri) == ["subspace", "subspace-LLR", "PnP", "gridding"]
    assert {qmri.raw_method.entries[m][0] for m in _methods(qmri)} == set(NONCARTESIAN_METHODS)
    assert qmri.raw_method.method.currentText() == "subspace"
    options = qmri.gather()
    assert options["model"] == "mrf" and options["method"] == "subspace" and options["tr"] == 12.0
    assert "flip_angles" not in options and "times" not in options  # the engine reads the header
    run_and_wait(qtbot, qmri, ok=True)
    masks = tissue_masks(mrf_raw.truth["labels"])
    wm = masks["wm"]
    for key in ("t1", "t2"):
        layer = viewer.layers[f"{key.upper()} [ms]"]
        assert layer.metadata["unit"] == "ms" and layer.data.shape == (32, 32)
        mapped = np.isfinite(layer.data[wm])
        assert mapped.mean() > 0.9, mapped.mean()  # the mask threshold drops a few edge voxels
        truth = mrf_raw.truth[key][wm]
        error = float(np.nanmedian(np.abs(layer.data[wm] - truth) / truth))
        assert error < MEDIAN_TOLERANCE, (key, error)
    result = maps_of(viewer.layers["T1 [ms]"]).result  # type: ignore[union-attr]
    assert result.options["method"] == "subspace" and result.options["inversion_time"] == 20.0
    assert "correlation" in result.maps
    # the voxel curve: the measured fingerprint (subspace series) against the matched atom, over frames
    y, x = np.argwhere(wm)[len(np.argwhere(wm)) // 2]
    voxel = qmri.show_voxel((int(y), int(x)))
    assert voxel is not None and voxel.xlabel == "frame"
    assert voxel.observed.shape == voxel.curve.shape == (160,)
    assert np.isfinite(voxel.curve).all() and np.isfinite(voxel.observed).all()
    corr = np.dot(voxel.observed, voxel.curve) / np.linalg.norm(voxel.observed) / np.linalg.norm(voxel.curve)
    assert corr > 0.95  # measured 0.999
    # ROI statistics as for any fit
    viewer.add_labels(wm.astype(np.int32), name="wm roi")
    qmri.roi.roi_choice.setCurrentText("wm roi")
    rows = {r["map"]: r for r in qmri.compute_statistics()}
    assert rows["t1"]["unit"] == "ms" and rows["t1"]["n"] == int(wm.sum())
    assert rows["t1"]["median"] == pytest.approx(830.0, rel=MEDIAN_TOLERANCE)
    assert rows["t2"]["median"] == pytest.approx(80.0, rel=MEDIAN_TOLERANCE)


def test_stop_mid_run_after_a_live_preview(qtbot: Any, viewer: Any, qmri: Any, mrf_raw: QMRIRaw) -> None:
    _add_raw(viewer, mrf_raw)
    qmri.raw_method.form["iterations"].value = 1_000_000  # hours of CG unless stopped
    qmri.run()
    qtbot.waitUntil(lambda: qmri.previews_shown >= 1, timeout=30_000)
    assert qmri.status.text().startswith("subspace (")
    preview = viewer.layers[PREVIEW_LAYER]
    assert preview.colormap.name == "gray"  # a coefficient image (a.u.), not a T1 map in ms
    assert preview.data.shape == (32, 32)
    lo, hi = preview.contrast_limits
    assert hi > lo and hi < 100  # the image's own range, not T1's 0 … thousands of ms
    with qtbot.waitSignal(qmri.run_finished, timeout=10_000):
        qmri.stop()
    assert qmri.status.text() == "Stopped."
    assert qmri.run_button.isEnabled()
    assert "T1 [ms]" not in viewer.layers


def test_method_list_follows_the_data(viewer: Any, qmri: Any, mrf_raw: QMRIRaw) -> None:
    ir = simulate_qmri_raw("ir", n=16, acceleration=2, n_coils=2, calibration_lines=6, seed=1)
    _add_raw(viewer, ir, "ir raw")
    cartesian = _methods(qmri)
    assert cartesian[:5] == ["two-step", "model-based", "subspace", "subspace-LLR", "PnP"]
    assert "gridding" not in cartesian  # needs a trajectory
    assert qmri.model_form.model.currentText() == "ir" and not qmri.model_form.summarized
    qmri.raw_method.method.setCurrentText("subspace-LLR")
    _add_raw(viewer, mrf_raw)  # a new raw dataset becomes the choice
    assert qmri.model_form.model.currentText() == "mrf"
    assert _methods(qmri) == ["subspace", "subspace-LLR", "PnP", "gridding"]
    assert qmri.raw_method.method.currentText() == "subspace-LLR"  # still offered: kept
    assert {"block_size", "regularization_weight"} <= {w.name for w in qmri.raw_method.form}
    qmri.raw_method.method.setCurrentText("gridding")
    assert qmri.gather()["method"] == "gridding"
    qmri.series_choice.setCurrentText("ir raw k-space")
    assert _methods(qmri) == cartesian
    assert qmri.raw_method.method.currentText() == "model-based"  # gridding is not offered: the default
    assert qmri.model_form.model.currentText() == "ir"
    assert qmri.model_form.times_table.rowCount() == 8 and not qmri.model_form.times_table.isHidden()


def test_typed_schedule_replaces_the_summary(viewer: Any, qmri: Any, mrf_raw: QMRIRaw) -> None:
    _add_raw(viewer, mrf_raw)
    form = qmri.model_form
    typed = mrf_raw.times * 1.1
    form.fill.setText(", ".join(f"{v:.6g}" for v in typed))
    form.fill.returnPressed.emit()
    assert not form.summarized and form.times_table.rowCount() == 160
    np.testing.assert_allclose(qmri.gather()["flip_angles"], typed, rtol=1e-5)


def test_mrf_sample_in_the_dock(viewer: Any, qmri: Any) -> None:
    """The real sample (64², 300 frames, 8 coils): model mrf, 300 flip angles summarised."""
    (layer,) = viewer.open_sample(PLUGIN, "qmri_mrf_raw")
    assert layer.name == "phantom MRF raw radial k-space"
    assert qmri.series_choice.currentText() == layer.name
    assert qmri.model_form.model.currentText() == "mrf"
    assert qmri.model_form.summary.text().startswith("300 flip angles from the raw header")
    assert qmri.raw_method.method.currentText() == "subspace"
