"""The qMRI Fitting dock on multi-contrast raw data: model-based T1 map, Stop, method forms, errors, recipe.

The raw data are the tissue phantom's inversion recovery (32², 8 TIs 50–4000 ms, 6 coils, every
3rd line per contrast on a shifted lattice + 10 central lines, noise SD 0.002;
:func:`recon_engine.simulate.qmri_raw.simulate_qmri_raw`), so T1 is known (WM 830 ms, GM 1330 ms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from napari_mrrecon.io.reader import raw_layer
from napari_mrrecon.model.qmri import maps_of
from recon_engine.simulate.qmri_raw import QMRIRaw, simulate_qmri_raw, tissue_masks
from tests.plugin._helpers import PLUGIN, run_and_wait

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIM = {"n": 32, "acceleration": 3, "n_coils": 6, "calibration_lines": 10, "noise_std": 0.002, "seed": 2}
#: Largest median relative T1 error in white matter after 4 Gauss–Newton steps (measured 1.0 %).
MEDIAN_TOLERANCE = 0.03


@pytest.fixture(scope="module")
def ir_raw() -> QMRIRaw:
    return simulate_qmri_raw("ir", **SIM)  # type: ignore[arg-type]


@pytest.fixture
def qmri(viewer: Any) -> Any:
    """The dock, created through the manifest, on the CPU."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "qMRI Fitting")
    widget.device.setCurrentText("cpu")
    return widget


def _add_raw(viewer: Any, raw: QMRIRaw, name: str = "ir raw") -> Any:
    data, kwargs, _ = raw_layer(raw.kspace, name)
    return viewer.add_image(data, **kwargs)


def test_model_based_t1_map_from_raw(qtbot: Any, viewer: Any, qmri: Any, ir_raw: QMRIRaw) -> None:
    _add_raw(viewer, ir_raw)
    assert qmri.series_choice.currentText() == "ir raw k-space"
    assert qmri.raw_method.box.isVisibleTo(qmri)
    assert qmri.model_form.model.currentText() == "ir"
    np.testing.assert_array_equal(qmri.model_form.values(), ir_raw.times)  # TIs from the raw header
    qmri.raw_method.method.setCurrentText("model-based")
    qmri.raw_method.form["iterations"].value = 4
    # every preview is drawn at once (a 32² run can end within one 0.1 s frame on a fast CPU, and
    # the dock then draws the result instead of a preview)
    qmri.PREVIEW_INTERVAL_S = 0.0
    run_and_wait(qtbot, qmri, ok=True)
    t1 = viewer.layers["T1 [ms]"]
    assert t1.metadata["unit"] == "ms"
    assert t1.data.shape == (32, 32)
    result = maps_of(t1).result  # type: ignore[union-attr]
    assert result.options["method"] == "model-based" and result.options["iterations"] == 4
    masks = tissue_masks(ir_raw.truth["labels"])
    wm = masks["wm"]  # 32²: grey matter is a rim of a few voxels; white matter has ~150 inside
    error = float(np.median(np.abs(t1.data[wm] - ir_raw.truth["t1"][wm]) / ir_raw.truth["t1"][wm]))
    assert error < MEDIAN_TOLERANCE  # measured 1.0 %
    assert qmri.previews_shown >= 1
    # voxel curve and ROI statistics work on model-based maps as on fitted series
    y, x = np.argwhere(masks["wm"])[0]
    voxel = qmri.show_voxel((int(y), int(x)))
    assert voxel is not None and np.isfinite(voxel.curve).all() and voxel.observed.shape == (8,)
    viewer.add_labels(wm.astype(np.int32), name="wm roi")
    qmri.roi.roi_choice.setCurrentText("wm roi")
    rows = qmri.compute_statistics()
    t1_row = next(r for r in rows if r["map"] == "t1")
    assert t1_row["median"] == pytest.approx(830.0, rel=MEDIAN_TOLERANCE)


def test_stop_mid_run(qtbot: Any, viewer: Any, qmri: Any, ir_raw: QMRIRaw) -> None:
    _add_raw(viewer, ir_raw)
    qmri.raw_method.method.setCurrentText("model-based")
    qmri.raw_method.form["iterations"].value = 5000  # minutes of Gauss–Newton steps unless stopped
    qmri.run()
    qtbot.waitUntil(lambda: qmri.status.text().startswith("model-based ("), timeout=20_000)
    with qtbot.waitSignal(qmri.run_finished, timeout=10_000):
        qmri.stop()
    assert qmri.status.text() == "Stopped."
    assert qmri.progress.value() < 5000
    assert qmri.run_button.isEnabled()
    assert "T1 [ms]" not in viewer.layers


def test_method_change_updates_the_options_form(viewer: Any, qmri: Any, ir_raw: QMRIRaw) -> None:
    _add_raw(viewer, ir_raw)
    panel = qmri.raw_method
    methods = [panel.method.itemText(i) for i in range(panel.method.count())]
    assert methods[:5] == ["two-step", "model-based", "subspace", "subspace-LLR", "PnP"]

    def names() -> set[str]:
        return {w.name for w in panel.form}

    panel.method.setCurrentText("model-based")
    assert {"solver", "iterations", "inner_iterations", "regularization_weight"} <= names()
    panel.method.setCurrentText("subspace")
    assert {"rank", "energy", "iterations"} <= names()
    assert not {"regularization_weight", "block_size", "regularization", "solver"} & names()
    assert panel.values()["regularization"] == "none"
    panel.method.setCurrentText("subspace-LLR")
    assert {"regularization_weight", "block_size"} <= names()
    assert panel.values()["method"] == "subspace"
    assert panel.values()["regularization"] == "llr"
    panel.method.setCurrentText("PnP")
    assert {"penalty", "sigma", "inner_iterations"} <= names() and "denoiser" not in names()
    options = qmri.gather()
    assert options["method"] == "pnp" and options["max_iterations"] == 30  # the voxel fit's LM
    assert "times" not in options  # the header's TIs: the engine reads them for the chosen model


def test_bad_raw_input_notifies_and_dock_stays_usable(
    qtbot: Any, viewer: Any, qmri: Any, ir_raw: QMRIRaw, tmp_path: Path, errors: list[str]
) -> None:
    from dataclasses import replace

    from recon_engine.io.ismrmrd_write import write_ismrmrd

    k = ir_raw.kspace
    one = replace(k, data=k.data[0], sampling_mask=k.sampling_mask[0], other_axes=())
    data, kwargs, _ = raw_layer(one, "one contrast")
    viewer.add_image(data, **kwargs)
    assert qmri.raw_method.box.isVisibleTo(qmri)
    run_and_wait(qtbot, qmri)
    assert qmri.last_error is not None
    assert "a single-contrast scan cannot be mapped" in errors[-1], errors
    # IR data read from a file, mapped with a T2 model: the raw header has no echo times
    viewer.open(str(write_ismrmrd(k, tmp_path / "ir.h5")), plugin=PLUGIN)
    assert qmri.series_choice.currentText() == "ir k-space"
    qmri.model_form.model.setCurrentText("t2")
    run_and_wait(qtbot, qmri)
    assert "needs one TE value per contrast (8); the raw header has 0" in errors[-1], errors
    assert "T2 [ms]" not in viewer.layers
    # a mask layer applies to series only
    viewer.add_labels(np.ones((32, 32), np.int32), name="mask")
    qmri.mask_layer.setCurrentText("mask")
    assert qmri.run() is None
    assert "mask threshold" in errors[-1]
    qmri.mask_layer.setCurrentText("none")
    qmri.model_form.model.setCurrentText("ir")
    qmri.raw_method.method.setCurrentText("two-step")
    run_and_wait(qtbot, qmri, ok=True)
    assert "T1 [ms]" in viewer.layers


def test_save_recipe_records_the_method(tmp_path: Path, viewer: Any, qmri: Any, errors: list[str]) -> None:
    from recon_engine.simulate.qmri_raw import write_qmri_raw

    path, _ = write_qmri_raw("ir", tmp_path / "ir.h5", **SIM)  # type: ignore[arg-type]
    viewer.open(str(path), plugin=PLUGIN)
    assert qmri.series_choice.currentText() == "ir k-space"
    qmri.raw_method.method.setCurrentText("subspace-LLR")
    qmri.raw_method.form["block_size"].value = 4
    written = qmri.save_recipe(tmp_path / "fit.yaml")
    assert written is not None
    doc = yaml.safe_load(written.read_text())
    assert doc["fit"]["model"] == "ir" and doc["fit"]["method"] == "subspace"
    assert doc["fit"]["method_options"]["regularization"] == "llr"
    assert doc["fit"]["method_options"]["block_size"] == 4
    assert doc["fit"]["times"] is None  # the header's TIs
    assert doc["input"]["file"] == str(path) and len(doc["input"]["sha256"]) == 64
    # the recipe mrrecon batch and the Batch dock read (load_batch_recipe), run as one batch task
    from recon_engine.batch import FitRecipe, Job, load_batch_recipe, recipe_hash, reconstruct_file

    rec = load_batch_recipe(written)
    assert isinstance(rec, FitRecipe) and rec.raw and rec.to_dict() == doc
    out = tmp_path / "batch.npz"
    done = reconstruct_file(Job(0, str(path), str(out), rec, recipe_hash(rec), "cpu"))
    assert done["status"] == "ok", done["error"]
    with np.load(out) as z:
        assert np.isfinite(z["t1"]).sum() > 0.3 * 32 * 32
