"""Sequence dock "Simulate…": a .seq simulated on a phantom becomes a raw dataset layer."""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_mrrecon.docks.sequence import SIMULATED_SUFFIX
from napari_mrrecon.docks.sequence import simulate as simulate_module
from napari_mrrecon.docks.sequence.simulate import MAPS_FILE
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.model.entries import RawDataset, ReconResult, layers_with, raw_of, result_of
from recon_engine.simulate import shepp_logan
from tests.plugin._helpers import PLUGIN, TIMEOUT_MS, run_and_wait
from tests.plugin.conftest import TINY_LINES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def panel(viewer: Any, sequence_widget: Any, seq_files: dict[str, Path]) -> Any:
    """The simulation panel on the tiny 16² GRE: Shepp–Logan, 2 coils, 1 isochromat, CPU.

    The tiny GRE has no spoiler: with the sequence's own spoiling its echoes of earlier
    excitations make it correlate 0.45 with the phantom; ideal spoiling gives 0.985.
    """
    viewer.open(str(seq_files["tiny"]), plugin=PLUGIN)
    sequence_widget.simulate_toggle.click()
    p = sequence_widget.simulation
    assert not p.isHidden()
    p.phantom.setCurrentText("shepp-logan")
    p.coils.setValue(2)
    p.isochromats.setValue(1)
    p.spoiling.setCurrentText("ideal")
    p.device.setCurrentText("cpu")
    return p


def _simulate(qtbot: Any, p: Any) -> None:
    with qtbot.waitSignal(p.simulation_finished, timeout=TIMEOUT_MS):
        assert p.simulate() is not None
    assert p.simulate_button.isEnabled() and not p.stop_button.isEnabled()


def test_simulated_gre_is_a_raw_layer_that_reconstructs(
    qtbot: Any, viewer: Any, panel: Any, recon_widget: Any
) -> None:
    _simulate(qtbot, panel)
    assert panel.last_error is None, panel.last_error
    layer = panel.result_layer
    assert layer is not None and layer.name == f"tiny_gre{SIMULATED_SUFFIX} k-space"
    assert PREVIEW_LAYER not in viewer.layers
    dataset = raw_of(layer)
    assert isinstance(dataset, RawDataset)
    ks = dataset.kspace
    assert len(ks.acquisitions) == TINY_LINES  # one readout per ADC event of the sequence
    assert ks.n_coils == 2 and ks.header.trajectory == "cartesian"
    assert ks.data.shape[-2:] == (TINY_LINES, TINY_LINES)
    assert layer.data.shape == (2, 1, TINY_LINES, TINY_LINES)  # log-magnitude view: (coil, k2, k1, k0)

    _, explorer = viewer.window.add_plugin_dock_widget(PLUGIN, "K-space Explorer")
    assert layer.name in explorer.source.candidates()  # a source like any opened raw file

    recon_widget.dataset_choice.setCurrentText(layer.name)
    run_and_wait(qtbot, recon_widget, ok=True)  # MR Reconstruction, direct
    (result_layer,) = layers_with(viewer, ReconResult)
    result = result_of(result_layer)
    assert result is not None
    img = np.abs(result.image.numpy()).reshape(TINY_LINES, TINY_LINES)
    corr = float(np.corrcoef(img.ravel(), shepp_logan(TINY_LINES).ravel())[0, 1])
    assert corr > 0.95  # measured 0.985 (16², 10° GRE, transient from equilibrium)


def test_stop_mid_run_closes_the_simulation_and_adds_no_layer(
    qtbot: Any, viewer: Any, panel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, closed = threading.Event(), threading.Event()
    original = simulate_module.simulation_steps

    def gated(seq: Any, options: dict[str, Any]) -> Generator[Any, None, Any]:
        steps = original(seq, options)
        try:
            yield next(steps)  # the first progress event, then wait for the test's Stop
            release.wait(30)
            return (yield from steps)
        finally:
            closed.set()

    monkeypatch.setattr(simulate_module, "simulation_steps", gated)
    before = len(viewer.layers)
    with qtbot.waitSignal(panel.simulation_finished, timeout=TIMEOUT_MS):
        assert panel.simulate() is not None
        qtbot.waitUntil(lambda: panel.progress.maximum() > 1, timeout=TIMEOUT_MS)  # running
        panel.stop_button.click()
        release.set()
    assert closed.is_set()  # the runner closed the engine generator
    assert panel.result_layer is None and panel.last_error is None
    assert panel.status.text().startswith("Stopped")
    assert len(viewer.layers) == before and layers_with(viewer, RawDataset) == []


def test_bad_parameters_notify_and_the_panel_stays_usable(
    qtbot: Any,
    viewer: Any,
    panel: Any,
    sequence_widget: Any,
    seq_files: dict[str, Path],
    errors: list[str],
    tmp_path: Path,
) -> None:
    panel.phantom.setCurrentText(MAPS_FILE)
    assert panel.simulate() is None  # no file chosen: refused before any work
    assert any("maps file" in m for m in errors), errors
    panel.maps_path.setText(str(seq_files["tiny"].parent / "missing.npz"))
    _simulate(qtbot, panel)
    assert panel.last_error is not None and "not found" in panel.last_error
    assert any("missing.npz" in m for m in errors), errors

    (no_fov,) = viewer.open(str(seq_files["no_fov"]), plugin=PLUGIN)
    sequence_widget.source.setCurrentText(no_fov.name)
    panel.phantom.setCurrentText("brain")
    _simulate(qtbot, panel)
    assert panel.last_error is not None and "FOV" in panel.last_error
    assert layers_with(viewer, RawDataset) == []

    panel.fov_mm.setValue(200.0)  # the impossible becomes possible: the dock is still usable
    panel.b0.setChecked(True)  # built-in phantom: the engine's smooth B0 bump
    _simulate(qtbot, panel)
    assert panel.last_error is None, panel.last_error
    assert len(layers_with(viewer, RawDataset)) == 1

    maps = tmp_path / "maps.npz"  # a maps file with its own B0 map, 8² (resampled to 16²)
    np.savez(maps, pd=np.ones((8, 8)), t1_ms=np.full((8, 8), 800.0), b0_hz=np.full((8, 8), 50.0))
    panel.phantom.setCurrentText(MAPS_FILE)
    panel.maps_path.setText(str(maps))
    assert panel.gather()["phantom"] == str(maps) and "b0" not in panel.gather()  # the file's own
    _simulate(qtbot, panel)
    assert panel.last_error is None, panel.last_error
    assert len(layers_with(viewer, RawDataset)) == 2
