"""Load a Pulseq ``.seq`` file with pypulseq, made safe for versions 1.2–1.5 and bad input.

pypulseq (1.5.0) parses every format version from 1.2.0 on and converts the older ones
itself (block durations from the ``[DELAYS]`` of 1.2/1.3, RF use detection, gradient
``first``/``last``). Three of its faults are worked around here, in memory, without
touching the file:

1. **Endless loop** — its ``[SHAPES]`` reader never stops when the file ends right
   after the last shape sample (no blank line; KomaMRI writes such files, and a file cut
   inside ``[SHAPES]`` looks the same). The text handed over always ends with a blank line.
2. **Version 1.2/1.3 shapes of exactly ``num_samples`` values** (a compressed shape that
   happens to be as long as the waveform, e.g. a spiral gradient) crash its conversion
   (``TypeError``: it subtracts two Python lists). Such a shape gets three more values
   ``x, x, -2``: a run of length 0 in the run-length code, which decodes to nothing, so
   the shape decodes to the same waveform but no longer looks uncompressed.
3. **``remove_duplicates``** fails on version 1.5.1 gradients with oversampled time
   shapes (``time_shape_id`` −1); duplicate events are harmless, so it is not run.

RF pulses of files older than 1.5 carry no "use" (excitation, refocusing): pypulseq's
``detect_rf_use`` classifies them by flip angle, as MATLAB Pulseq does, so that the
k-space of spin echoes is right. pypulseq's warnings while reading (old version, default
raster times) are kept as notes instead of being raised, and so is an MD5 ``[SIGNATURE]``
that does not match the content. After reading, every event a block names must exist
and every shape must decode to its ``num_samples`` (this catches most truncated files).
Any failure, and versions outside 1.2–1.5, become
:class:`~recon_engine.errors.FileFormatError` with a one-line message naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from recon_engine.errors import FileFormatError

__all__ = ["SUPPORTED_VERSIONS", "load_sequence", "parse_definitions", "parse_version"]

#: (major, minor) of the Pulseq formats this reader accepts.
SUPPORTED_VERSIONS: tuple[tuple[int, int], ...] = ((1, 2), (1, 3), (1, 4), (1, 5))
_MAX_SHAPE = 10_000_000  # samples (10 s at 1 µs); more is a damaged number, not a waveform
_STALE_S = 3600.0  # temporary copies older than this are left-overs of killed runs


def _section(text: str, name: str) -> list[str] | None:
    """Stripped lines of a ``[NAME]`` section up to the next section, or None if absent."""
    m = re.search(rf"^\s*\[{name}\]\s*$", text, flags=re.MULTILINE)
    if m is None:
        return None
    out = []
    for line in text[m.end() :].splitlines():
        s = line.strip()
        if s.startswith("["):
            break
        if s and not s.startswith("#"):
            out.append(s)
    return out


def parse_version(text: str, where: str) -> tuple[int, int, int]:
    """``(major, minor, revision)`` of the ``[VERSION]`` section.

    Raises
    ------
    FileFormatError
        No ``[VERSION]`` section, or one without numbers.
    """
    lines = _section(text, "VERSION")
    if lines is None:
        raise FileFormatError(f"{where}: no [VERSION] section; this is not a Pulseq sequence file")
    found: dict[str, int] = {}
    for line in lines:
        tok = line.split()
        m = re.match(r"\d+", tok[1]) if len(tok) > 1 else None
        if tok[0] in ("major", "minor", "revision") and m is not None:
            found[tok[0]] = int(m.group())
    if "major" not in found or "minor" not in found:
        raise FileFormatError(f"{where}: the [VERSION] section gives no major/minor version number")
    return found["major"], found["minor"], found.get("revision", 0)


def _number(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return None


def parse_definitions(text: str) -> dict[str, Any]:
    """The ``[DEFINITIONS]`` section: numbers as float (several as a tuple), the rest as str."""
    out: dict[str, Any] = {}
    for line in _section(text, "DEFINITIONS") or []:
        key, _, rest = line.partition(" ")
        values = [_number(t) for t in rest.split()]
        if values and all(v is not None for v in values):
            nums = tuple(float(v) for v in values if v is not None)
            out[key] = nums[0] if len(nums) == 1 else nums
        else:
            out[key] = rest.strip()
    return out


def _pad_old_shapes(text: str) -> str:
    """Shim 2 (see the module docstring): give 1.2/1.3 shapes of ``num_samples`` values a no-op run.

    Text that does not parse is returned unchanged (pypulseq then reports it).
    """
    try:
        return _padded(text)
    except (ValueError, IndexError):
        return text


def _padded(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    in_shapes = False
    expected: int | None = None
    values: list[str] = []

    def flush() -> None:
        nonlocal expected
        if expected is not None and len(values) == expected and values:
            x = "0" if float(values[-1]) != 0.0 else "1"
            out.extend([x, x, "-2"])
        expected = None
        values.clear()

    for line in lines:
        s = line.strip()
        if s.startswith("["):
            flush()
            in_shapes = s == "[SHAPES]"
        elif in_shapes and s.startswith("num_samples"):
            expected = int(s.split()[1])
        elif in_shapes and s.startswith("shape_id"):
            flush()
        elif in_shapes and expected is not None and s and not s.startswith("#"):
            values.append(s)
        elif in_shapes and not s:
            flush()
        out.append(line)
    flush()
    return "\n".join(out)


def _decoded_length(values: list[float], num_samples: int) -> int | None:
    """Length pypulseq's ``decompress_shape`` gives a compressed shape, or None if it cannot decode it.

    The run-length code marks a run by two equal values followed by the repeat count minus 2;
    this follows the same steps without building the waveform (bounded by ``len(values)``).
    """
    n = len(values)
    markers = [i for i in range(n - 1) if values[i + 1] == values[i]]
    packed = unpacked = 0
    for m in markers:
        gap = m - packed
        if gap < 0:
            continue
        packed, unpacked = packed + gap, unpacked + gap
        if packed + 2 >= n:
            return None
        rep = values[packed + 2] + 2
        if rep != int(rep) or rep < 0:
            return None
        packed += 3
        unpacked += int(rep)
        if unpacked > num_samples:
            return None
    if packed <= n - 1:
        unpacked += n - packed
    return unpacked


def check_shapes(text: str, where: str, *, old: bool) -> None:
    """Refuse a ``[SHAPES]`` section that pypulseq would misread, before it reads it.

    Each shape needs ``shape_id`` and ``num_samples`` (1 to 10⁷) lines, finite values, and
    values that decode to exactly ``num_samples`` samples (stored uncompressed when there are
    ``num_samples`` values; in versions before 1.4 such shapes are compressed, see shim 2).
    A wrong length would otherwise make pypulseq allocate and process the claimed length.

    Raises
    ------
    FileFormatError
        Naming the shape and what is wrong.
    """
    lines = _section(text, "SHAPES")
    if not lines:
        return
    shapes: list[tuple[str, str, list[str]]] = []
    for line in lines:
        tok = line.split()
        if tok[0] == "shape_id":
            shapes.append((line, "", []))
        elif tok[0] == "num_samples" and shapes and not shapes[-1][1]:
            shapes[-1] = (shapes[-1][0], line, [])
        elif shapes and shapes[-1][1]:
            shapes[-1][2].append(line)
        else:
            raise FileFormatError(f"{where}: [SHAPES] line {line[:40]!r} is outside a shape definition")
    for id_line, n_line, raw in shapes:
        name = id_line.split()[1] if len(id_line.split()) > 1 else "?"
        try:
            n = int(n_line.split()[1])
        except (IndexError, ValueError):
            raise FileFormatError(f"{where}: shape {name} has no valid num_samples line") from None
        if not 0 < n <= _MAX_SHAPE:
            raise FileFormatError(
                f"{where}: shape {name} claims {n} samples (1 to {_MAX_SHAPE} are possible)"
            )
        try:
            values = [float(v) for v in raw]
        except ValueError:
            raise FileFormatError(f"{where}: shape {name} holds a value that is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise FileFormatError(f"{where}: shape {name} holds a NaN or infinite value")
        if len(values) == n and not old:
            continue
        decoded = _decoded_length(values, n)
        if decoded != n and not (old and len(values) == n):
            got = "cannot be decoded" if decoded is None else f"decodes to {decoded} samples"
            raise FileFormatError(
                f"{where}: shape {name} {got}, but its num_samples says {n} (wrong length or damaged values)"
            )


@contextlib.contextmanager
def _readable_copy(text: str) -> Iterator[str]:
    """A path pypulseq can ``open()`` holding ``text``: an anonymous in-memory file where Linux has one.

    ``os.memfd_create`` leaves nothing on disk, even when the process is killed; elsewhere a
    temporary directory ``mrrecon_seq_*`` is used, and left-overs of killed runs older than an
    hour are removed first.
    """
    data = text.encode("utf-8")
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        fd = os.memfd_create("mrrecon_seq")
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    _remove_stale_copies()
    with tempfile.TemporaryDirectory(prefix="mrrecon_seq_") as tmp:
        copy = Path(tmp) / "sequence.seq"
        copy.write_bytes(data)
        yield str(copy)


def _remove_stale_copies() -> None:
    now = time.time()
    for d in Path(tempfile.gettempdir()).glob("mrrecon_seq_*"):
        with contextlib.suppress(OSError):
            if d.is_dir() and now - d.stat().st_mtime > _STALE_S:
                shutil.rmtree(d, ignore_errors=True)


def _close_left_open(exc: BaseException, name: str) -> None:
    """Close the file pypulseq opened on ``name`` and left open when it raised (no ResourceWarning)."""
    tb = exc.__traceback__
    while tb is not None:
        for v in list(tb.tb_frame.f_locals.values()):
            if isinstance(v, io.IOBase) and getattr(v, "name", None) == name:
                with contextlib.suppress(Exception):
                    v.close()
        tb = tb.tb_next


#: definitions pypulseq turns into raster times (it keeps a non-number as text and multiplies it)
_RASTERS = ("AdcRasterTime", "BlockDurationRaster", "GradientRasterTime", "RadiofrequencyRasterTime")


def check_definitions(definitions: dict[str, Any], where: str) -> None:
    """Raster times in ``[DEFINITIONS]`` must be positive numbers (seconds, at most 1 s).

    Raises
    ------
    FileFormatError
        Naming the definition and its value.
    """
    for key in _RASTERS:
        if key not in definitions:
            continue
        v = definitions[key]
        if not isinstance(v, float) or not math.isfinite(v) or not 0 < v <= 1.0:
            raise FileFormatError(f"{where}: [DEFINITIONS] {key} = {v!r} is not a raster time in seconds")


def _signature_note(raw: bytes, text: str) -> tuple[str, ...]:
    """A note when the file's MD5 signature does not match its content (edited after writing)."""
    end = raw.find(b"\n[SIGNATURE]")
    if end < 0:
        return ()
    fields = dict(line.split(None, 1) for line in (_section(text, "SIGNATURE") or []) if " " in line)
    if fields.get("Type", "").strip().lower() != "md5" or "Hash" not in fields:
        return ()
    digest = hashlib.md5(raw[:end], usedforsecurity=False).hexdigest()
    if digest == fields["Hash"].strip().lower():
        return ()
    return ("the MD5 signature does not match the content: the file was changed after it was written",)


#: most samples of one ADC: ISMRMRD's number_of_samples and twix's samples-in-scan are uint16
_MAX_ADC_SAMPLES = 65535
#: columns of a decoded block row: duration, RF, Gx, Gy, Gz, ADC, extension
_BLOCK_COLUMNS = 7


def _check_references(seq: Any, where: str) -> None:
    """Every event a block names exists, and every stored shape decodes."""
    from pypulseq.decompress_shape import decompress_shape

    libraries = {
        1: ("RF", seq.rf_library.data),
        2: ("gradient", seq.grad_library.data),
        3: ("gradient", seq.grad_library.data),
        4: ("gradient", seq.grad_library.data),
        5: ("ADC", seq.adc_library.data),
        6: ("extension", seq.extensions_library.data),
    }
    for block_id, ids in seq.block_events.items():
        if len(ids) != _BLOCK_COLUMNS:  # a truncated or merged [BLOCKS] line
            raise FileFormatError(
                f"{where}: block {block_id} has {len(ids)} event columns instead of {_BLOCK_COLUMNS} "
                "(duration, RF, Gx, Gy, Gz, ADC, extension)"
            )
        for column, (kind, lib) in libraries.items():
            event = int(ids[column])
            if event and event not in lib:
                raise FileFormatError(
                    f"{where}: block {block_id} refers to {kind} event {event}, which is not defined"
                )
    for adc_id, data in seq.adc_library.data.items():
        n, dwell, delay = (float(v) for v in data[:3])
        if not (math.isfinite(n) and n == int(n) and 0 < n <= _MAX_ADC_SAMPLES):
            raise FileFormatError(
                f"{where}: ADC event {adc_id} has {n:g} samples (a readout holds 1 to "
                f"{_MAX_ADC_SAMPLES}: the number field of ISMRMRD and twix readouts is 16 bits)"
            )
        if not (math.isfinite(dwell) and dwell > 0 and math.isfinite(delay) and delay >= 0):
            raise FileFormatError(f"{where}: ADC event {adc_id} has dwell {dwell:g} s, delay {delay:g} s")
    for shape_id, data in seq.shape_library.data.items():
        n = int(data[0])
        if not 0 < n <= _MAX_SHAPE:
            raise FileFormatError(f"{where}: shape {shape_id} claims {n} samples")
        try:
            w = decompress_shape(SimpleNamespace(data=np.asarray(data[1:], dtype=float), num_samples=n))
        except (AssertionError, ValueError, IndexError) as exc:
            why = str(exc) or "its run-length code does not add up"
            raise FileFormatError(f"{where}: shape {shape_id} is damaged ({why})") from exc
        if len(w) != n or not np.all(np.isfinite(w)):
            raise FileFormatError(f"{where}: shape {shape_id} does not decode to its {n} samples")


def load_sequence(path: Path) -> tuple[Any, tuple[int, int, int], dict[str, Any], tuple[str, ...]]:
    """Read a ``.seq`` with pypulseq.

    Returns
    -------
    sequence, version, definitions, notes
        The ``pypulseq.Sequence``, ``(major, minor, revision)``, the ``[DEFINITIONS]`` as
        written in the file, and pypulseq's warnings while reading.

    Raises
    ------
    FileFormatError
        Missing/unreadable file, unsupported version, or a file pypulseq cannot parse.
    """
    import pypulseq as pp

    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"{where}: cannot read the file ({exc.strerror or exc})") from exc
    if b"\0" in raw[:4096]:
        raise FileFormatError(f"{where}: binary data, not a Pulseq text file")
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    version = parse_version(text, where)
    vtxt = ".".join(map(str, version))
    if version[:2] not in SUPPORTED_VERSIONS:
        raise FileFormatError(f"{where}: Pulseq version {vtxt} is not supported (versions 1.2 to 1.5 are)")
    signed = _section(text, "SIGNATURE") is not None
    hint = "" if signed or version[:2] < (1, 4) else "; it ends without a [SIGNATURE] and may be truncated"
    try:
        check_definitions(parse_definitions(text), where)
        check_shapes(text, where, old=version[:2] < (1, 4))
    except FileFormatError as exc:
        raise FileFormatError(f"{exc}{hint}") from None
    if version[:2] < (1, 4):
        text = _pad_old_shapes(text)
    seq = pp.Sequence()
    with _readable_copy(text.rstrip("\n") + "\n\n\n") as name, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            seq.read(name, detect_rf_use=version[:2] < (1, 5), remove_duplicates=False)
        except Exception as exc:  # pypulseq raises anything from ValueError to TypeError
            _close_left_open(exc, name)
            msg = str(exc).splitlines()[0] if str(exc) else "inconsistent content"
            raise FileFormatError(
                f"{where}: not a readable Pulseq {vtxt} file ({type(exc).__name__}: {msg}){hint}"
            ) from None
    if not seq.block_events:
        raise FileFormatError(f"{where}: no blocks; the file is empty or truncated before [BLOCKS]")
    try:
        _check_references(seq, where)
    except FileFormatError as exc:
        raise FileFormatError(f"{exc}{hint}") from exc
    notes = tuple(dict.fromkeys(str(w.message) for w in caught)) + _signature_note(raw, text)
    return seq, version, parse_definitions(text), notes
