"""npe2 sample data: simulated Shepp–Logan raw data (128², 8 coils, with a noise scan)."""

from __future__ import annotations

from typing import Any

__all__ = ["phantom_full", "phantom_r2", "phantom_r4"]


def _open_sample(name: str) -> list[tuple[Any, ...]]:
    from napari_mrrecon.io.reader import read_file
    from recon_engine.simulate.sample_data import sample_path

    return read_file(str(sample_path(name)))


def phantom_full() -> list[tuple[Any, ...]]:
    """Fully sampled phantom raw data, as a k-space layer."""
    return _open_sample("phantom_full.h5")


def phantom_r2() -> list[tuple[Any, ...]]:
    """Phantom raw data, R = 2 with 24 calibration lines, as a k-space layer."""
    return _open_sample("phantom_R2.h5")


def phantom_r4() -> list[tuple[Any, ...]]:
    """Phantom raw data, R = 4 with 24 calibration lines, as a k-space layer."""
    return _open_sample("phantom_R4.h5")
