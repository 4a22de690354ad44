"""Pulseq .seq: reader (trajectory points layer), Trajectory dock on a sequence, Sequence dock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_mrrecon.docks.sequence import TRACKS
from napari_mrrecon.io.sequence import get_seq_reader, read_seq_layers
from napari_mrrecon.model.entries import sequence_of
from tests.conftest import shared_data
from tests.plugin._helpers import PLUGIN
from tests.plugin.conftest import TINY_LINES


@pytest.fixture
def tiny_layer(viewer: Any, seq_files: dict[str, Path]) -> Any:
    (layer,) = viewer.open(str(seq_files["tiny"]), plugin=PLUGIN)
    return layer


def test_seq_reader_claims_pulseq_only(tmp_path: Path, seq_files: dict[str, Path]) -> None:
    assert get_seq_reader(str(seq_files["tiny"])) is read_seq_layers
    assert get_seq_reader(str(seq_files["text"])) is None  # no Pulseq sections
    assert get_seq_reader(str(seq_files["empty"])) is None
    assert get_seq_reader(str(tmp_path / "missing.seq")) is None
    assert get_seq_reader(str(tmp_path)) is None
    assert get_seq_reader([]) is None


def test_seq_opens_as_trajectory_points(tiny_layer: Any, seq_files: dict[str, Path]) -> None:
    from napari.layers import Points

    layer = tiny_layer
    assert isinstance(layer, Points)
    assert layer.name == "tiny_gre.seq trajectory"
    n = TINY_LINES
    assert layer.data.shape == (n * n, 2)  # 2D sequence: (ky, kx) in cycles per FOV
    ky, kx = layer.data[:, 0], layer.data[:, 1]
    np.testing.assert_allclose(np.unique(np.round(ky)), np.arange(n) - n / 2, atol=1e-3)
    assert kx.min() == pytest.approx(-n / 2, abs=0.6)
    assert {"time", "adc", "LIN"} <= set(layer.features.columns)
    time = layer.features["time"].to_numpy()
    assert np.all(np.diff(time) > 0)  # ms, in acquisition order
    assert layer.features["LIN"].to_numpy().tolist() == np.repeat(np.arange(n), n).tolist()
    seq = sequence_of(layer)
    assert seq is not None
    assert seq.sequence.n_blocks == 4 * n
    assert Path(seq.path) == seq_files["tiny"].resolve()


@pytest.mark.parametrize("kind", ["truncated", "garbage_blocks", "half"])
def test_bad_seq_notifies(viewer: Any, seq_files: dict[str, Path], errors: list[str], kind: str) -> None:
    path = seq_files[kind]
    assert get_seq_reader(str(path)) is read_seq_layers
    assert list(viewer.open(str(path), plugin=PLUGIN)) == []
    assert len(viewer.layers) == 0
    assert any(path.name in m for m in errors), errors


def test_seq_without_fov_is_shown_in_inverse_metres(
    viewer: Any, seq_files: dict[str, Path], trajectory_widget: Any
) -> None:
    (layer,) = viewer.open(str(seq_files["no_fov"]), plugin=PLUGIN)
    assert layer.data.shape == (TINY_LINES * TINY_LINES, 2)
    assert np.abs(layer.data[:, 0]).max() == pytest.approx(TINY_LINES / 2 / 0.2, rel=0.01)  # 1/m, FOV 0.2 m
    assert trajectory_widget.data.k_unit == "1/m"


def test_trajectory_dock_on_sequence(tiny_layer: Any, trajectory_widget: Any) -> None:
    w = trajectory_widget
    assert w.source.currentText() == tiny_layer.name
    assert len(w.readout_artists) == TINY_LINES
    assert w.data.time_label == "time [ms]"
    w.colour.setCurrentText("LIN")
    assert [float(np.unique(a.get_array())[0]) for a in w.readout_artists] == list(range(TINY_LINES))
    w.select_acquisitions([2, 3, 9])
    assert w.highlighted_points() == 3 * TINY_LINES
    assert len(tiny_layer.selected_data) == 3 * TINY_LINES  # the same samples in the layer
    adc = tiny_layer.features["adc"].to_numpy()
    assert set(adc[list(tiny_layer.selected_data)]) == {2, 3, 9}


def test_sequence_dock_tracks_and_ranges(qtbot: Any, tiny_layer: Any, sequence_widget: Any) -> None:
    w = sequence_widget
    assert w.source.currentText() == tiny_layer.name
    assert tuple(w.axes) == TRACKS == ("RF", "Gx", "Gy", "Gz", "ADC", "Labels")
    assert w.waveforms is not None
    assert len(w.waveforms.block_starts_s) == 12  # the first 12 blocks = 3 repetitions
    assert w.waveforms.adc_t_s.size == 3 * TINY_LINES
    assert len(w.axes["RF"].lines) >= 1
    texts = [t.get_text() for t in w.axes["Labels"].texts]
    assert texts == ["LIN=0", "LIN=1", "LIN=2"]

    w.set_blocks(5, 8)  # one repetition: blocks 5..8 (1-based)
    assert len(w.waveforms.block_starts_s) == 4
    assert w.waveforms.adc_t_s.size == TINY_LINES
    assert [t.get_text() for t in w.axes["Labels"].texts] == ["LIN=1"]

    w.set_time_range(30.0, 45.0)
    assert w.axes["Labels"].get_xlim() == pytest.approx((30.0, 45.0))
    t_adc = w.waveforms.adc_t_s * 1e3
    assert t_adc.min() < 45.0 and t_adc.max() > 30.0

    # spin boxes redraw after a short pause
    w.mode.setCurrentText("blocks")
    with qtbot.waitSignal(w.redrawn, timeout=3000):
        w.last_block.setValue(20)
    assert len(w.waveforms.block_starts_s) == 16  # blocks 5..20


def test_sequence_dock_without_sequence(sequence_widget: Any) -> None:
    assert sequence_widget.waveforms is None
    assert "Open a Pulseq" in sequence_widget.info.text()


def test_spiral_seq_trajectory(viewer: Any, trajectory_widget: Any) -> None:
    path = shared_data("jemris_spiral_ismrmrd_sim", "spiralout_gre_jemris.seq")
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert layer.data.shape == (15 * 4940, 2)
    assert len(trajectory_widget.readout_artists) == 15
    trajectory_widget.select_acquisitions([0])
    assert trajectory_widget.highlighted_points() == 4940
