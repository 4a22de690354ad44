"""``mrrecon gui`` (napari_mrrecon.app.launch): docks, loading, reconstruction, screenshot, exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_mrrecon.app.launch import populate
from napari_mrrecon.model.entries import ReconResult, layers_with, result_of
from tests.plugin.conftest import assert_screenshot


def test_launch_screenshot_and_quit(raw_path: Path, tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    code = (
        "import sys; from napari_mrrecon.app.launch import launch; "
        f"sys.exit(launch([{str(raw_path)!r}], screenshot={str(shot)!r}, quit=True))"
    )
    assert_screenshot(code, shot, timeout_s=120)


def test_populate_docks_loads_reconstructs_and_counts_errors(
    viewer: Any, raw_path: Path, plugin_files: dict[str, Path], capsys: Any
) -> None:
    errors = populate(viewer, [str(raw_path), str(plugin_files["no_acquisitions"])], sample=False)
    assert len(errors) == 1
    assert "no_acquisitions.h5" in errors[0]
    assert "no_acquisitions.h5" in capsys.readouterr().err
    assert [layer.name for layer in layers_with(viewer, ReconResult)] == ["phantom_R2 recon"]
    assert "MR Reconstruction (napari-mrrecon)" in viewer.window.dock_widgets
    assert "Metadata (napari-mrrecon)" in viewer.window.dock_widgets


def test_populate_opens_sample_when_no_file(viewer: Any) -> None:
    assert populate(viewer, [], sample=True) == []
    assert [layer.name for layer in layers_with(viewer, ReconResult)] == ["phantom_R2 recon"]


def test_first_run_reconstructs_the_r2_sample_with_sense_not_aliased(viewer: Any) -> None:
    """``mrrecon gui`` opens on the R = 2 sample (8 coils, calibration lines): SENSE, not direct.

    The direct (zero-filled) image folds by half the field of view; SENSE unfolds it: its error
    against the fully sampled reconstruction is well under half of direct's (measured ≈ 0.05
    vs 0.5), and the residual plot of the iterative solver is shown.
    """
    import recon_engine
    from recon_engine.metrics import nrmse
    from recon_engine.simulate.sample_data import sample_path

    populate(viewer, [], sample=True)
    recon = viewer.window.dock_widgets["MR Reconstruction (napari-mrrecon)"]
    assert recon.method.currentText() == "sense"
    assert not recon.plot.isHidden()
    shown = result_of(viewer.layers["phantom_R2 recon"]).image.numpy()  # type: ignore[union-attr]
    full = recon_engine.reconstruct(recon_engine.read(sample_path("phantom_full.h5")), device="cpu").numpy()
    aliased = recon_engine.reconstruct(recon_engine.read(sample_path("phantom_R2.h5")), device="cpu").numpy()
    error = float(nrmse(abs(shown).squeeze(), abs(full).squeeze()))
    assert error < 0.5 * float(nrmse(abs(aliased).squeeze(), abs(full).squeeze()))
    recon.method.setCurrentText("direct")
    assert recon.plot.isHidden()  # no residual without iterations
    recon.method.setCurrentText("grappa")
    assert recon.plot.isHidden()


def test_populate_with_a_sequence_opens_trajectory_and_sequence_docks(
    viewer: Any, raw_path: Path, seq_files: dict[str, Path]
) -> None:
    assert populate(viewer, [str(raw_path), str(seq_files["tiny"])]) == []
    docks = viewer.window.dock_widgets
    assert "Trajectory (napari-mrrecon)" in docks
    assert "Sequence (napari-mrrecon)" in docks
    assert "tiny_gre.seq trajectory" in viewer.layers
    assert [layer.name for layer in layers_with(viewer, ReconResult)] == ["phantom_R2 recon"]
