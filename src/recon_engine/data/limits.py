"""Size guards: what a file's header or counters imply must fit what the file holds and the memory.

A damaged header or counter (an encoding counter of 65535, a matrix size of 10¹²) must not make
the engine allocate tens of gigabytes or run for minutes on an almost empty grid. Readers and
reconstructions call :func:`check_allocation` with the shape they are about to allocate, *before*
allocating, and :func:`check_fill` with the number of grid positions a file's counters imply
against the number of readouts it holds. Both raise :class:`~recon_engine.errors.DataError` (or the
error class given) naming the field and the value.

The limit is :data:`MAX_ALLOCATION_BYTES` (16 GiB), overridable by assigning the module attribute
or by the environment variable ``MRRECON_MAX_ALLOCATION_GB`` (read at each check).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from recon_engine.errors import DataError, ReconError

__all__ = [
    "MAX_ALLOCATION_BYTES",
    "MAX_EMPTY_FACTOR",
    "MIN_CHECKED_POSITIONS",
    "allocation_limit",
    "check_allocation",
    "check_fill",
    "format_bytes",
]

#: largest single array (bytes) the engine allocates for one input (16 GiB)
MAX_ALLOCATION_BYTES: int = 16 << 30
#: a grid may have at most this many readout positions per readout the file holds
MAX_EMPTY_FACTOR: int = 64
#: grids of up to this many readout positions are never called too sparse (small test data)
MIN_CHECKED_POSITIONS: int = 4096


def allocation_limit() -> int:
    """The limit in bytes: ``MRRECON_MAX_ALLOCATION_GB`` when set, else :data:`MAX_ALLOCATION_BYTES`."""
    env = os.environ.get("MRRECON_MAX_ALLOCATION_GB")
    if env:
        try:
            value = float(env)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value > 0:
            return int(value * 2**30)
    return int(MAX_ALLOCATION_BYTES)


def format_bytes(n: float) -> str:
    """``"6.7 GiB"``, ``"512 MiB"``, ``"12 kiB"``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("kiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def check_allocation(
    shape: Sequence[int],
    dtype: np.dtype | type | str,
    what: str,
    *,
    error: type[ReconError] = DataError,
) -> int:
    """Raise when an array of ``shape`` and ``dtype`` would exceed the allocation limit.

    Parameters
    ----------
    shape
        The shape about to be allocated (Python ints; no overflow).
    dtype
        Its element type.
    what
        What implies the size, for the message (e.g. ``"file.h5: k-space (counters ...)"``).
    error
        The error class raised.

    Returns
    -------
    int
        The size in bytes.
    """
    dims = [int(s) for s in shape]
    if any(d < 0 for d in dims):
        raise error(f"{what}: negative size {tuple(dims)}")
    nbytes = math.prod(dims) * np.dtype(dtype).itemsize
    limit = allocation_limit()
    if nbytes > limit:
        raise error(
            f"{what}: would need an array of {' × '.join(map(str, dims))} ({format_bytes(nbytes)}), more "
            f"than the limit of {format_bytes(limit)} (MRRECON_MAX_ALLOCATION_GB); the header or counters "
            "are probably damaged"
        )
    return nbytes


def check_fill(positions: int, readouts: int, what: str, *, error: type[ReconError] = DataError) -> None:
    """Raise when a grid of ``positions`` readout positions would hold only ``readouts`` readouts.

    Real undersampling leaves at most a few dozen positions empty per acquired readout; a
    damaged counter (65535) or matrix size makes the grid thousands of times larger than the
    data. Grids of up to :data:`MIN_CHECKED_POSITIONS` positions are always accepted.
    """
    if positions > max(MIN_CHECKED_POSITIONS, MAX_EMPTY_FACTOR * max(readouts, 1)):
        raise error(
            f"{what}: implies {positions} readout positions but the file holds {readouts} readouts "
            f"(more than {MAX_EMPTY_FACTOR} empty positions per readout); the value is probably damaged"
        )
