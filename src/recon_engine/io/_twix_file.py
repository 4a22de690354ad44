"""Siemens twix files: signature, truncation checks, ``twixtools`` parsing, samples.

Helpers of :mod:`recon_engine.io.twix`. ``twixtools`` is lenient: on a truncated copy
it parses garbage or prints a warning and goes on, so the measurement extents declared
in the file are checked first, its printed warnings are turned into
:class:`~recon_engine.errors.FileFormatError`, and every readout must lie inside the file
and the measurement must end with its ACQEND block. Samples are read here, straight
from the (read-only) file.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from recon_engine.errors import FileFormatError

__all__ = ["is_twix", "parse_twix", "read_samples"]

_INSTALL = "reading Siemens .dat needs twixtools: pip install napari-mrrecon[twix]"
_RAID_HEADER = 10240  # bytes reserved for the VD/VE multi-raid header
_NAME = re.compile(rb"\w{4,}\x00")
_PRINTABLE = re.compile(rb"[\x20-\x7e]{1,64}")
_MAX_OFFSET = 1 << 40


def _twixtools() -> Any:
    try:
        import twixtools
    except ImportError as exc:
        raise FileFormatError(_INSTALL) from exc
    return twixtools


def _signature(path: Path) -> tuple[str, list[tuple[int, int]]] | None:
    """``("VD/VE" | "VB", [(offset, length) per measurement])`` from the file's first bytes."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(_RAID_HEADER)
        if len(head) < 16:
            return None
        first, second = (int(v) for v in np.frombuffer(head[:8], dtype="<u4"))
        if first < 10000 and 0 < second <= 64:  # VD/VE: multi-raid header
            if len(head) < 8 + 152 * second:
                return None
            entries = np.frombuffer(
                head[8 : 8 + 152 * second],
                dtype=np.dtype([("ids", "<u4", 2), ("off", "<u8"), ("len", "<u8"), ("names", "V128")]),
            )
            raids = [(int(e["off"]), int(e["len"])) for e in entries]
            if raids[0][0] < len(head) or raids[0][0] >= _MAX_OFFSET:
                return None
            if raids[0][0] >= size:  # truncated inside the measurements: trust a readable protocol name
                name = bytes(entries[0]["names"])[64:].split(b"\x00", 1)[0]
                return ("VD/VE", raids) if name and _PRINTABLE.fullmatch(name) else None
            f.seek(raids[0][0] + 8)
            return ("VD/VE", raids) if _NAME.match(f.read(64)) else None
        if first >= 32 and 0 < second <= 64 and _NAME.match(head[8:72]):  # VB: header length first
            return "VB", [(0, size)]
    return None


def is_twix(path: str | os.PathLike[str]) -> bool:
    """Check cheaply whether a file is Siemens twix (VB or VD/VE); never raises."""
    try:
        p = Path(path)
        return p.is_file() and _signature(p) is not None
    except Exception:
        return False


_ACQEND, _SYNCDATA = 1 << 0, 1 << 5  # EvalInfoMask bits
#: (header bytes, EvalInfoMask offset, SamplesInScan offset, per-channel header bytes) of VD/VE and VB
_MDH = {True: (192, 40, 48, 32), False: (128, 20, 28, 128)}


def _scan_readouts(p: Path, f: Any, start: int, end: int, ve: bool, k: int) -> int:
    """Walk the readout headers of one measurement as twixtools will, refusing impossible ones.

    twixtools steps from one measurement data header (mdh) to the next by the length each
    declares and trusts it: a zero length (a zeroed block in a VB file, a SYNCDATA header with
    a zeroed length) makes it loop for ever, and a length beyond the file makes it read past
    the end. Each step here must be at least one header long and end inside the measurement,
    so the walk takes at most ``(end - start) / 128`` steps. Returns the number of headers.
    """
    head, mask_at, ns_at, per_channel = _MDH[ve]
    pos, count = start, 0
    while pos + 128 < end:  # twixtools' own loop condition
        f.seek(pos)
        raw = f.read(head)
        if len(raw) < head:
            raise FileFormatError(f"{p}: truncated twix file: the readout header at byte {pos} is incomplete")
        word = int.from_bytes(raw[0:4], "little")
        mask = int.from_bytes(raw[mask_at : mask_at + 8], "little")
        samples = int.from_bytes(raw[ns_at : ns_at + 2], "little")
        channels = int.from_bytes(raw[ns_at + 2 : ns_at + 4], "little")
        count += 1
        if mask & _ACQEND:
            return count
        if word == 0 and mask == 0 and samples == 0 and channels == 0:
            raise FileFormatError(
                f"{p}: damaged twix file: measurement {k + 1} has a blank (zeroed) readout header "
                f"at byte {pos}"
            )
        if mask & _SYNCDATA:
            step = word % (1 << 25)
        else:
            step = channels * (per_channel + 8 * samples) + (head if ve else 0)
        if step < head or pos + step > end:
            raise FileFormatError(
                f"{p}: damaged twix file: the readout header at byte {pos} of measurement {k + 1} declares "
                f"{channels} channels × {samples} samples ({step} bytes), which does not fit the "
                f"measurement (bytes {start}..{end})"
            )
        pos += step
    return count


def _check_readouts(p: Path, version: str, raids: list[tuple[int, int]]) -> None:
    size = p.stat().st_size
    with open(p, "rb") as f:
        for k, (off, length) in enumerate(raids):
            end = off + (length or (size - off if len(raids) == 1 else 0))
            f.seek(off)
            hdr_len = int(np.frombuffer(f.read(4), dtype="<u4")[0])
            _scan_readouts(p, f, off + hdr_len, min(end, size), version == "VD/VE", k)


def _check_extent(p: Path) -> str:
    """Version string; raises for a missing, non-twix or truncated file."""
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    if p.is_dir():
        raise FileFormatError(f"{p}: is a directory, not a Siemens twix file")
    sig = _signature(p)
    if sig is None:
        raise FileFormatError(f"{p}: not a Siemens twix file (no VB or VD/VE measurement header)")
    version, raids = sig
    size = p.stat().st_size
    for k, (off, length) in enumerate(raids):
        end = off + (length or (size - off if len(raids) == 1 else 0))
        if off + 8 > size or end > size:
            raise FileFormatError(
                f"{p}: truncated twix file: measurement {k + 1} of {len(raids)} ends at byte {end} "
                f"but the file has {size} bytes"
            )
        with open(p, "rb") as f:
            f.seek(off)
            hdr_len = int(np.frombuffer(f.read(4), dtype="<u4")[0])
        if off + hdr_len > size:
            raise FileFormatError(
                f"{p}: truncated twix file: the protocol of measurement {k + 1} is incomplete"
            )
    return version


@contextlib.contextmanager
def _dat_name(p: Path) -> Iterator[str]:
    """Give twixtools a name with a suffix (it appends ``.dat`` to names without one)."""
    if p.suffix:
        yield str(p)
        return
    with tempfile.TemporaryDirectory() as d:
        link = Path(d) / "raw.dat"
        os.symlink(p.resolve(), link)
        yield str(link)


def parse_twix(p: Path, *, parse_data: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Run ``twixtools.read_twix`` quietly and turn its failures into :class:`FileFormatError`."""
    twixtools = _twixtools()
    version = _check_extent(p)
    if parse_data:
        sig = _signature(p)
        if sig is not None:
            _check_readouts(p, version, sig[1])
    out = io.StringIO()
    try:
        with _dat_name(p) as name, warnings.catch_warnings(), contextlib.redirect_stdout(out):
            warnings.simplefilter("ignore")
            scans = twixtools.read_twix(
                name,
                parse_data=parse_data,
                parse_pmu=False,
                parse_geometry=False,
                verbose=False,
                keep_acqend=True,
                keep_syncdata=False,
            )
    except Exception as exc:
        raise FileFormatError(f"{p}: corrupt or truncated twix file ({type(exc).__name__}: {exc})") from exc
    log = out.getvalue()
    if "Error parsing twix header" in log:
        raise FileFormatError(f"{p}: corrupt or truncated twix file (the protocol header cannot be parsed)")
    if "Mdb parsing encountered an error" in log:
        raise FileFormatError(f"{p}: corrupt or truncated twix file (a readout header cannot be parsed)")
    if not scans:
        raise FileFormatError(f"{p}: twix file holds no measurement")
    if parse_data:
        size = p.stat().st_size
        for k, s in enumerate(scans):
            mdbs = s["mdb"]
            if not mdbs or not mdbs[-1].is_flag_set("ACQEND"):
                raise FileFormatError(
                    f"{p}: truncated twix file: measurement {k + 1} of {len(scans)} has no "
                    "end-of-acquisition marker (copy incomplete?)"
                )
            if any(int(m.mem_pos) + int(m.dma_len) > size for m in mdbs if not m.is_flag_set("ACQEND")):
                raise FileFormatError(f"{p}: truncated twix file: readouts extend past the end of the file")
    return version, scans


def read_samples(f: Any, mdb: Any, ve: bool) -> np.ndarray:
    """complex64 ``(channels, samples)`` of one readout, read from the open file."""
    ch, ns = int(mdb.mdh.UsedChannels), int(mdb.mdh.SamplesInScan)
    f.seek(int(mdb.mem_pos) + (192 if ve else 0))
    block = np.dtype([("head", "V32" if ve else "V128"), ("data", "<c8", (ns,))])
    raw = f.read(block.itemsize * ch)
    if len(raw) < block.itemsize * ch:
        raise FileFormatError(
            f"{f.name}: truncated twix file: readout {int(mdb.mdh.ScanCounter)} is incomplete"
        )
    return np.array(np.frombuffer(raw, dtype=block, count=ch)["data"], dtype=np.complex64)
