"""The GUI on damaged inputs: a notification, no layer, and the MR Reconstruction dock stays usable.

Issue 13. Only public entry points: files are opened with ``viewer.open(path,
plugin="napari-mrrecon")`` (the npe2 readers of the manifest) and the dock is created through
the manifest (``add_plugin_dock_widget``). The damaged files are those of the engine's
regression tests (a zeroed HDF5 heap, an encoding counter of 65535, a NaN matrix size, a
``.seq`` shape of the wrong length, a zeroed twix readout header when ``../shared`` exists).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import pytest

from tests.conftest import ROOT, SHARED_DATA

PLUGIN = "napari-mrrecon"
SAMPLE = ROOT / "sample_data" / "phantom_R2.h5"
TIMEOUT_MS = 60_000


@pytest.fixture
def gui_viewer(make_napari_viewer_proxy: Callable[..., Any]) -> Any:
    return make_napari_viewer_proxy()


@pytest.fixture
def error_messages() -> Iterator[list[str]]:
    from napari.utils.notifications import NotificationSeverity, notification_manager

    messages: list[str] = []

    def record(notification: Any) -> None:
        if notification.severity >= NotificationSeverity.WARNING:
            messages.append(str(notification.message))

    notification_manager.notification_ready.connect(record)
    yield messages
    notification_manager.notification_ready.disconnect(record)


def _zeroed_heap(tmp: Path) -> Path:
    p = Path(shutil.copyfile(SAMPLE, tmp / "zeroed_heap.h5"))
    raw = bytearray(p.read_bytes())
    raw[1173131 : 1173131 + 65536] = bytes(65536)
    p.write_bytes(bytes(raw))
    return p


def _counter_65535(tmp: Path) -> Path:
    p = Path(shutil.copyfile(SAMPLE, tmp / "counter_65535.h5"))
    with h5py.File(p, "r+") as f:
        ds = f["dataset/data"]
        heads = ds.fields("head")[:]
        heads["idx"]["set"][-1] = 65535
        rec = ds[ds.shape[0] - 1]
        rec["head"] = heads[-1]
        ds[ds.shape[0] - 1] = rec
    return p


def _nan_matrix(tmp: Path) -> Path:
    p = Path(shutil.copyfile(SAMPLE, tmp / "nan_matrix.h5"))
    with h5py.File(p, "r+") as f:
        xml = f["dataset/xml"][0].decode()
        f["dataset/xml"][0] = xml.replace("<y>128</y>", "<y>NaN</y>", 1).encode()
    return p


def _bad_shape_seq(tmp: Path) -> Path:
    from tests.engine.io.test_bad_inputs import _SEQ

    p = tmp / "bad_shape.seq"
    p.write_text(_SEQ.format(n=10**9, runs=97))
    return p


def _zeroed_twix(tmp: Path) -> Path:
    from tests.engine.io._fuzz import fuzz

    src = SHARED_DATA / "twixtools_examples" / "epi.dat"
    if not src.is_file():
        pytest.skip("shared data not present")
    raw = bytearray(src.read_bytes())
    _, heads = fuzz()._twix_blocks(bytes(raw))
    raw[heads[30] - 100 : heads[30] + 4000] = bytes(4100)
    p = tmp / "zeroed.dat"
    p.write_bytes(bytes(raw))
    return p


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_zeroed_heap, "heap at byte"),
        (_counter_65535, "set counter up to 65535"),
        (_nan_matrix, "matrixSize/y = 'NaN'"),
        (_bad_shape_seq, "shape 1 claims 1000000000 samples"),
        (_zeroed_twix, "damaged twix file"),
    ],
    ids=["zeroed_heap", "counter_65535", "nan_matrix", "bad_shape_seq", "zeroed_twix"],
)
def test_damaged_file_notifies_and_adds_nothing(
    gui_viewer: Any, error_messages: list[str], tmp_path: Path, make: Callable[[Path], Path], fragment: str
) -> None:
    path = make(tmp_path)
    layers = gui_viewer.open(str(path), plugin=PLUGIN)
    assert list(layers) == []
    assert len(gui_viewer.layers) == 0
    assert any(fragment in m and path.name in m for m in error_messages), error_messages
    assert not any("Traceback" in m for m in error_messages)


def test_dock_stays_usable_after_damaged_files(
    qtbot: Any, gui_viewer: Any, error_messages: list[str], tmp_path: Path
) -> None:
    _, dock = gui_viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
    for make in (_zeroed_heap, _counter_65535, _nan_matrix):
        gui_viewer.open(str(make(tmp_path)), plugin=PLUGIN)
    assert len(gui_viewer.layers) == 0
    assert any("heap at byte" in m for m in error_messages), error_messages
    (layer,) = gui_viewer.open(str(SAMPLE), plugin=PLUGIN)
    assert layer.name == "phantom_R2 k-space"
    from qtpy.QtCore import Qt

    assert dock.run_button.isEnabled()
    with qtbot.waitSignal(dock.run_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    assert "phantom_R2 recon" in gui_viewer.layers
    assert dock.run_button.isEnabled()


def test_a_reader_warning_is_a_notification_not_terminal_text(gui_viewer: Any) -> None:
    """The KomaMRI file writes its FOV in metres: napari (whose event loop installs these hooks) notifies."""
    import warnings

    from napari.utils.notifications import NotificationSeverity, notification_manager

    from tests.conftest import shared_data

    koma = shared_data("koma_simulated_mrd", "Koma_signal.mrd")
    before = len(notification_manager.records)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with notification_manager:  # what napari.run() installs around the event loop
            layers = gui_viewer.open(str(koma), plugin=PLUGIN)
    assert len(layers) == 1
    new = [n for n in notification_manager.records[before:] if n.severity == NotificationSeverity.WARNING]
    assert any("looks like metres" in str(n.message) for n in new), [str(n.message) for n in new]
