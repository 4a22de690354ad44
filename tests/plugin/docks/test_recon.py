"""The "MR Reconstruction" dock: run, result equals the engine, complex views, Stop, errors."""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recon_engine
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.model.entries import ReconResult, layers_with, result_of
from recon_engine.progress import ProgressEvent
from recon_engine.reconstructions import METHODS
from tests.plugin._helpers import PLUGIN, click, run_and_wait

TIMEOUT_MS = 30_000


def _expected(path: Path, **options: Any) -> Any:
    return recon_engine.reconstruct(recon_engine.read(path), device="cpu", **options)


def test_run_shows_magnitude_of_engine_result(
    qtbot: Any, viewer: Any, recon_widget: Any, raw_path: Path
) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    assert recon_widget.dataset_choice.currentText() == "phantom_R2 k-space"
    assert recon_widget.gather()["combine"] == "rss"  # form from the method's signature
    run_and_wait(qtbot, recon_widget, by_click=True)

    layer = viewer.layers["phantom_R2 recon"]
    expected = _expected(raw_path, combine="rss")
    assert layer.data.shape == (1, 128, 128)  # coil axis of 1 dropped: (z, y, x)
    np.testing.assert_allclose(layer.data, expected.magnitude()[0], rtol=1e-5, atol=1e-7)
    result = result_of(layer)
    assert result is not None
    np.testing.assert_allclose(result.image.numpy(), expected.numpy(), rtol=1e-5, atol=1e-7)
    dx, dy, dz = expected.geometry.voxel_size_mm
    np.testing.assert_allclose(layer.scale, (dz, dy, dx))
    assert viewer.layers.selection.active is not None
    assert viewer.layers.selection.active.name == layer.name
    assert PREVIEW_LAYER not in viewer.layers
    assert recon_widget.last_duration_s is not None


def test_complex_views(qtbot: Any, viewer: Any, recon_widget: Any, raw_path: Path) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    run_and_wait(qtbot, recon_widget, by_click=True)
    layer = viewer.layers["phantom_R2 recon"]
    image = result_of(layer).image  # type: ignore[union-attr]
    c = image.numpy()[0]

    recon_widget.view.setCurrentText("phase")
    assert result_of(layer).view == "phase"  # type: ignore[union-attr]
    np.testing.assert_allclose(layer.data, np.angle(c), atol=1e-6)
    assert layer.data.min() >= -math.pi - 1e-6
    assert layer.data.max() <= math.pi + 1e-6
    assert layer.colormap.name == "twilight"
    np.testing.assert_allclose(layer.contrast_limits, (-math.pi, math.pi))

    recon_widget.view.setCurrentText("real")
    np.testing.assert_allclose(layer.data, c.real, rtol=1e-6)
    lo, hi = layer.contrast_limits
    assert lo == pytest.approx(-hi)
    recon_widget.view.setCurrentText("imaginary")
    np.testing.assert_allclose(layer.data, c.imag, rtol=1e-6)

    recon_widget.view.setCurrentText("magnitude")
    np.testing.assert_allclose(layer.data, np.abs(c), rtol=1e-6)
    assert layer.colormap.name == "gray"


def test_rerun_with_other_options_reuses_layer(
    qtbot: Any, viewer: Any, recon_widget: Any, raw_path: Path
) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    run_and_wait(qtbot, recon_widget, by_click=True)
    recon_widget.options.combine.value = "adaptive"
    recon_widget.options.prewhitening.value = False
    run_and_wait(qtbot, recon_widget, by_click=True)
    assert len(layers_with(viewer, ReconResult)) == 1
    expected = _expected(raw_path, combine="adaptive", prewhitening=False)
    np.testing.assert_allclose(
        viewer.layers["phantom_R2 recon"].data, expected.magnitude()[0], rtol=1e-4, atol=1e-6
    )
    recon_widget.options.combine.value = "none"  # coils kept: the layer gains a coil axis
    run_and_wait(qtbot, recon_widget, by_click=True)
    layer = viewer.layers["phantom_R2 recon"]
    assert layer.data.shape == (8, 1, 128, 128)
    assert tuple(layer.axis_labels) == ("coil", "z", "y", "x")


def _slow_steps(kspace: Any, *, device: str = "auto") -> Generator[ProgressEvent, None, Any]:
    """A fake method that would take ~10 s, yielding every 10 ms."""
    total = 1000
    for i in range(total):
        time.sleep(0.01)
        yield ProgressEvent("slow", i + 1, total, np.full((8, 8), i, np.float32))
    raise AssertionError("the fake method was not stopped")


def test_stop_cancels(qtbot: Any, viewer: Any, raw_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METHODS, "slow", _slow_steps)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
    viewer.open(str(raw_path), plugin=PLUGIN)
    widget.method.setCurrentText("slow")
    assert widget.gather() == {"method": "slow", "device": "auto"}  # the form follows the method
    click(qtbot, widget.run_button)
    assert not widget.run_button.isEnabled()
    qtbot.waitUntil(lambda: PREVIEW_LAYER in viewer.layers, timeout=5000)  # preview from `yielded`
    qtbot.waitUntil(lambda: widget.progress.value() >= 3, timeout=5000)
    assert len([la for la in viewer.layers if la.name == PREVIEW_LAYER]) == 1  # one, reused
    with qtbot.waitSignal(widget.run_finished, timeout=5000):
        click(qtbot, widget.stop_button)
    assert widget.progress.value() < 1000
    assert widget.status.text() == "Stopped."
    assert widget.last_error is None
    assert widget.run_button.isEnabled()
    assert not viewer.layers[PREVIEW_LAYER].visible  # hidden at once (removing it is slow), reused later
    assert layers_with(viewer, ReconResult) == []


def test_engine_error_notifies_and_widget_stays_usable(
    qtbot: Any,
    viewer: Any,
    recon_widget: Any,
    raw_path: Path,
    plugin_files: dict[str, Path],
    errors: list[str],
) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    viewer.open(str(plugin_files["radial_header"]), plugin=PLUGIN)
    assert recon_widget.dataset_choice.currentText() == "radial_header k-space"
    run_and_wait(qtbot, recon_widget, by_click=True)
    assert any("radial_header" in m and "Cartesian" in m for m in errors), errors
    assert recon_widget.last_error is not None
    assert layers_with(viewer, ReconResult) == []

    recon_widget.dataset_choice.setCurrentText("phantom_R2 k-space")
    run_and_wait(qtbot, recon_widget, by_click=True)
    assert recon_widget.last_error is None
    assert "phantom_R2 recon" in viewer.layers


def test_run_without_dataset_notifies(recon_widget: Any, errors: list[str]) -> None:
    assert recon_widget.run() is None
    assert errors and "No raw dataset" in errors[-1]
    assert recon_widget.run_button.isEnabled()


def test_save_exports_complex_master(
    qtbot: Any, viewer: Any, recon_widget: Any, raw_path: Path, tmp_path: Path, errors: list[str]
) -> None:
    assert recon_widget.save_result(tmp_path / "nothing.npy") == []
    assert errors and "Nothing to save" in errors[-1]
    viewer.open(str(raw_path), plugin=PLUGIN)
    run_and_wait(qtbot, recon_widget, by_click=True)
    recon_widget.view.setCurrentText("phase")  # export must not depend on the view
    (written,) = recon_widget.save_result(tmp_path / "recon.npy")
    saved = np.load(written)
    assert np.iscomplexobj(saved)
    expected = result_of(viewer.layers["phantom_R2 recon"]).image  # type: ignore[union-attr]
    np.testing.assert_allclose(saved, np.squeeze(expected.numpy()), rtol=1e-6)
    assert recon_widget.save_result(tmp_path / "recon.xyz") == []
    assert "unknown extension" in errors[-1]
