"""BART's ``.cfl``/``.hdr`` arrays: reader and writer.

A BART array is two files: ``NAME.hdr``, text with a ``# Dimensions`` line followed by the
sizes of (up to 16) dimensions, and ``NAME.cfl``, the raw complex64 (little-endian float32
pairs) values in column-major (Fortran) order. BART's dimension meaning: 0 read (x), 1 phase 1
(y), 2 phase 2 (z), 3 coils, 4 ESPIRiT map sets, 5 echoes/TE, ... As BART's own ``cfl.py``
does, trailing singleton dimensions are dropped.

Reference: M. Uecker et al., "BART toolbox for computational magnetic resonance imaging",
Zenodo, doi:10.5281/zenodo.592960.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from recon_engine.errors import FileFormatError

__all__ = ["read_cfl", "write_cfl"]


def _base(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".cfl", ".hdr") else p


def _dims(hdr: Path) -> list[int]:
    try:
        lines = hdr.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as exc:
        raise FileFormatError(f"cannot read BART header {hdr}: {exc.strerror or exc}") from None
    for i, line in enumerate(lines):
        if line.strip().lower() == "# dimensions":
            if i + 1 >= len(lines):
                break
            try:
                dims = [int(v) for v in lines[i + 1].split()]
            except ValueError:
                raise FileFormatError(
                    f"BART header {hdr} has a malformed '# Dimensions' line: {lines[i + 1]!r}"
                ) from None
            if not dims or any(d < 0 for d in dims):
                raise FileFormatError(f"BART header {hdr} has invalid dimensions {dims}")
            return dims
    raise FileFormatError(f"{hdr} is not a BART header: no '# Dimensions' line")


def read_cfl(base: str | os.PathLike[str]) -> np.ndarray:
    """Read a BART array.

    Parameters
    ----------
    base
        Path without extension (``.../ksp`` for ``ksp.cfl`` + ``ksp.hdr``); a path ending in
        ``.cfl`` or ``.hdr`` works too.

    Returns
    -------
    np.ndarray
        complex64 in BART's dimension order (``(x, y, z, coils, maps, ...)``), trailing
        singleton dimensions removed (at least one dimension is kept). The file is opened
        read-only.

    Raises
    ------
    FileFormatError
        A missing file, a header without dimensions, or a ``.cfl`` whose size does not match them.
    """
    b = _base(base)
    hdr, cfl = b.with_suffix(".hdr"), b.with_suffix(".cfl")
    for f in (hdr, cfl):
        if not f.is_file():
            raise FileFormatError(f"BART file {f} not found (an array needs both {b.name}.hdr and .cfl)")
    dims = _dims(hdr)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    n = math.prod(dims)
    size = cfl.stat().st_size
    if size != 8 * n:
        raise FileFormatError(
            f"{cfl} has {size} bytes but its header says {' × '.join(map(str, dims))} complex64 "
            f"values ({8 * n} bytes): truncated or not a BART array"
        )
    with open(cfl, "rb") as fh:
        data = np.fromfile(fh, dtype="<c8", count=n)
    return data.astype(np.complex64, copy=False).reshape(dims, order="F")


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
