"""NumPy ``.npy``: export of the complex image (no geometry) and a guarded reader."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from recon_engine.data.image import ImageData
from recon_engine.data.limits import check_allocation
from recon_engine.errors import ExportError, FileFormatError
from recon_engine.io._atomic import atomic_file

__all__ = ["read_npy", "write_npy"]


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a numeric ``.npy`` array, checking its header against the file before reading.

    The header's shape and type must describe at most the bytes the file holds (a damaged
    shape such as ``(4294967296, 16, 16)`` would otherwise be allocated first) and fit the
    allocation limit; object arrays are refused (no pickles).

    Raises
    ------
    FileFormatError
        Missing, truncated or damaged file, non-numeric type.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
            offset = f.tell()
    except Exception as exc:  # numpy raises ValueError, SyntaxError, tokenize errors, EOFError ...
        raise FileFormatError(f"{p} is not a readable .npy file ({type(exc).__name__}: {exc})") from exc
    if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise FileFormatError(f"{p}: .npy of type {dtype} is not a numeric array")
    nbytes = check_allocation(shape, dtype, f"{p}: .npy array of shape {shape}", error=FileFormatError)
    if offset + nbytes > size:
        raise FileFormatError(
            f"{p}: truncated .npy file: shape {shape} of {dtype} needs {nbytes} bytes after its "
            f"{offset}-byte header, the file has {size} bytes"
        )
    try:
        return np.asarray(np.load(p, allow_pickle=False))
    except Exception as exc:
        raise FileFormatError(f"{p} is not a readable .npy file ({type(exc).__name__}: {exc})") from exc


def write_npy(image: ImageData, path: str | os.PathLike[str], *, overwrite: bool = True) -> list[Path]:
    """Write the complex64 image with singleton axes removed.

    Parameters
    ----------
    image
        ``(*other, coils, z, y, x)`` complex image.
    path
        Output file ending in ``.npy``.
    overwrite
        Replace an existing file.

    Returns
    -------
    list of Path
        The written file. Its array is :meth:`ImageData.squeezed`: a single 2D slice is
        ``(y, x)``, a coil-combined 3D volume ``(z, y, x)``, and so on; complex64.

    Raises
    ------
    ExportError
        Wrong extension, missing directory, or existing file with ``overwrite=False``.
    """
    target = Path(path)
    if target.suffix.lower() != ".npy":
        raise ExportError(f"NumPy files end in .npy, not {target.name!r}")
    data = np.ascontiguousarray(image.squeezed(), dtype=np.complex64)
    with atomic_file(target, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        np.save(fh, data, allow_pickle=False)
    return [target.absolute()]
