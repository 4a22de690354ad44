"""The Sweep dock: values parsed per option type, runs in one worker, grid/stack, NRMSE/SSIM."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recon_engine
from napari_mrrecon._qt.forms import OptionSpec
from napari_mrrecon.docks.sweep.steps import SweepItem, parse_values, suggest_values, sweep_steps
from napari_mrrecon.layers.views import viewer_grid
from napari_mrrecon.model.entries import result_of
from recon_engine.progress import ProgressEvent
from tests.plugin._helpers import PLUGIN
from tests.plugin.fakes import FakeLog

TIMEOUT_MS = 20_000


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def sweep(viewer: Any, raw_path: Path, fake_log: FakeLog) -> Any:
    """The Sweep dock on the R = 2 sample, fake method, 3 iterations, CPU, and a reference layer."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Sweep")
    viewer.open(str(raw_path), plugin=PLUGIN)
    assert widget.panel.method.select("fake")
    widget.panel.device.setCurrentText("cpu")
    widget.panel.options.iterations.value = 3
    direct = recon_engine.reconstruct(recon_engine.read(raw_path), device="cpu")
    viewer.add_image(direct.magnitude()[0], name="reference")  # the fake's λ = 0 image
    return widget


def test_parse_and_suggest_values() -> None:
    lam = OptionSpec("regularization_weight", "float", 1e-3)
    assert parse_values("1e-4, 0.001  3e-3;0.01", lam) == [1e-4, 1e-3, 3e-3, 1e-2]
    assert suggest_values(lam) == "0.0001, 0.0003, 0.001, 0.003, 0.01"
    assert parse_values(suggest_values(lam), lam)[2] == pytest.approx(1e-3)
    its = OptionSpec("iterations", "int", 20)
    assert parse_values("5 10 20", its) == [5, 10, 20]
    assert suggest_values(its) == "10, 20, 40"
    maps = OptionSpec("coil_maps", "choice", "walsh", ("walsh", "espirit"))
    assert parse_values(suggest_values(maps), maps) == ["walsh", "espirit"]
    flag = OptionSpec("prewhitening", "bool", True)
    assert parse_values("false, true", flag) == [False, True]
    for text, spec in (("", lam), ("0.1, abc", lam), ("2.5", its), ("bart", maps), ("nan", lam)):
        with pytest.raises(ValueError, match="Sweep"):
            parse_values(text, spec)


def test_sweep_steps_one_run_per_value(raw_path: Path, fake_log: FakeLog) -> None:
    kspace = recon_engine.read(raw_path)
    reference = recon_engine.reconstruct(kspace, device="cpu").magnitude()
    steps = sweep_steps(
        kspace,
        method="fake",
        parameter="regularization_weight",
        values=[0.0, 1.0],
        device="cpu",
        options={"iterations": 4},
        reference=reference,
    )
    yielded = []
    while True:
        try:
            yielded.append(next(steps))
        except StopIteration as stop:
            items = stop.value
            break
    assert fake_log.runs == [(0.0, 4), (1.0, 4)]
    kinds = [type(y).__name__ for y in yielded]
    assert kinds == ["ProgressEvent"] * 4 + ["SweepItem"] + ["ProgressEvent"] * 4 + ["SweepItem"]
    events = [y for y in yielded if isinstance(y, ProgressEvent)]
    assert [e.iteration for e in events] == [250, 500, 750, 1000, 1250, 1500, 1750, 2000]
    assert all(e.total == 2000 for e in events)
    assert events[0].stage.startswith("λ=0 (1/2)")
    assert [it.value for it in items] == [0.0, 1.0]
    assert items[0].nrmse == pytest.approx(0.0, abs=1e-6) and items[0].ssim == pytest.approx(1.0)
    assert items[1].nrmse == pytest.approx(0.5, rel=1e-5)  # the fake halves the image at λ = 1
    assert 0 < (items[1].ssim or 0) < 1


def test_sweep_shows_each_result_as_it_comes_in_a_grid(
    qtbot: Any, viewer: Any, sweep: Any, fake_log: FakeLog
) -> None:
    fake_log.gates = {1.0: threading.Event()}  # the last run waits: the first two must show already
    sweep.values.setText("0, 0.5, 1")
    sweep.reference.setCurrentText("reference")
    assert sweep.layout_choice.currentText() == "grid"
    assert sweep.parameter.currentText() == "regularization_weight"
    assert not sweep.panel.options.regularization_weight.enabled  # the sweep sets it
    starts: list[int] = []
    sweep.run_started.connect(starts.append)
    sweep.run()
    qtbot.waitUntil(lambda: sweep.table.rowCount() == 2, timeout=TIMEOUT_MS)
    assert sweep.running
    assert len(sweep.result_layers) == 2
    assert viewer_grid(viewer).enabled
    with qtbot.waitSignal(sweep.run_finished, timeout=TIMEOUT_MS):
        fake_log.gates[1.0].set()
    assert starts == [1]  # one worker for the whole sweep …
    assert fake_log.runs == [(0.0, 3), (0.5, 3), (1.0, 3)]  # … running the values in turn
    assert sweep.last_error is None

    rows = [[sweep.table.item(r, c).text() for c in range(4)] for r in range(3)]
    assert [r[:2] for r in rows] == [["0", "0.0000"], ["0.5", "0.3333"], ["1", "0.5000"]]
    assert rows[0][2] == "1.0000"
    assert sweep.table.item(0, 1).font().bold()  # lowest NRMSE
    assert "Lowest NRMSE at λ = 0" in sweep.status.text()
    names = [layer.name for layer in sweep.result_layers]
    assert names[1] == f"λ=0.5 NRMSE 0.333 SSIM {sweep.items[1].ssim:.3f} (phantom_R2)"
    assert all(layer.name_overlay.visible for layer in sweep.result_layers)
    assert {layer.contrast_limits[1] for layer in sweep.result_layers} == {sweep.result_layers[0].data.max()}
    third = result_of(sweep.result_layers[2])
    assert third is not None  # the complex master is kept, as for MR Reconstruction results
    np.testing.assert_allclose(np.abs(third.image.numpy())[0], sweep.result_layers[0].data / 2, rtol=1e-5)

    sweep.table.cellClicked.emit(1, 0)
    assert viewer.layers.selection.active.name == names[1]
    # a new sweep replaces the previous one's layers
    sweep.values.setText("2")
    with qtbot.waitSignal(sweep.run_finished, timeout=TIMEOUT_MS):
        sweep.run()
    assert sweep.table.rowCount() == 1
    assert len([la for la in viewer.layers if "λ=" in la.name]) == 1


def test_sweep_stacked_with_a_slider(qtbot: Any, viewer: Any, sweep: Any, fake_log: FakeLog) -> None:
    sweep.layout_choice.setCurrentText("stack")
    sweep.parameter.setCurrentText("iterations")
    assert sweep.values.text() == "10, 20, 40"
    sweep.values.setText("2, 4")
    with qtbot.waitSignal(sweep.run_finished, timeout=TIMEOUT_MS):
        sweep.run()
    assert fake_log.runs == [(1e-3, 2), (1e-3, 4)]
    (layer,) = sweep.result_layers
    assert layer.name == "phantom_R2 sweep iterations"
    assert layer.data.shape == (2, 1, 128, 128)
    assert tuple(layer.axis_labels) == ("iterations", "z", "y", "x")
    assert isinstance(sweep.items[0], SweepItem)
    assert sweep.table.item(0, 1).text() == "–"  # no reference chosen: no NRMSE
    assert viewer.dims.current_step[viewer.dims.ndim - layer.ndim] == 1  # slider on the last result
    sweep.table.cellClicked.emit(0, 0)
    assert viewer.dims.current_step[viewer.dims.ndim - layer.ndim] == 0


def test_bad_values_do_not_start(sweep: Any, errors: list[str], fake_log: FakeLog) -> None:
    sweep.values.setText("0.1, lots")
    assert sweep.run() is None
    assert "'lots' is not a valid regularization weight" in errors[-1]
    assert fake_log.runs == []
    assert sweep.run_button.isEnabled()
