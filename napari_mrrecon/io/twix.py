"""npe2 reader: Siemens twix raw data (``.dat``) as a k-space layer.

:func:`get_twix_reader` claims a ``.dat`` path only when the engine's cheap signature
check (:func:`recon_engine.io.twix.is_twix`) recognises a VB or VD/VE measurement, so
other ``.dat`` files stay with other readers. The data is read with
:func:`recon_engine.read` (a truncated or corrupt file gives a notification, no layer);
the layer is the same k-space layer as for ISMRMRD raw data. To reconstruct with a
Pulseq ``.seq``, open the ``.seq`` too and choose it in "MR Reconstruction".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari_mrrecon.io.reader import LayerData, PathOrPaths, as_list, raw_layer, read_all

__all__ = ["get_twix_reader", "read_twix_file", "read_twix_layers"]


def get_twix_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_twix_layers` if every path is a Siemens twix file, else None.

    Never raises: missing files, directories and other ``.dat`` files give None.
    """
    try:
        paths = as_list(path)
    except TypeError:
        return None
    if not paths or not all(p.lower().endswith(".dat") for p in paths):
        return None
    from recon_engine.io.twix import is_twix

    return read_twix_layers if all(is_twix(p) for p in paths) else None


def read_twix_file(path: str) -> list[LayerData]:
    """Read one twix measurement into a k-space layer (raises the engine's errors)."""
    import recon_engine

    return [raw_layer(recon_engine.read(path), Path(path).stem)]


def read_twix_layers(path: PathOrPaths) -> list[LayerData]:
    """Reader function: a k-space layer per twix file; engine errors become notifications."""
    return read_all(path, read_twix_file)
