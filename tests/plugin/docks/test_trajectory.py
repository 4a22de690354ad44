"""The "Trajectory" dock: trajectory plot per readout, colours, highlighted acquisitions, masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recon_engine
from napari_mrrecon.model.entries import raw_of
from napari_mrrecon.model.trajectory import format_indices, from_kspace, parse_indices
from tests.conftest import shared_data
from tests.plugin._helpers import PLUGIN

SPIRAL = ("jemris_spiral_ismrmrd_sim", "signals_spiralout_clean_slc30.h5")


def _colours(artist: Any) -> np.ndarray:
    return np.asarray(artist.get_array())


def test_parse_and_format_indices() -> None:
    assert parse_indices("3, 5-7,9;").tolist() == [3, 5, 6, 7, 9]
    assert parse_indices("").tolist() == []
    assert format_indices(np.array([9, 3, 5, 6, 7])) == "3, 5-7, 9"
    for bad in ("x", "-2", "5-3"):
        with pytest.raises(ValueError):
            parse_indices(bad)


def test_spiral_one_artist_per_interleave(viewer: Any, trajectory_widget: Any) -> None:
    path = shared_data(*SPIRAL)
    viewer.open(str(path), plugin=PLUGIN)
    w = trajectory_widget
    ks = raw_of(viewer.layers[-1]).kspace  # type: ignore[union-attr]
    n_samples = ks.data.shape[-1]
    assert w.data is not None and w.data.k is not None
    assert len(w.readout_artists) == 15  # 15 interleaves
    assert all(len(a.get_offsets()) == n_samples for a in w.readout_artists)
    expected = ks.trajectory.numpy()[ks.sampling_mask.numpy()]  # (15, k0, 3) (kz, ky, kx)
    np.testing.assert_allclose(w.readout_artists[3].get_offsets(), expected[3][:, [2, 1]])
    assert not w.three_d.isEnabled()  # a 2D spiral

    # colour by time: increases along each interleave and from one to the next
    t = _colours(w.readout_artists[0])
    assert np.all(np.diff(t) > 0)
    assert _colours(w.readout_artists[1]).min() > t.max()
    # colour by label: one value (the k1 counter) per interleave
    assert w.colour.findText("k1") >= 0
    w.colour.setCurrentText("k1")
    k1 = ks.acquisitions.counter("kspace_encode_step_1")[1:]
    assert [float(np.unique(_colours(a))[0]) for a in w.readout_artists] == k1.tolist()
    w.colour.setCurrentText("time")
    assert np.all(np.diff(_colours(w.readout_artists[0])) > 0)


def test_spiral_highlight_from_box_and_metadata_table(
    viewer: Any, trajectory_widget: Any, metadata_widget: Any
) -> None:
    path = shared_data(*SPIRAL)
    viewer.open(str(path), plugin=PLUGIN)
    w = trajectory_widget
    n_samples = w.data.n_samples
    assert w.highlighted_points() == 0

    w.selection_box.setText("2-4")  # acquisitions 2, 3, 4 (acquisition 0 is not imaging)
    w.selection_box.editingFinished.emit()
    assert w.highlighted_points() == 3 * n_samples
    np.testing.assert_allclose(w.highlight.get_offsets()[:n_samples], w.readout_artists[1].get_offsets())

    # rows selected in the Metadata table: same acquisitions highlighted, box follows
    from qtpy.QtCore import QItemSelectionModel

    table = metadata_widget.table
    table.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in (0, 5, 6):  # acquisition 0 (a calibration scan) has no samples in k-space
        table.selectionModel().select(metadata_widget.acquisitions.index(row, 0), flags)
    assert metadata_widget.selected_acquisitions() == [0, 5, 6]
    assert w.selection_box.text() == "0, 5-6"
    assert w.highlighted_points() == 2 * n_samples
    assert w.highlighted_samples == 2 * n_samples

    w.three_d.setEnabled(True)
    w.three_d.setChecked(True)  # 3D view keeps the highlight
    assert w.highlighted_points() == 2 * n_samples
    w.selection_box.clear()
    w.selection_box.editingFinished.emit()
    assert w.highlighted_points() == 0


def test_bad_highlight_text_notifies(
    viewer: Any, trajectory_widget: Any, raw_path: Path, errors: list[str]
) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    trajectory_widget.selection_box.setText("a-b")
    trajectory_widget.selection_box.editingFinished.emit()
    assert errors and "Highlight" in errors[-1]


def test_cartesian_shows_sampling_mask(viewer: Any, trajectory_widget: Any, raw_path: Path) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)  # R = 2 phantom, no trajectory
    w = trajectory_widget
    ks = raw_of(viewer.layers[-1]).kspace  # type: ignore[union-attr]
    lines = ks.sampling_mask.numpy()[0]  # (k2 = 1, k1) -> (k1,)
    assert w.mask_image is not None
    assert w.readout_artists == []
    shown = np.isfinite(np.ma.filled(np.ma.asarray(w.mask_image.get_array(), dtype=float), np.nan))
    assert shown.shape == (128, ks.data.shape[-1])  # (k1, k0): the sampled lines
    np.testing.assert_array_equal(shown[:, 0], lines)

    sampled = np.flatnonzero(ks.acquisitions.is_imaging)[:3]  # first three imaging readouts
    w.select_acquisitions(sampled)
    assert w.highlighted_points() == 3 * ks.data.shape[-1]
    noise = np.flatnonzero(~ks.acquisitions.is_imaging)
    w.select_acquisitions(noise)  # noise scans are not in k-space: nothing to highlight
    assert w.highlighted_points() == 0


def test_cartesian_with_trajectory_is_a_mask(
    tmp_path: Path, ismrmrd_tool: Any, viewer: Any, trajectory_widget: Any
) -> None:
    path = ismrmrd_tool(tmp_path, "-k")  # Cartesian Shepp-Logan with an embedded trajectory
    viewer.open(str(path), plugin=PLUGIN)
    assert trajectory_widget.data.k is None
    assert trajectory_widget.mask_image is not None
    assert "256 of 256" in trajectory_widget.info.text()


def test_readout_map_matches_sorting(raw_path: Path) -> None:
    ks = recon_engine.read(raw_path)
    data = from_kspace(ks)
    acq = ks.acquisitions
    readout = data.readout_of
    assert np.all(readout[~acq.is_imaging] == -1)
    k1 = acq.counter("kspace_encode_step_1")
    imaging = np.flatnonzero(acq.is_imaging)
    # readouts are the sampled k1 lines in order, so their k1 grows with the readout index
    assert np.all(np.diff(k1[imaging][np.argsort(readout[imaging], kind="stable")]) >= 0)
    assert np.array_equal(np.unique(readout[imaging]), np.arange(data.n_readouts))
