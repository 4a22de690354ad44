"""Writer of BART's ``.cfl``/``.hdr`` arrays (the reader is :func:`recon_engine.io.cfl.read_cfl`).

``NAME.hdr`` holds ``# Dimensions`` and the sizes; ``NAME.cfl`` the complex64 values in
column-major (Fortran) order, BART's dimension order ``(x, y, z, coils, maps, ...)``. A
C-ordered array ``(coils, z, y, x)`` is therefore passed as its transpose ``arr.T``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["write_cfl"]


def write_cfl(base: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` (BART dimension order) as ``base.hdr`` + ``base.cfl``.

    Parameters
    ----------
    base
        Path without extension.
    array
        Any numeric array, at most 16 dimensions; written as complex64.

    Returns
    -------
    Path
        ``base`` (what BART's command line expects).
    """
    b = Path(base)
    arr = np.asarray(array, dtype=np.complex64)
    dims = list(arr.shape) or [1]
    dims += [1] * max(0, 5 - len(dims))
    b.with_suffix(".hdr").write_text(
        "# Dimensions\n" + " ".join(str(d) for d in dims) + "\n", encoding="ascii"
    )
    arr.ravel(order="F").astype("<c8", copy=False).tofile(b.with_suffix(".cfl"))
    return b
