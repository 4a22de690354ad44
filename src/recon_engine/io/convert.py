"""Convert raw data to ISMRMRD: ``mrrecon convert scan.dat [--seq scan.seq] -o scan.h5``.

The raw file (Siemens twix, or ISMRMRD itself) is read into readouts, a Pulseq ``.seq``
adds its trajectory, counters and reversed-readout flags, the readouts are sorted, and
:func:`~recon_engine.io.ismrmrd_write.write_ismrmrd` writes them (noise scans,
navigators, every sampled line, the trajectory when there is one) to a temporary file
that is renamed onto the output. The input is opened read-only and never replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

from recon_engine.errors import ExportError
from recon_engine.io.ismrmrd_write import write_ismrmrd
from recon_engine.io.sorting import sort_readouts

__all__ = ["convert"]


def convert(
    raw_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    seq: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write raw data (twix or ISMRMRD, optionally with its Pulseq ``.seq``) as ISMRMRD.

    Parameters
    ----------
    raw_path
        Siemens twix ``.dat`` or ISMRMRD ``.h5``/``.mrd``.
    out_path
        ISMRMRD output file (``.h5``/``.mrd``).
    seq
        Pulseq sequence that produced the data; its trajectory is written with the
        readouts (``trajectory_dimensions``, grid units).
    overwrite
        Replace an existing output file.

    Returns
    -------
    Path
        The written file (absolute).

    Raises
    ------
    FileFormatError, HeaderError, DataError
        Unreadable input, or a sequence that does not match the data.
    ExportError
        Output is the input file, exists without ``overwrite``, or cannot be written.
    """
    src, dst = Path(raw_path), Path(out_path).expanduser()
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise ExportError(f"{dst} is the input file; choose another output name")
    if dst.exists() and not overwrite:
        raise ExportError(f"{dst} already exists (pass overwrite=True / --overwrite to replace it)")
    from recon_engine.api import read_readouts  # format detection shared with mrrecon recon/info

    kspace = sort_readouts(read_readouts(src, seq=seq))
    return write_ismrmrd(kspace, dst, overwrite=overwrite)
