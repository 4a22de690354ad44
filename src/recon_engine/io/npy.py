"""NumPy ``.npy`` export of the complex image (no geometry)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from recon_engine.data.image import ImageData
from recon_engine.errors import ExportError
from recon_engine.io._atomic import atomic_file

__all__ = ["write_npy"]


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
