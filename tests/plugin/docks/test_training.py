"""The "Training" dock: train on image layers or a folder, live plot and preview, Stop keeps a checkpoint.

Tiny models (8 features, 3 layers) on 32² patches of textured phantoms, a few steps: each run
takes about a second on one thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_mrrecon.docks.training.widget import FOLDER, TRAINING_PREVIEW
from recon_engine.learned import load_model, read_weights, textured_phantom, trained_weights
from tests.plugin._helpers import PLUGIN, click, run_and_wait

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"size": 32, "features": 8, "depth": 3, "batch_size": 2, "validation_images": 2, "seed": 3}


@pytest.fixture
def training(viewer: Any) -> Any:
    """The dock, created through the manifest, with two phantom layers open (a 40² image, a 32² stack)."""
    rng = np.random.default_rng(5)
    viewer.add_image(100.0 * np.abs(textured_phantom(40, rng)), name="phantom")
    viewer.add_image(np.abs(np.stack([textured_phantom(32, rng) for _ in range(3)])), name="stack")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Training")
    return widget


def test_train_denoiser_on_layers_plot_preview_and_weights(
    qtbot: Any, viewer: Any, training: Any, tmp_path: Path
) -> None:
    dock = training
    _, recon = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
    assert recon.panel.method.select("pnp")
    assert dock.images.names() == ["phantom", "stack"]
    dock.images.set_checked("stack", False)
    assert [la.name for la in dock.images.checked()] == ["phantom"]
    dock.images.set_checked("stack", True)
    out = tmp_path / "den.pt"
    dock.output.setText(str(out))
    assert dock.set_options({**TINY, "epochs": 2, "steps_per_epoch": 4, "learning_rate": 3e-3}) == []
    assert dock.gather()["data"][1].shape == (3, 32, 32)
    run_and_wait(qtbot, dock, by_click=True, ok=True)

    assert len(dock.plot.losses) == 8 and np.isfinite(dock.plot.losses).all()  # one point per step
    assert dock.plot.epoch_steps == [4, 8]
    meta = read_weights(out)["meta"]
    assert meta["epoch"] == 2 and "2 arrays in memory" in meta["training_data"]
    np.testing.assert_allclose(dock.plot.val_nrmse, [h["val_nrmse"] for h in meta["history"]])
    assert all(0 < v < 1 for v in dock.plot.val_nrmse)
    assert [h["val_nrmse"] for h in dock.history] == dock.plot.val_nrmse
    assert viewer.layers[TRAINING_PREVIEW].data.shape == (32, 32)  # the validation reconstruction
    assert str(out) in dock.weights_label.text() and "pnp" in dock.weights_label.text()
    load_model(out, "dncnn")
    assert trained_weights()[0] == out.absolute()

    # the MR Reconstruction dock's chooser lists the trained file for pnp when its list is opened
    assert str(out.absolute()) not in recon.weights.combo.choices
    click(qtbot, recon.weights.combo.native)
    recon.weights.combo.native.hidePopup()
    assert str(out.absolute()) in recon.weights.combo.choices
    recon.panel.method.select("modl")
    assert str(out.absolute()) not in recon.weights.combo.choices  # a denoiser is no MoDL file
    recon.panel.method.select("pnp")
    recon.weights.value = str(out.absolute())
    assert recon.gather()["weights"] == str(out.absolute())


def test_stop_mid_run_keeps_a_loadable_checkpoint(qtbot: Any, training: Any, tmp_path: Path) -> None:
    dock = training
    out = tmp_path / "stopped.pt"
    dock.output.setText(str(out))
    dock.set_options({**TINY, "epochs": 100, "steps_per_epoch": 50})
    click(qtbot, dock.run_button)
    qtbot.waitUntil(lambda: len(dock.plot.steps) >= 3 or dock.worker is None, timeout=60_000)
    with qtbot.waitSignal(dock.run_finished, timeout=30_000):
        click(qtbot, dock.stop_button)
    assert dock.last_error is None and dock.status.text() == "Stopped."
    meta = read_weights(out)["meta"]
    assert meta["epoch"] < 100 and meta["epochs"] == 100
    assert meta["epoch"] * 50 + meta["step"] >= 3
    model, _ = load_model(out, "dncnn")
    assert model.features == 8
    assert "Stopped" in dock.weights_label.text() and str(out) in dock.weights_label.text()
    assert dock.run_button.isEnabled() and not dock.stop_button.isEnabled()


def test_modl_on_a_folder_and_input_errors(
    qtbot: Any, training: Any, tmp_path: Path, errors: list[str]
) -> None:
    dock = training
    for name in dock.images.names():
        dock.images.set_checked(name, False)
    assert dock.run() is None and "No training images" in errors[-1]
    dock.model.setCurrentText("modl")
    assert "unrolls" in [w.name for w in dock.options]
    dock.source.setCurrentText(FOLDER)
    folder = tmp_path / "images"
    folder.mkdir()
    dock.folder.setText(str(tmp_path / "empty"))
    dock.output.setText(str(tmp_path / "modl.pt"))
    dock.set_options({**TINY, "epochs": 1, "steps_per_epoch": 2, "unrolls": 2, "cg_iterations": 3})
    run_and_wait(qtbot, dock)  # a folder without images: the engine's message
    assert dock.last_error is not None and "no 2D training images" in dock.last_error
    rng = np.random.default_rng(1)
    for i in range(2):
        np.save(folder / f"im{i}.npy", textured_phantom(32, rng))
    dock.folder.setText(str(folder))
    run_and_wait(qtbot, dock, ok=True)
    meta = read_weights(tmp_path / "modl.pt")["meta"]
    assert meta["kind_trained"] == "modl" and str(folder) in meta["training_data"]
    assert "modl" in dock.weights_label.text() and len(dock.plot.val_nrmse) == 1
