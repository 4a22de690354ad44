"""npe2 reader: ISMRMRD raw data (and ISMRMRD images) as layers.

:func:`get_reader` claims a ``.h5``/``.mrd`` path only when the engine's cheap structural
check says it really is ISMRMRD, so other HDF5 files stay with other readers. Raw data
becomes a k-space layer (log-magnitude, coils as an axis) whose complex data is kept in
the plugin's model (:class:`~napari_mrrecon.model.entries.RawDataset`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_mrrecon.model.entries import METADATA_KEY, RawDataset, ReconResult

if TYPE_CHECKING:
    from recon_engine.data import KSpace

__all__ = ["EXTENSIONS", "as_list", "get_reader", "raw_layer", "read_all", "read_file", "read_layers"]

#: File name endings this reader considers.
EXTENSIONS: tuple[str, ...] = (".h5", ".mrd")

LayerData = tuple[Any, ...]
PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def as_list(path: PathOrPaths) -> list[str]:
    """One path or a list of paths (napari's "stack" open) as a list of strings."""
    if isinstance(path, str | os.PathLike):
        return [os.fspath(path)]
    return [os.fspath(p) for p in path]


def raw_layer(kspace: KSpace, name: str) -> LayerData:
    """Layer data of a k-space layer: log-magnitude view, complex master in the metadata."""
    from napari_mrrecon.layers.views import kspace_layer

    data, kwargs = kspace_layer(kspace, f"{name} k-space")
    kwargs["metadata"] = {METADATA_KEY: RawDataset(kspace=kspace, name=name)}
    return (data, kwargs, "image")


def get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_layers` if every path is an ISMRMRD file, else None.

    Never raises: missing, truncated, non-HDF5 and non-ISMRMRD HDF5 files give None.

    Parameters
    ----------
    path
        One path or a list of paths (napari's "stack" open).

    Returns
    -------
    callable or None
        The reader function, or None when the plugin does not claim the path(s).
    """
    try:
        paths = as_list(path)
    except TypeError:
        return None
    if not paths or not all(p.lower().endswith(EXTENSIONS) for p in paths):
        return None
    from recon_engine.io.ismrmrd_read import is_ismrmrd

    return read_layers if all(is_ismrmrd(p) for p in paths) else None


def _holds_raw_data(path: str) -> bool:
    import h5py

    from recon_engine.errors import FileFormatError
    from recon_engine.io.ismrmrd_read import find_raw_group

    try:
        with h5py.File(path, "r") as f:
            return find_raw_group(f) is not None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be opened as HDF5 ({exc})") from exc


def read_file(path: str) -> list[LayerData]:
    """Read one ISMRMRD file into layer data (raises the engine's errors).

    Parameters
    ----------
    path
        ISMRMRD raw data (a k-space layer) or ISMRMRD images (an image layer).

    Returns
    -------
    list of tuple
        ``[(data, kwargs, "image")]`` with the complex master in ``kwargs["metadata"]``.

    Raises
    ------
    recon_engine.errors.ReconError
        Unreadable or unusable file.
    """
    from napari_mrrecon.layers.views import image_layer

    name = Path(path).stem
    if _holds_raw_data(path):
        import recon_engine

        return [raw_layer(recon_engine.read(path), name)]
    from recon_engine.io.ismrmrd_images import read_ismrmrd_images

    image = read_ismrmrd_images(path)
    data, kwargs = image_layer(image, name)
    kwargs["metadata"] = {METADATA_KEY: ReconResult(image=image, name=name)}
    return [(data, kwargs, "image")]


def read_all(path: PathOrPaths, read_one: Callable[[str], list[LayerData]]) -> list[LayerData]:
    """Layers of every file ``read_one`` can read; engine errors become notifications.

    A file the engine rejects (truncated, corrupt, inconsistent, ...) gives an error
    notification and no layer, so the GUI stays usable.

    Returns
    -------
    list of tuple
        Layer data; ``[(None,)]`` (napari's "empty file") when nothing could be read.
    """
    from napari.utils.notifications import show_error

    from recon_engine.errors import ReconError

    layers: list[LayerData] = []
    for p in as_list(path):
        try:
            layers.extend(read_one(p))
        except ReconError as exc:
            show_error(f"napari-mrrecon cannot open {Path(p).name}: {exc}")
    return layers or [(None,)]


def read_layers(path: PathOrPaths) -> list[LayerData]:
    """Reader function for ISMRMRD files (see :func:`read_all` for errors).

    Parameters
    ----------
    path
        One path or a list of paths.

    Returns
    -------
    list of tuple
        Layer data; ``[(None,)]`` (napari's "empty file") when nothing could be read.
    """
    return read_all(path, read_file)
