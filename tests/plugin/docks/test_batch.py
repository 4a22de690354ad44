"""The Batch dock on a real Dask LocalCluster of 2 worker processes: table, progress, Stop, double-click."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_mrrecon.docks.batch.results import STOPPED, open_output
from napari_mrrecon.docks.batch.widget import CURRENT_SETTINGS, current_settings
from napari_mrrecon.model.entries import result_of
from recon_engine.recipe import Recipe
from tests.conftest import ROOT
from tests.plugin._helpers import PLUGIN, click, run_and_wait

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLES = [ROOT / "sample_data" / "phantom_R2.h5", ROOT / "sample_data" / "phantom_R4.h5"]


@pytest.fixture
def batch(viewer: Any) -> Any:
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    widget.workers.setValue(2)
    return widget


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"not really hdf5" * 20)
    return path


def _children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_batch_fills_the_table_and_a_double_click_opens_a_result(
    qtbot: Any, viewer: Any, batch: Any, tmp_path: Path
) -> None:
    from recon_engine.io.ismrmrd_images import read_ismrmrd_images

    recipe = Recipe.create(SAMPLES[0], method="direct", device="cpu").save(tmp_path / "direct.yaml")
    batch.recipe_path.setText(str(recipe))
    batch.add_inputs([*SAMPLES, _corrupt(tmp_path / "corrupt.h5")])
    batch.add_inputs([SAMPLES[0]])  # a duplicate is ignored
    assert len(batch.inputs) == 3
    out = tmp_path / "out"
    batch.output_dir.setText(str(out))
    run_and_wait(qtbot, batch, by_click=True, ok=True)

    table = batch.table
    assert table.rowCount() == 3
    rows = {table.item(r, 0).text(): r for r in range(3)}
    assert {table.item(r, 1).text() for r in range(3)} == {"ok", "failed"}
    for sample in SAMPLES:
        r = rows[sample.name]
        assert table.item(r, 1).text() == "ok"
        assert table.item(r, 3).text() == str(out / sample.name)
        assert float(table.item(r, 2).text()) > 0
    bad = rows["corrupt.h5"]
    assert table.item(bad, 1).text() == "failed"
    error = table.item(bad, 4).text()
    assert "corrupt or truncated" in error and "\n" not in error
    assert (batch.progress.value(), batch.progress.maximum()) == (3, 3)
    assert "2 ok · 1 failed · 0 running" in batch.progress.format()
    assert batch.report is not None and batch.report.count("ok") == 2
    assert json.loads((out / "batch_report.json").read_text())["counts"] == {
        "ok": 2,
        "failed": 1,
        "skipped": 0,
    }

    before = len(viewer.layers)
    table.cellDoubleClicked.emit(rows[SAMPLES[1].name], 1)
    assert len(viewer.layers) == before + 1
    entry = result_of(viewer.layers[-1])
    assert entry is not None
    np.testing.assert_array_equal(entry.image.numpy(), read_ismrmrd_images(out / SAMPLES[1].name).numpy())
    assert batch.open_row(bad) == []  # nothing to open: notified, no layer
    assert len(viewer.layers) == before + 1


def test_stop_mid_run_shuts_the_cluster_down_and_leaves_no_partial_output(
    qtbot: Any, batch: Any, tmp_path: Path
) -> None:
    # TV with 3000 iterations: each file takes many seconds, so Stop comes while they run
    recipe = Recipe.create(
        SAMPLES[0], method="tv", device="cpu", options={"iterations": 3000, "tolerance": 0.0}
    ).save(tmp_path / "slow.yaml")
    copies = []
    for i in range(4):
        copies.append(tmp_path / f"copy{i}.h5")
        shutil.copyfile(SAMPLES[0], copies[-1])
    batch.recipe_path.setText(str(recipe))
    batch.add_inputs(copies)
    out = tmp_path / "out"
    batch.output_dir.setText(str(out))
    before = _children()
    assert batch.run() is not None
    qtbot.waitUntil(lambda: batch._counts.get("running", 0) >= 1, timeout=60_000)
    assert _children() - before  # the worker processes
    with qtbot.waitSignal(batch.run_finished, timeout=60_000):
        click(qtbot, batch.stop_button)
    assert not batch.running and batch.run_button.isEnabled() and not batch.stop_button.isEnabled()
    assert batch.report is None and batch.stopped_report is not None
    assert batch.stopped_report["stopped"] is True
    statuses = [batch.table.item(r, 1).text() for r in range(batch.table.rowCount())]
    assert len(statuses) == 4 and STOPPED in statuses and set(statuses) <= {"ok", STOPPED}
    assert "Stopped" in batch.status.text()
    qtbot.waitUntil(lambda: not (_children() - before), timeout=20_000)  # the cluster is gone
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []
    for h5 in out.glob("*.h5"):  # whatever finished is complete, with its sidecar
        assert (out / f"{h5.stem}.mrrecon.json").is_file()


def test_current_settings_come_from_the_mr_reconstruction_dock(viewer: Any, batch: Any) -> None:
    with pytest.raises(ValueError, match="Open the MR Reconstruction dock"):
        current_settings(viewer)
    _, recon = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
    viewer.open(str(SAMPLES[0]), plugin=PLUGIN)
    batch.recipe_source.setCurrentText(CURRENT_SETTINGS)
    assert not batch.recipe_path.isEnabled()
    recipe = batch.recipe()
    assert isinstance(recipe, Recipe)
    expected = recon.recipe()
    assert (recipe.input_file, recipe.method, recipe.options) == (
        expected.input_file,
        expected.method,
        expected.options,
    )


def test_missing_inputs_do_not_start_a_run(batch: Any, tmp_path: Path) -> None:
    batch.recipe_path.setText(str(tmp_path / "r.yaml"))
    assert batch.run() is None
    assert "Add files" in batch.status.text()
    batch.add_inputs([tmp_path])
    assert batch.run() is None
    assert "output folder" in batch.status.text()
    batch.input_list.setCurrentRow(0)
    batch.input_list.item(0).setSelected(True)
    batch.remove_selected_inputs()
    assert batch.inputs == []
    batch.input_panel.pattern.setText(f"{tmp_path}/*.h5")
    batch.input_panel.pattern.returnPressed.emit()
    assert batch.inputs == [f"{tmp_path}/*.h5"] and batch.input_panel.pattern.text() == ""


def test_fit_maps_open_as_one_layer_per_map(viewer: Any, tmp_path: Path) -> None:
    t1 = np.full((4, 5), 1000.0, np.float32)
    np.savez(
        tmp_path / "s.npz", t1=t1, m0=t1 / 1000, sd_t1=t1 / 10, mask=t1 > 0, times=np.arange(3.0), model="ir"
    )
    layers = open_output(viewer, tmp_path / "s.npz")
    assert [layer.name for layer in layers] == ["s t1", "s m0"]
    np.testing.assert_array_equal(layers[0].data, t1)
