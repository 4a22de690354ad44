""" "MR Reconstruction" with the trajectory of a loaded Pulseq .seq ("Trajectory from")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import recon_engine
from napari_mrrecon.docks.recon.widget import OWN_TRAJECTORY
from napari_mrrecon.model.entries import ReconResult, layers_with, result_of
from tests.conftest import shared_data
from tests.plugin._helpers import PLUGIN, run_and_wait
from tests.plugin.conftest import SE_DAT, SE_PAIR, SE_SEQ

TIMEOUT_MS = 60_000
EPI = ("pulseq_mr_physics_course", "07_echo_planar_imaging", "data")


def _choices(widget: Any) -> list[str]:
    combo = widget.trajectory_source
    return [combo.itemText(i) for i in range(combo.count())]


def test_choice_appears_with_a_sequence_and_mismatch_notifies(
    qtbot: Any,
    viewer: Any,
    recon_widget: Any,
    raw_path: Path,
    seq_files: dict[str, Path],
    errors: list[str],
) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    assert recon_widget.trajectory_source.isHidden()
    assert "seq" not in recon_widget.gather()
    (seq_layer,) = viewer.open(str(seq_files["tiny"]), plugin=PLUGIN)
    assert not recon_widget.trajectory_source.isHidden()
    assert _choices(recon_widget) == [OWN_TRAJECTORY, seq_layer.name]
    assert recon_widget.trajectory_source.currentText() == OWN_TRAJECTORY  # names differ

    recon_widget.trajectory_source.setCurrentText(seq_layer.name)
    assert recon_widget.gather()["seq"] == str(seq_files["tiny"].resolve())
    run_and_wait(qtbot, recon_widget)  # 16 ADC events vs 128 readouts of the phantom
    assert recon_widget.last_error is not None
    assert any("does not match" in m for m in errors), errors
    assert layers_with(viewer, ReconResult) == []

    recon_widget.trajectory_source.setCurrentText(OWN_TRAJECTORY)
    run_and_wait(qtbot, recon_widget)
    assert recon_widget.last_error is None
    assert "phantom_R2 recon" in viewer.layers

    viewer.layers.remove(seq_layer)
    assert _choices(recon_widget) == [OWN_TRAJECTORY]
    assert recon_widget.trajectory_source.isHidden()


def test_twix_with_seq_reconstructs_like_the_engine(qtbot: Any, viewer: Any, recon_widget: Any) -> None:
    folder = shared_data(*SE_PAIR)
    dat, seq = folder / SE_DAT, folder / SE_SEQ
    viewer.open(str(dat), plugin=PLUGIN)
    (seq_layer,) = viewer.open(str(seq), plugin=PLUGIN)
    recon_widget.trajectory_source.setCurrentText(seq_layer.name)
    run_and_wait(qtbot, recon_widget)
    assert recon_widget.last_error is None
    layer = viewer.layers[f"{dat.stem} recon"]
    expected = recon_engine.reconstruct(recon_engine.read(dat, seq=seq), device="cpu")
    got = result_of(layer).image  # type: ignore[union-attr]
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)


def test_matching_names_preselect_the_sequence(viewer: Any, recon_widget: Any) -> None:
    folder = shared_data(*EPI)
    stem = "04_03_basic_epi_96x96_pe+"
    viewer.open(str(folder / f"{stem}.dat"), plugin=PLUGIN)
    viewer.open(str(folder / f"{stem}.seq"), plugin=PLUGIN)
    assert recon_widget.trajectory_source.currentText() == f"{stem}.seq trajectory"
