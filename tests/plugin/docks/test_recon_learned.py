"""The MR Reconstruction dock with the learned methods: forms, weights chooser, run with preview and Stop.

``pnp`` and ``modl`` get a weights chooser in place of the generated text field (built-in, the
files trained in this session, a picked ``.pt`` file checked by the engine); a file of another
architecture is an error notification and the dock keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recon_engine
from napari_mrrecon.docks.recon.weights import WeightsField
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from recon_engine.learned import DnCNN, MoDLNet, save_model
from tests.plugin._helpers import PLUGIN, assert_same_image, click, run_and_wait

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Fast settings of a pnp run on the 128² R = 2 sample (Walsh maps, 2 CG steps per data step).
FAST = {"coil_maps": "walsh", "cg_iterations": 2}


@pytest.fixture
def learned_dock(viewer: Any, recon_widget: Any, raw_path: Path) -> Any:
    viewer.open(str(raw_path), plugin=PLUGIN)
    assert recon_widget.panel.method.select("pnp")
    return recon_widget


def test_forms_of_pnp_and_modl_have_a_weights_chooser_and_their_options(learned_dock: Any) -> None:
    dock = learned_dock
    assert isinstance(dock.weights, WeightsField)
    values = dock.gather()
    assert values["weights"] == "builtin"
    pnp_options = {
        "algorithm",
        "iterations",
        "sigma_start",
        "sigma_end",
        "schedule",
        "penalty",
        "cg_iterations",
    }
    assert pnp_options <= set(values)
    assert dock.weights.combo.choices[:2] == ("builtin", "identity")
    dock.panel.method.select("modl")
    assert isinstance(dock.weights, WeightsField) and dock.weights.kind == "modl"
    assert dock.gather()["unrolls"] == 0 and "identity" not in dock.weights.combo.choices
    dock.panel.method.select("sense")
    assert dock.weights is None and "weights" not in dock.gather()


def test_pnp_run_with_preview_and_stop_then_equals_the_engine(
    qtbot: Any, viewer: Any, learned_dock: Any, raw_path: Path
) -> None:
    dock = learned_dock
    dock.panel.set_values("pnp", "cpu", {**FAST, "iterations": 500})
    click(qtbot, dock.run_button)
    qtbot.waitUntil(lambda: dock.previews_shown >= 2, timeout=60_000)  # one per outer iteration
    assert PREVIEW_LAYER in viewer.layers
    with qtbot.waitSignal(dock.run_finished, timeout=30_000):
        click(qtbot, dock.stop_button)
    assert dock.status.text() == "Stopped." and dock.last_error is None
    assert dock.progress.value() < dock.progress.maximum()
    assert "phantom_R2 recon" not in viewer.layers

    options = {**FAST, "iterations": 3, "algorithm": "hqs", "penalty": 0.8}
    dock.panel.set_values("pnp", "cpu", options)
    run_and_wait(qtbot, dock, ok=True)
    expected = recon_engine.reconstruct(recon_engine.read(raw_path), method="pnp", device="cpu", **options)
    assert_same_image(viewer.layers["phantom_R2 recon"].data, expected.magnitude()[0])


def test_wrong_architecture_file_notifies_and_dock_still_runs(
    qtbot: Any, viewer: Any, learned_dock: Any, tmp_path: Path, errors: list[str]
) -> None:
    dock = learned_dock
    modl_file = save_model(tmp_path / "modl_small.pt", MoDLNet(8, 3, 2, 2))
    (tmp_path / "notes.pt").write_text("not torch")
    assert not dock.choose_weights_file(modl_file)  # pnp wants a denoiser
    assert "'modl' network, but a 'dncnn' network is needed" in errors[-1]
    assert not dock.choose_weights_file(tmp_path / "notes.pt")
    assert "loads safely" in errors[-1]
    assert dock.gather()["weights"] == "builtin"  # the choice stayed

    # a picked file (the "File…" button with the dialog replaced) of the right kind is chosen
    den = save_model(tmp_path / "den_small.pt", DnCNN(8, 3))
    dock.weights._pick = lambda: str(den)
    click(qtbot, dock.weights.browse.native)
    assert dock.gather()["weights"] == str(den.absolute())

    # a recipe naming a file of another network: the run fails with the engine's message ...
    dock.panel.set_values("pnp", "cpu", {**FAST, "iterations": 2, "weights": str(modl_file)})
    run_and_wait(qtbot, dock)
    assert dock.last_error is not None and "'dncnn' network is needed" in dock.last_error
    assert any("'dncnn' network is needed" in m for m in errors)
    # ... and the dock runs afterwards (the small denoiser file, 2 iterations)
    dock.weights.value = str(den)
    run_and_wait(qtbot, dock, ok=True)
    image = viewer.layers["phantom_R2 recon"].data
    assert image.shape == (1, 128, 128) and np.isfinite(image).all() and image.max() > 0


def test_recipe_records_the_weights_choice(learned_dock: Any, tmp_path: Path) -> None:
    dock = learned_dock
    den = save_model(tmp_path / "den.pt", DnCNN(8, 3))
    assert dock.choose_weights_file(den)
    recipe = dock.recipe()
    assert recipe is not None and recipe.method == "pnp" and recipe.options["weights"] == str(den.absolute())
    path = dock.save_recipe(tmp_path / "r.yaml")
    assert path is not None
    dock.weights.value = "builtin"
    dock.panel.method.select("direct")
    assert dock.load_recipe(path) is not None
    assert dock.method.currentText() == "pnp" and dock.gather()["weights"] == str(den.absolute())
    assert f"weights={str(den.absolute())!r}" in recipe.to_python()
