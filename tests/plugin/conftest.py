"""Fixtures of the napari plugin tests: raw files and sequences (good and broken), viewer, docks."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from tests.plugin._helpers import PLUGIN

#: A real twix + Pulseq pair (32-coil spin echo, 64 × 64) in ../shared/data.
SE_PAIR = ("pulseq_mr_physics_course", "02_rf_pulses", "data")
SE_DAT = "meas_MID00243_FID33257_pulseq.dat"
SE_SEQ = "se_2D_sinc_img.seq"

#: K-space Explorer settings of the small phantom (64², 4 coils): each update takes a few ms.
SMALL = {"n": 64, "coils": 4}

#: Lines of the tiny synthetic gradient echo written by :func:`tiny_seq`.
TINY_LINES = 16


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Single-threaded torch in the engine workers, restored after the module.

    On the shared 2-core machine under load, 2 OpenMP threads spinning against other
    processes slowed engine runs ~10×. Modules that run engine workers use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fake_log(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Register the fake iterative method (tests/plugin/fakes.py) as "fake" for one test.

    Returns the :class:`~tests.plugin.fakes.FakeLog` of what it records.
    """
    from recon_engine.reconstructions import METHODS
    from tests.plugin.fakes import FakeLog, make_fake_method

    log = FakeLog()
    monkeypatch.setitem(METHODS, "fake", make_fake_method(log))
    return log


@pytest.fixture(scope="session")
def raw_path() -> Path:
    """The R = 2 phantom sample (128², 8 coils, noise scan)."""
    from recon_engine.simulate.sample_data import sample_path

    return sample_path("phantom_R2.h5")


@pytest.fixture(scope="session")
def plugin_files(tmp_path_factory: pytest.TempPathFactory, raw_path: Path) -> dict[str, Path]:
    """Files the reader must reject or that the engine rejects, made from the sample."""
    d = tmp_path_factory.mktemp("plugin_files")
    files: dict[str, Path] = {}

    files["plain_hdf5"] = d / "plain.h5"
    with h5py.File(files["plain_hdf5"], "w") as f:
        f.create_dataset("dataset/values", data=[1.0, 2.0])

    files["text"] = d / "notes.h5"
    files["text"].write_text("not an HDF5 file\n")

    files["truncated"] = d / "truncated.h5"
    blob = raw_path.read_bytes()
    files["truncated"].write_bytes(blob[: len(blob) // 3])

    files["wrong_extension"] = d / "raw.nii"
    shutil.copyfile(raw_path, files["wrong_extension"])

    # ISMRMRD structure but no acquisitions: passes the cheap check, the engine rejects it
    files["no_acquisitions"] = d / "no_acquisitions.h5"
    with h5py.File(raw_path, "r") as src, h5py.File(files["no_acquisitions"], "w") as dst:
        dst.create_dataset("dataset/xml", data=src["dataset/xml"][()])
        dst.create_dataset("dataset/data", shape=(0,), dtype=src["dataset/data"].dtype, maxshape=(None,))

    # loads fine, but the header claims a radial trajectory: the direct FFT recon refuses it
    files["radial_header"] = d / "radial_header.h5"
    shutil.copyfile(raw_path, files["radial_header"])
    with h5py.File(files["radial_header"], "r+") as f:
        xml = f["dataset/xml"][0].replace(b"<trajectory>cartesian", b"<trajectory>radial")
        del f["dataset/xml"]
        f.create_dataset("dataset/xml", data=[xml], dtype=h5py.string_dtype())
    return files


@pytest.fixture
def viewer(make_napari_viewer_proxy: Callable[..., Any]) -> Any:
    """A viewer behind napari's plugin proxy (catches private access and off-thread layer edits)."""
    return make_napari_viewer_proxy()


@pytest.fixture
def recon_widget(viewer: Any) -> Any:
    """The "MR Reconstruction" dock, created through the manifest."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
    widget.device.setCurrentText("cpu")
    return widget


@pytest.fixture
def dock(viewer: Any, raw_path: Path, fake_log: Any) -> Any:
    """MR Reconstruction on the R = 2 sample with the fake method chosen, on the CPU."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
    viewer.open(str(raw_path), plugin=PLUGIN)
    assert widget.panel.method.select("fake")
    widget.device.setCurrentText("cpu")
    return widget


@pytest.fixture
def metadata_widget(viewer: Any) -> Any:
    """The "Metadata" dock, created through the manifest."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Metadata")
    return widget


@pytest.fixture
def errors() -> Iterator[list[str]]:
    """Messages of the error notifications shown during the test."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    messages: list[str] = []

    def record(notification: Any) -> None:
        if notification.severity >= NotificationSeverity.ERROR:
            messages.append(str(notification.message))

    notification_manager.notification_ready.connect(record)
    yield messages
    notification_manager.notification_ready.disconnect(record)


@pytest.fixture
def trajectory_widget(viewer: Any) -> Any:
    """The "Trajectory" dock, created through the manifest."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Trajectory")
    return widget


def write_tiny_gre(path: Path, n: int = TINY_LINES) -> Path:
    """A tiny 2D gradient echo (``n`` lines of ``n`` samples, LIN label per line) with pypulseq."""
    import pypulseq as pp

    system = pp.Opts(
        max_grad=28, grad_unit="mT/m", max_slew=150, slew_unit="T/m/s",
        rf_ringdown_time=20e-6, rf_dead_time=100e-6, adc_dead_time=10e-6,
    )  # fmt: skip
    seq = pp.Sequence(system)
    fov = 200e-3
    dk = 1 / fov
    rf, gz, gz_reph = pp.make_sinc_pulse(
        flip_angle=np.deg2rad(10), duration=1e-3, slice_thickness=5e-3, apodization=0.5,
        time_bw_product=4, system=system, return_gz=True, delay=system.rf_dead_time,
    )  # fmt: skip
    gx = pp.make_trapezoid(channel="x", flat_area=n * dk, flat_time=1.6e-3, system=system)
    adc = pp.make_adc(num_samples=n, duration=gx.flat_time, delay=gx.rise_time, system=system)
    gx_pre = pp.make_trapezoid(channel="x", area=-gx.area / 2, duration=1e-3, system=system)
    for i in range(n):
        gy_pre = pp.make_trapezoid(channel="y", area=(i - n / 2) * dk, duration=1e-3, system=system)
        seq.add_block(rf, gz)
        seq.add_block(gx_pre, gy_pre, gz_reph)
        seq.add_block(gx, adc, pp.make_label(type="SET", label="LIN", value=i))
        seq.add_block(pp.make_delay(2e-3))
    seq.set_definition("FOV", [fov, fov, 5e-3])
    seq.set_definition("Name", "tiny_gre")
    seq.write(str(path))
    return path


@pytest.fixture(scope="session")
def seq_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny valid .seq (pypulseq) and broken ones: not a .seq, truncated, bad numbers."""
    d = tmp_path_factory.mktemp("seq_files")
    files = {"tiny": write_tiny_gre(d / "tiny_gre.seq")}
    text = files["tiny"].read_text()
    files["text"] = d / "notes.seq"
    files["text"].write_text("this is not a Pulseq sequence\n")
    files["truncated"] = d / "truncated.seq"
    files["truncated"].write_text(text[: text.index("[BLOCKS]") + 200])
    files["garbage_blocks"] = d / "garbage_blocks.seq"
    files["garbage_blocks"].write_text(text.replace(" 3 162   0   5", " 3 162   0  99", 1))
    files["half"] = d / "half.seq"
    files["half"].write_text(text[: len(text) // 2])
    files["no_fov"] = d / "no_fov.seq"
    files["no_fov"].write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("FOV ")) + "\n")
    files["empty"] = d / "empty.seq"
    files["empty"].write_text("")
    return files


@pytest.fixture(scope="session")
def twix_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A non-twix .dat, and (when ../shared/data is present) a truncated copy of a real one."""
    d = tmp_path_factory.mktemp("twix_files")
    files = {"text": d / "notes.dat"}
    files["text"].write_text("plain numbers 1 2 3\n" * 100)
    real = SHARED_DATA.joinpath(*SE_PAIR, SE_DAT)
    if real.exists():
        blob = real.read_bytes()
        files["truncated"] = d / "truncated.dat"
        files["truncated"].write_bytes(blob[: len(blob) // 2])
    return files


@pytest.fixture
def sequence_widget(viewer: Any) -> Any:
    """The "Sequence" dock, created through the manifest."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Sequence")
    return widget


def wait_idle(qtbot: Any, widget: Any, timeout_ms: int = 30_000) -> None:
    """Wait until the K-space Explorer has no update running or waiting and views are shown."""
    qtbot.waitUntil(lambda: not widget.busy and widget.views is not None, timeout=timeout_ms)


@pytest.fixture
def explorer(viewer: Any, qtbot: Any) -> Any:
    """The K-space Explorer dock (through the manifest) on the 64² phantom, first views shown."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-space Explorer")
    assert widget.set_settings(SMALL)
    wait_idle(qtbot, widget)
    return widget


def assert_screenshot(code: str, shot: Path, timeout_s: float) -> None:
    """Run ``code`` in a fresh Python: it must exit 0 and write a PNG of at least 800 × 600 at ``shot``."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    blob = shot.read_bytes()
    assert blob.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(blob[16:20], "big"), int.from_bytes(blob[20:24], "big")
    assert width >= 800
    assert height >= 600
