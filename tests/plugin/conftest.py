"""Fixtures of the napari plugin tests: raw files (good and broken), viewer, docks."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import pytest

PLUGIN = "napari-mrrecon"


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
