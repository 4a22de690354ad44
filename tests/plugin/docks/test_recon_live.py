"""MR Reconstruction with iterative methods: forms, previews, plot, Stop, Live, maps, recipes.

The iterative method is a fake registered in METHODS (tests/plugin/fakes.py), so these
tests do not depend on the engine's real iterative methods; one test runs the real
"sense" when it is registered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

import recon_engine
from napari_mrrecon._qt.float_edit import FloatEdit
from napari_mrrecon._qt.forms import option_specs
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.model.entries import ReconResult, layers_with, result_of
from recon_engine.recipe import Recipe, load_recipe, run_recipe_steps
from recon_engine.reconstructions import METHODS
from tests.plugin._helpers import PLUGIN, assert_same_image, click
from tests.plugin.fakes import FakeLog

TIMEOUT_MS = 20_000
RESULT = "phantom_R2 recon"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _finish(qtbot: Any, widget: Any, start: Callable[[], Any] | None = None) -> None:
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT_MS):
        (start or widget.run)()
    assert widget.last_error is None, widget.last_error


def _image(viewer: Any) -> np.ndarray:
    entry = result_of(viewer.layers[RESULT])
    assert entry is not None
    return entry.image.numpy()


def test_switching_method_builds_its_form(dock: Any) -> None:
    form = dock.options
    assert [w.name for w in form] == ["regularization_weight", "iterations", "coil_maps", "prewhitening"]
    assert isinstance(form.regularization_weight, FloatEdit)
    assert form.regularization_weight.value == 1e-3  # not rounded to 0 by a spin box
    assert form.regularization_weight.native.text() == "0.001"
    assert form.coil_maps.choices == ("walsh", "espirit")
    assert form.iterations.value == 20
    form.regularization_weight.native.setText("3e-4")
    assert dock.gather() == {
        "method": "fake",
        "device": "cpu",
        "regularization_weight": 3e-4,
        "iterations": 20,
        "coil_maps": "walsh",
        "prewhitening": True,
    }
    fake_bytes = dock.panel.memory_bytes
    assert dock.panel.memory.text().startswith("≈")

    dock.method.setCurrentText("direct")
    assert [w.name for w in dock.options] == [
        "combine",
        "prewhitening",
        "density",
        "kernel_size",
        "epi_correction",
    ]
    assert dock.gather()["combine"] == "rss"
    assert dock.panel.memory_bytes is not None and fake_bytes is not None
    assert dock.panel.memory_bytes < fake_bytes  # iterative methods keep maps and solver vectors

    form.regularization_weight.native.setText("1e-")  # half typed: no run, a clear message
    dock.method.setCurrentText("fake")
    dock.options.regularization_weight.native.setText("1e-")
    with pytest.raises(ValueError, match="regularization weight"):
        dock.gather()


def test_form_widgets_for_union_and_optional_options() -> None:
    def method(
        kspace: Any,
        *,
        coil_maps: Literal["espirit", "walsh"] | np.ndarray = "espirit",
        levels: int | None = None,
        acceleration: int | tuple[int, int] = 0,
        extra: dict[str, Any] | None = None,  # a mapping: not typed in a form
        maps: np.ndarray | None = None,  # an array: not typed in a form
        options: Mapping[str, Any] | None = None,
        maps_array: np.ndarray = np.zeros(2),  # noqa: B008 - not a plain value: left out
        device: str = "auto",
    ) -> None:
        """Doc."""

    specs = {s.name: s for s in option_specs(method, skip=("kspace", "device"))}
    assert {n: s.kind for n, s in specs.items()} == {
        "coil_maps": "choice",
        "levels": "literal",
        "acceleration": "int",
    }
    assert specs["coil_maps"].choices == ("espirit", "walsh")
    # the real iterative methods: maps and coil_map_options stay usable from Python only
    for name in ("sense", "tv", "wavelet"):
        if name in METHODS:
            names = {s.name for s in option_specs(METHODS[name], skip=("kspace", "device"))}
            assert "coil_maps" in names and "iterations" in names
            assert not names & {"maps", "coil_map_options"}


def test_run_shows_previews_plot_maps_and_finishes(qtbot: Any, viewer: Any, dock: Any) -> None:
    dock.options.iterations.value = 100  # 100 previews at ~500 per second
    dock.options.regularization_weight.value = 0.25
    added: list[str] = []
    viewer.layers.events.inserted.connect(lambda e: added.append(e.value.name))
    with qtbot.waitSignal(dock.run_finished, timeout=TIMEOUT_MS):
        click(qtbot, dock.run_button)
    assert added[0] == PREVIEW_LAYER  # the current iterate, shown while it ran
    assert dock.last_duration_s is not None  # … at most 10 times a second
    assert 1 <= dock.previews_shown <= dock.last_duration_s / dock.PREVIEW_INTERVAL_S + 2
    assert dock.previews_shown < 100
    assert not viewer.layers[PREVIEW_LAYER].visible  # hidden, reused by the next run (no add/remove)
    direct = recon_engine.reconstruct(dock.dataset_choice.dataset().kspace, device="cpu")
    # float32: the worker's thread count changes the summation order (~1e-6 relative)
    np.testing.assert_allclose(_image(viewer), direct.numpy() / 1.25, rtol=1e-5)
    assert viewer.layers.selection.active.name == RESULT
    # coil maps and g-factor as layers
    maps = viewer.layers["phantom_R2 coil maps"]
    assert maps.data.shape == (8, 1, 128, 128)  # one map set: (coils, z, y, x)
    assert tuple(maps.axis_labels) == ("coil", "z", "y", "x")
    np.testing.assert_allclose((maps.data**2).sum(axis=0), 1.0, rtol=1e-4)
    gfactor = viewer.layers["phantom_R2 g-factor"]
    np.testing.assert_allclose(gfactor.data, 1.25)
    # residual/objective per iteration in the dock's plot
    its, residuals = dock.plot.history["residual"]
    assert its == list(range(1, 101))
    assert residuals[-1] == pytest.approx(0.5**100)
    assert set(dock.plot.history) == {"residual", "objective"}
    assert dock.status.text().startswith("Done")
    # a direct run afterwards: stale maps of the dataset go away
    dock.method.setCurrentText("direct")
    _finish(qtbot, dock)
    assert "phantom_R2 coil maps" not in viewer.layers
    assert "phantom_R2 g-factor" not in viewer.layers


def _stop_a_long_run(qtbot: Any, viewer: Any, dock: Any) -> float:
    """Start ~200 s of fake iterations, press Stop; the seconds until ``run_finished``."""
    dock.options.iterations.value = 100_000  # ~200 s if nobody stops it
    click(qtbot, dock.run_button)
    qtbot.waitUntil(lambda: "ETA" in dock.status.text(), timeout=TIMEOUT_MS)
    assert dock.progress.maximum() == 100_000
    start = time.perf_counter()
    with qtbot.waitSignal(dock.run_finished, timeout=TIMEOUT_MS):
        click(qtbot, dock.stop_button)
    return time.perf_counter() - start


@pytest.mark.perf
def test_stop_ends_the_run_within_a_second(qtbot: Any, viewer: Any, dock: Any) -> None:
    assert _stop_a_long_run(qtbot, viewer, dock) < 1.0


def test_stop_ends_the_run(qtbot: Any, viewer: Any, dock: Any) -> None:
    _stop_a_long_run(qtbot, viewer, dock)
    assert dock.status.text() == "Stopped."
    assert dock.run_button.isEnabled()
    assert not viewer.layers[PREVIEW_LAYER].visible
    assert layers_with(viewer, ReconResult) == []


def test_live_change_cancels_and_reruns(qtbot: Any, viewer: Any, dock: Any, fake_log: FakeLog) -> None:
    dock.options.iterations.value = 100_000
    dock.live.setChecked(True)
    with qtbot.waitSignal(dock.run_started):
        dock.run()
    first = dock.worker
    qtbot.waitUntil(lambda: dock.progress.value() >= 3, timeout=TIMEOUT_MS)
    with qtbot.waitSignals([first.aborted, dock.run_finished], timeout=TIMEOUT_MS):
        dock.options.iterations.value = 7
        dock.options.iterations.value = 5  # quick successive changes: one re-run (debounced)
    assert dock.generation == 2
    assert fake_log.runs == [(1e-3, 100_000), (1e-3, 5)]
    entry = result_of(viewer.layers[RESULT])
    assert entry is not None and entry.image.meta["iterations"] == 5
    assert dock.plot.history["residual"][0] == [1, 2, 3, 4, 5]  # the plot restarted with the new run


def test_late_result_of_a_cancelled_run_is_ignored(
    qtbot: Any, viewer: Any, dock: Any, fake_log: FakeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qtpy.QtCore import QThreadPool

    shown: list[float] = []
    show_result = dock.show_result
    monkeypatch.setattr(
        dock,  # show_result gets the result prepared for display in the worker (image + views)
        "show_result",
        lambda r, la: (shown.append(float(r.image.meta["gfactor"].max())), show_result(r, la)),
    )
    fake_log.gates = {0.1: threading.Event()}  # the first run waits after its last iteration
    dock.options.iterations.value = 3
    dock.options.regularization_weight.value = 0.1
    dock.run()
    qtbot.waitUntil(lambda: dock.progress.value() == 3, timeout=TIMEOUT_MS)  # at the gate
    # The first run returns, but before the GUI handles its result, a re-run starts
    # (what Live does when a change lands while a result is in flight).
    fake_log.gates[0.1].set()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)  # its `returned` is queued, unhandled
    dock.options.regularization_weight.value = 0.2
    finished: list[int] = []
    dock.run_finished.connect(lambda: finished.append(dock.generation))
    with qtbot.waitSignal(dock.run_finished, timeout=TIMEOUT_MS):
        dock.run(restart=True)
    assert shown == [pytest.approx(1.2)]  # the late result of the first run never reached a layer
    assert finished == [2]
    entry = result_of(viewer.layers[RESULT])
    assert entry is not None and entry.image.meta["gfactor"].max() == pytest.approx(1.2)
    assert fake_log.runs == [(0.1, 3), (0.2, 3)]


@pytest.mark.parametrize("method", ["fake", "direct"])
def test_saved_recipe_replays_to_the_same_image(
    qtbot: Any, viewer: Any, dock: Any, tmp_path: Path, method: str, raw_path: Path
) -> None:
    _choose(dock, method)
    _finish(qtbot, dock)
    first = _image(viewer)
    path = dock.save_recipe(tmp_path / "phantom.recipe.yaml")
    assert path is not None and path.is_file()

    recipe = load_recipe(path)
    assert recipe.method == method and recipe.device == "cpu"
    assert Path(recipe.input_file).resolve() == raw_path.resolve()
    replayed = recon_engine.run(run_recipe_steps(recipe))  # the engine (mrrecon run)
    assert_same_image(first, replayed.numpy())


@pytest.mark.parametrize("method", ["fake", "direct"])
def test_loaded_recipe_sets_the_dock_and_replays(
    qtbot: Any, viewer: Any, dock: Any, tmp_path: Path, method: str, raw_path: Path, errors: list[str]
) -> None:
    _choose(dock, method)
    options = {k: v for k, v in dock.gather().items() if k not in ("method", "device")}
    path = Recipe.create(raw_path, method=method, options=options, device="cpu").save(tmp_path / "r.yaml")
    recipe = load_recipe(path)
    expected = recon_engine.run(run_recipe_steps(recipe)).numpy()

    dock.method.setCurrentText("fake")  # change everything, close the data, then load the recipe
    dock.options.regularization_weight.value = 9.0
    dock.device.setCurrentText("auto")
    viewer.layers.clear()
    assert dock.load_recipe(path) is not None
    assert dock.dataset_choice.currentText() == "phantom_R2 k-space"  # its raw file, opened again
    assert dock.gather() == {"method": method, "device": "cpu", **recipe.options}
    _finish(qtbot, dock)
    assert_same_image(_image(viewer), expected)  # the dock replays it

    (tmp_path / "bad.yaml").write_text("mrrecon_recipe: 1\n")
    assert dock.load_recipe(tmp_path / "bad.yaml") is None
    assert "lacks" in errors[-1]


def _choose(dock: Any, method: str) -> None:
    dock.method.setCurrentText(method)
    if method == "fake":
        dock.options.iterations.value = 3
        dock.options.regularization_weight.value = 0.05
    else:
        dock.options.combine.value = "adaptive"


def test_copy_as_python_runs_the_same_reconstruction(qtbot: Any, viewer: Any, dock: Any) -> None:
    from qtpy.QtWidgets import QApplication

    dock.options.iterations.value = 2
    dock.options.regularization_weight.value = 0.5
    _finish(qtbot, dock)
    code = dock.copy_as_python()
    assert code is not None
    assert QApplication.clipboard().text() == code
    assert "method='fake'" in code and "regularization_weight=0.5" in code
    namespace: dict[str, Any] = {}
    exec(compile(code, "<copied>", "exec"), namespace)
    assert_same_image(_image(viewer), namespace["image"].numpy())


def test_real_sense_when_registered(qtbot: Any, viewer: Any, raw_path: Path) -> None:
    if "sense" not in METHODS:
        pytest.skip("the engine has no 'sense' method registered yet")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
    viewer.open(str(raw_path), plugin=PLUGIN)
    widget.method.setCurrentText("sense")
    widget.device.setCurrentText("cpu")
    names = [w.name for w in widget.options]
    assert "coil_maps" in names and "iterations" in names
    assert "maps" not in names and "coil_map_options" not in names  # arrays/dicts: Python only
    assert widget.options.gfactor.value == "auto"  # the dock asks SENSE for its g-factor map
    widget.options.iterations.value = 5
    _finish(qtbot, widget)
    assert viewer.layers[RESULT].data.shape == (1, 128, 128)
    assert "phantom_R2 coil maps" in viewer.layers
    assert len(widget.plot.history["residual"][1]) >= 1
    # g-factor next to the coil maps: R = 2 + 24 ACS lines → analytic for R = 2 (ACS ignored);
    # measured mean 1.47 where the maps are non-zero (ESPIRiT crop), 1.0 … 2.33
    g = viewer.layers["phantom_R2 g-factor"].data
    assert g.shape == (1, 128, 128)
    inside = g > 0
    assert inside.mean() > 0.3
    assert g[inside].min() >= 1.0 - 1e-4
    assert 1.3 < g[inside].mean() < 1.65
    assert result_of(viewer.layers[RESULT]).image.meta["gfactor_method"] == "analytic"
    assert "phantom_R2 iterates" not in viewer.layers
    # "keep iterates" (the iteration movie): one magnitude frame per CG iteration, the last
    # equal to the result's magnitude
    widget.options.keep_iterates.value = True
    widget.options.gfactor.value = "none"
    widget.options.tolerance.value = 0.0
    _finish(qtbot, widget)
    movie = viewer.layers["phantom_R2 iterates"].data
    assert movie.shape == (5, 1, 1, 128, 128)
    np.testing.assert_allclose(
        movie[-1, 0], np.abs(result_of(viewer.layers[RESULT]).image.numpy()[0]), rtol=1e-4, atol=1e-6
    )
