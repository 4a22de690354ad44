"""K-space Explorer dock: views follow the controls, spikes by clicking, sources, bad settings.

Small phantom (64², 4 coils) so that each update takes a few ms; thresholds are stated per test.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from napari_mrrecon.docks.explorer.layers import VIEW_KEYS, layer_name
from tests.plugin.conftest import PLUGIN, SMALL, wait_idle

N = SMALL["n"]


def data(widget: Any, key: str) -> np.ndarray:
    layer = widget.layers.layer(key)
    assert layer is not None, key
    return np.array(layer.data, dtype=np.float64)


def nrmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_dock_shows_every_view_fully_sampled(explorer: Any, viewer: Any) -> None:
    """Defaults = fully sampled: mask all ones, aliased = reconstruction, difference ≈ 0 (< 1 %)."""
    for key in VIEW_KEYS[:-1]:  # every view but the g-factor (off)
        assert layer_name(key) in viewer.layers
        assert data(explorer, key).shape == (N, N)
    assert data(explorer, "mask").mean() == pytest.approx(1.0)
    aliased = data(explorer, "aliased")
    assert nrmse(data(explorer, "recon"), aliased) < 1e-6
    assert data(explorer, "difference").max() < 0.01 * aliased.max()
    assert explorer.views.metrics["nrmse"] < 0.01
    assert "NRMSE" in explorer.metrics.text()


def test_changing_r_updates_layers_in_place(explorer: Any, qtbot: Any) -> None:
    """R = 4 regular without calibration: sampled fraction 1/4 (±0.02), effective R 4 (±0.1),
    the aliased image moves away from the fully sampled one (NRMSE > 0.2); same layer objects."""
    before = data(explorer, "aliased")
    layers = {key: explorer.layers.layer(key) for key in ("mask", "aliased", "recon")}
    explorer.set_settings({"pattern": "regular", "acceleration": 4, "calibration": 0})
    wait_idle(qtbot, explorer)
    mask = data(explorer, "mask")
    assert mask.mean() == pytest.approx(0.25, abs=0.02)
    assert explorer.views.metrics["acceleration"] == pytest.approx(4.0, abs=0.1)
    after = data(explorer, "aliased")
    assert nrmse(after, before) > 0.2
    assert all(explorer.layers.layer(k) is layer for k, layer in layers.items())
    explorer.controls.controls["acceleration"].set(2.0)  # the slider, as a user would
    wait_idle(qtbot, explorer)
    assert data(explorer, "mask").mean() == pytest.approx(0.5, abs=0.02)


def click(layer: Any, index: tuple[int, int], *, drag: bool = False) -> None:
    """Run the layer's mouse callbacks as napari does for a press (a move) and a release."""
    position = tuple(layer.data_to_world(index))
    event = SimpleNamespace(type="mouse_press", button=1, position=position, modifiers=())
    for callback in list(layer.mouse_drag_callbacks):
        gen = callback(layer, event)
        if gen is None:
            continue
        next(gen)
        if drag:
            event.type = "mouse_move"
            next(gen)
        event.type = "mouse_release"
        with pytest.raises(StopIteration):
            next(gen)


def stripe_energy(image: np.ndarray, index: tuple[int, int]) -> float:
    """|FFT| of the magnitude image at the spike's spatial frequency (centred FFT)."""
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    return float(np.abs(spectrum[index]))


def test_spike_click_adds_stripes_and_clear_removes_them(explorer: Any, qtbot: Any) -> None:
    """A click on k-space at (ky, kx) = centre + (10, 17) raises the image's energy at that
    frequency more than 5×; a drag adds nothing; "Clear spikes" restores the image (< 1e-5)."""
    layer = explorer.layers.layer("kspace")
    index = (N // 2 + 10, N // 2 + 17)
    before = data(explorer, "aliased")
    click(layer, index, drag=True)
    assert explorer.controls.spikes == []
    click(layer, index)
    assert explorer.controls.spikes == [index]
    wait_idle(qtbot, explorer)
    after = data(explorer, "aliased")
    assert stripe_energy(after, index) > 5 * stripe_energy(before, index)
    explorer.controls.clear_spikes_button.click()
    wait_idle(qtbot, explorer)
    assert explorer.controls.spikes == []
    assert nrmse(data(explorer, "aliased"), before) < 1e-5


def test_source_from_an_image_layer(explorer: Any, viewer: Any, qtbot: Any) -> None:
    """A 48 × 40 image layer as source: views take its shape; fully sampled, the aliased image
    matches the image's magnitude (correlation > 0.99)."""
    yy, xx = np.mgrid[:48, :40]
    image = ((yy - 24) ** 2 / 15**2 + (xx - 20) ** 2 / 12**2 < 1).astype(np.float32)
    image += 0.5 * ((yy > 30) & (xx > 25))
    viewer.add_image(image, name="my image")
    assert "my image" in explorer.source.candidates()
    assert not any("(explorer)" in name for name in explorer.source.candidates())
    assert explorer.set_settings({"source": "my image"})
    wait_idle(qtbot, explorer)
    aliased = data(explorer, "aliased")
    assert aliased.shape == (48, 40)
    assert np.corrcoef(aliased.ravel(), image.ravel())[0, 1] > 0.99


def test_bad_settings_notify_and_the_dock_stays_usable(explorer: Any, qtbot: Any, errors: list[str]) -> None:
    """Out-of-range, unknown and engine-refused settings each give one notification; a valid
    change afterwards updates the views (sampled fraction 1/2 ± 0.02)."""
    assert not explorer.set_settings({"acceleration": 40})
    assert "acceleration" in errors[-1]
    assert not explorer.set_settings({"colour": "red"})
    assert "colour" in errors[-1]
    assert not explorer.set_settings({"source": "no such layer"})
    n_errors = len(errors)
    explorer.set_settings({"radial_spokes": 32, "recon": "grappa"})  # the engine refuses it
    qtbot.waitUntil(lambda: not explorer.busy, timeout=30_000)
    assert len(errors) == n_errors + 1
    assert explorer.last_error is not None
    assert "GRAPPA" in errors[-1]
    explorer.set_settings(
        {"radial_spokes": None, "recon": "zero_filled", "calibration": 0, "acceleration": 2}
    )
    wait_idle(qtbot, explorer)
    assert explorer.last_error is None
    assert data(explorer, "mask").mean() == pytest.approx(0.5, abs=0.02)


def test_selecting_a_view_shows_its_explanation(explorer: Any) -> None:
    """The help label shows EXPLANATIONS[key] of the selected explorer layer."""
    from recon_engine.teaching import EXPLANATIONS

    explorer.select_view("psf")
    assert EXPLANATIONS["psf"][:40] in explorer.help.text()
    explorer.select_view("aliased")
    assert EXPLANATIONS["aliased"][:40] in explorer.help.text()


def test_source_from_a_loaded_raw_dataset(explorer: Any, viewer: Any, qtbot: Any) -> None:
    """The fully sampled 128² 8-coil sample as source: views of its shape, effective R 1 and a
    fully sampled NRMSE < 1 %; R = 2 regular halves the sampled lines (± 0.02)."""
    from napari_mrrecon.model.entries import RawDataset, layers_with

    viewer.open_sample(PLUGIN, "phantom_full")
    (raw_layer,) = layers_with(viewer, RawDataset)
    assert raw_layer.name in explorer.source.candidates()
    assert explorer.set_settings({"source": raw_layer.name})
    wait_idle(qtbot, explorer)
    assert data(explorer, "aliased").shape == (128, 128)
    assert explorer.views.metrics["nrmse"] < 0.01
    explorer.set_settings({"acceleration": 2, "calibration": 0})
    wait_idle(qtbot, explorer)
    assert data(explorer, "mask").mean() == pytest.approx(0.5, abs=0.02)
    assert explorer.views.metrics["nrmse"] > 0.05
