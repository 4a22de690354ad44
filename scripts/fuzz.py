#!/usr/bin/env python
"""Seeded, structured fuzzing of the engine's file inputs (issue 13).

Every case takes one source file (the sample ISMRMRD files, the shared twix / Pulseq /
ISMRMRD files under ``../shared/data`` when present, and small generated image series as
``.npy``, NIfTI and DICOM), applies one seeded mutation (header XML field edits, counter and
MDH field edits, ``.seq`` section edits, truncation, zeroed blocks, byte flips) and runs
what ``mrrecon info``/``recon``/``fit`` run, in-process, in a forked child with a memory cap
(``RLIMIT_AS``) and a time limit. The time limit only *detects* hangs; the engine itself must
bound its loops by what the file holds.

Outcomes: ``success``, ``error`` (the engine's one-line error, exit status 2), ``crash`` (any
other exception or a signal), ``hang`` (killed at the time limit), ``over-memory``
(``MemoryError``/allocator failure under the cap). Flags per case: the input changed, a
partial output was left behind after a failure, and stderr lines beyond the one error line.

Usage::

    .venv/bin/python scripts/fuzz.py --n 10000 --seed 1 --timeout 30 --memory-gb 8
    .venv/bin/python scripts/fuzz.py --n 500 --save-failures tests/data/fuzz

Every failing case can be saved (``--save-failures DIR``) as a small JSON regression file:
the source, the byte patches that turn it into the damaged file, the command and the
outcome; ``tests/engine/io/test_fuzz_regressions.py`` replays them.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUTCOMES = ("success", "error", "crash", "hang", "over-memory")
FAILURES = ("crash", "hang", "over-memory")

# --------------------------------------------------------------------------- sources

_SHARED_FILES: dict[str, tuple[str, ...]] = {
    "ismrmrd": (
        "koma_simulated_mrd/Koma_signal.mrd",
        "koma_simulated_mrd/jemris_signals_epi_sphere_cs.h5",
        "jemris_spiral_ismrmrd_sim/signals_spiralout_clean_slc30.h5",
    ),
    "twix": ("twixtools_examples/gre.dat", "twixtools_examples/epi.dat"),
    "seq": (
        "koma_pulseq_read_comparison/v1.2/fid.seq",
        "koma_pulseq_read_comparison/v1.3/gre.seq",
        "koma_pulseq_read_comparison/v1.4/epi.seq",
        "koma_pulseq_read_comparison/v1.4/gr-uniformly-shaped.seq",
        "koma_pulseq_read_comparison/v1.5/gre.seq",
        "koma_pulseq_read_comparison/v1.5/rf-time-shaped.seq",
    ),
}
_EPI = "pulseq_mr_physics_course/07_echo_planar_imaging/data/04_01_epi_no_fat_sat"


@dataclass(frozen=True)
class Source:
    """One input: a single file, a raw file with its ``.seq`` (``twix+seq``), or a DICOM folder."""

    name: str  # "sample:phantom_R2.h5", "shared:twixtools_examples/gre.dat", "gen:t2.npy"
    kind: str  # ismrmrd, twix, twix+seq, seq, npy, nifti, dicom
    files: tuple[Path, ...]  # the files a mutation may touch (pair: data first, then .seq)


_T2_TIMES = (10.0, 25.0, 50.0, 90.0, 150.0, 250.0)


def _series() -> np.ndarray:
    """Deterministic T2 decay ``(6, 16, 16)`` float32 (two tissues and background)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[:16, :16]
    m0 = np.where((y - 8) ** 2 + (x - 8) ** 2 < 36, 1000.0, 0.0) + np.where(x < 4, 400.0, 0.0)
    t2 = np.where(x < 8, 60.0, 120.0)
    te = np.asarray(_T2_TIMES)[:, None, None]
    return (m0 * np.exp(-te / t2) + rng.normal(0, 5, (6, 16, 16))).astype(np.float32)


def _write_dicom(folder: Path, data: np.ndarray) -> None:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage

    folder.mkdir(parents=True, exist_ok=True)
    scaled = np.clip(np.rint(data), 0, 65535).astype(np.uint16)
    for i, te in enumerate(_T2_TIMES):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = UID(f"1.2.826.0.1.3680043.8.498.{i + 1}")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"IM{i + 1:05d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.100"
        ds.Modality = "MR"
        ds.EchoTime = f"{te:g}"
        ds.RepetitionTime = "5000"
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = ["0", "0", "0"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = ["1", "1"]
        ds.SliceThickness = "5"
        ds.set_pixel_data(scaled[i], "MONOCHROME2", 16)
        pydicom.dcmwrite(folder / f"IM{i + 1:05d}.dcm", ds, enforce_file_format=True)


def generated_sources(workdir: Path) -> list[Source]:
    """The image series the fit runs on, written into ``workdir`` (deterministic bytes)."""
    import nibabel as nib

    data = _series()
    workdir.mkdir(parents=True, exist_ok=True)
    npy = workdir / "t2.npy"
    np.save(npy, data)
    nii = workdir / "t2.nii"
    img = nib.Nifti1Image(np.transpose(data, (2, 1, 0))[:, :, None, :], np.eye(4))
    img.header.set_xyzt_units("mm")
    nib.save(img, nii)
    dcm = workdir / "t2_dicom"
    _write_dicom(dcm, data)
    return [
        Source("gen:t2.npy", "npy", (npy,)),
        Source("gen:t2.nii", "nifti", (nii,)),
        Source("gen:t2_dicom", "dicom", tuple(sorted(dcm.iterdir()))),
    ]


def all_sources(workdir: Path, *, shared: Path | None = SHARED) -> list[Source]:
    """Sample files, shared files that exist, and the generated series."""
    out = [Source(f"sample:{p.name}", "ismrmrd", (p,)) for p in sorted((ROOT / "sample_data").glob("*.h5"))]
    if shared is not None and shared.is_dir():
        for kind, names in _SHARED_FILES.items():
            out += [Source(f"shared:{n}", kind, (shared / n,)) for n in names if (shared / n).is_file()]
        dat, seq = shared / f"{_EPI}.dat", shared / f"{_EPI}.seq"
        if dat.is_file() and seq.is_file():
            out.append(Source(f"shared:{_EPI}", "twix+seq", (dat, seq)))
    return out + generated_sources(workdir / "generated")


def source_by_name(name: str, workdir: Path, *, shared: Path | None = SHARED) -> Source | None:
    """Rebuild one source by its name (None when its file is absent, e.g. no ``../shared``)."""
    for s in all_sources(workdir, shared=shared):
        if s.name == name:
            return s
    return None


# --------------------------------------------------------------------------- mutations

_XML_VALUES = ("nan", "NaN", "inf", "-1", "0", "1e12", "65536", "4294967296", "abc", "", "1e400", "-0.5")
_XML_FIELDS = (
    "matrixSize/x", "matrixSize/y", "matrixSize/z", "fieldOfView_mm/x", "fieldOfView_mm/y",
    "fieldOfView_mm/z", "receiverChannels", "accelerationFactor/kspace_encoding_step_1",
    "accelerationFactor/kspace_encoding_step_2", "maximum", "minimum", "center", "TR", "TE", "TI",
    "flipAngle_deg", "trajectory", "systemFieldStrength_T", "H1resonanceFrequency_Hz",
)  # fmt: skip
_HEAD_FIELDS = (
    ("idx", "kspace_encode_step_1"), ("idx", "kspace_encode_step_2"), ("idx", "slice"), ("idx", "contrast"),
    ("idx", "repetition"), ("idx", "average"), ("idx", "set"), ("idx", "phase"), ("idx", "segment"),
    ("number_of_samples", None), ("active_channels", None), ("trajectory_dimensions", None),
    ("center_sample", None), ("encoding_space_ref", None), ("discard_pre", None), ("discard_post", None),
    ("flags", None), ("sample_time_us", None), ("read_dir", None),
)  # fmt: skip


@dataclass
class Mutated:
    """The damaged input of a case: the file(s) to run on and what was done."""

    files: list[Path]
    what: str


def _rng_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, max(hi, lo + 1)))


def _bytes_mutation(kind: str, path: Path, rng: np.random.Generator) -> str:
    raw = bytearray(path.read_bytes())
    n = len(raw)
    if kind == "truncate":
        cut = _rng_int(rng, 0, n)
        path.write_bytes(bytes(raw[:cut]))
        return f"truncated at byte {cut} of {n}"
    if kind == "zero_block":
        length = int(rng.choice([16, 256, 4096, 65536]))
        start = _rng_int(rng, 0, max(n - 1, 1))
        raw[start : start + length] = bytes(len(raw[start : start + length]))
        path.write_bytes(bytes(raw))
        return f"zeroed {length} bytes at {start}"
    k = int(rng.choice([1, 4, 32]))
    spots = rng.integers(0, max(n, 1), k)
    for s in spots:
        raw[int(s)] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(raw))
    return f"flipped {k} bits at {sorted(int(s) for s in spots)[:8]}"


def _xml_edit(path: Path, rng: np.random.Generator) -> str:
    import h5py

    with h5py.File(path, "r+") as f:
        group = next(n for n in f if isinstance(f[n], h5py.Group) and "xml" in f[n])
        ds = f[group]["xml"]
        xml = ds[0].decode("utf-8", "replace") if isinstance(ds[0], bytes) else str(ds[0])
        name = str(rng.choice(_XML_FIELDS))
        leaf = name.rsplit("/", 1)[-1]
        parent = name.split("/")[0] if "/" in name else None
        pat = (
            rf"(<{parent}>(?:(?!</{parent}>).)*?<{leaf}>)([^<]*)(</{leaf}>)"
            if parent
            else rf"(<{leaf}>)([^<]*)(</{leaf}>)"
        )
        hits = list(re.finditer(pat, xml, flags=re.DOTALL))
        if not hits:
            return f"xml: no {name}"
        m = hits[_rng_int(rng, 0, len(hits))]
        if rng.random() < 0.15:
            new = xml[: m.start()] + m.group(1).rsplit(f"<{leaf}>", 1)[0] + xml[m.end() :]
            what = f"xml: removed {name}"
        else:
            value = str(rng.choice(_XML_VALUES))
            new = xml[: m.start()] + m.group(1) + value + m.group(3) + xml[m.end() :]
            what = f"xml: {name} = {value!r}"
        ds[0] = new.encode("utf-8")
    return what


def _head_edit(path: Path, rng: np.random.Generator) -> str:
    import h5py

    with h5py.File(path, "r+") as f:
        group = next(n for n in f if isinstance(f[n], h5py.Group) and "data" in f[n])
        ds = f[group]["data"]
        n = ds.shape[0]
        if n == 0:
            return "head: no acquisitions"
        heads = ds.fields("head")[:]
        top, sub = _HEAD_FIELDS[_rng_int(rng, 0, len(_HEAD_FIELDS))]
        col = heads[top] if sub is None else heads[top][sub]
        dt = col.dtype
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            value: Any = int(rng.choice([info.max, 0, info.max // 2, _rng_int(rng, 1, min(info.max, 4096))]))
        else:
            value = float(rng.choice([np.nan, np.inf, -1.0, 0.0, 1e30]))
        rows = np.arange(n) if rng.random() < 0.3 else rng.integers(0, n, _rng_int(rng, 1, 4))
        col[rows] = value
        for r in np.unique(rows):
            rec = ds[int(r)]
            rec["head"] = heads[int(r)]
            ds[int(r)] = rec
        field_name = top if sub is None else f"{top}.{sub}"
    return f"head: {field_name} = {value} in {len(np.unique(rows))} of {n} acquisitions"


def _twix_blocks(raw: bytes) -> tuple[bool, list[int]]:
    """(VE?, offsets of the measurement data headers of the last measurement), walked like twixtools."""
    first, second = (int(v) for v in np.frombuffer(raw[:8], "<u4"))
    ve = first < 10000 and 0 < second <= 64
    if ve:
        entries = np.frombuffer(
            raw[8 : 8 + 152 * second],
            dtype=[("ids", "<u4", 2), ("off", "<u8"), ("len", "<u8"), ("n", "V128")],
        )
        start, length = int(entries[-1]["off"]), int(entries[-1]["len"])
    else:
        start, length = 0, len(raw)
    end = min(start + length, len(raw))
    pos = start + int(np.frombuffer(raw[start : start + 4], "<u4")[0])
    heads: list[int] = []
    while pos + 128 < end and len(heads) < 100_000:
        word, mask = (
            int(np.frombuffer(raw[pos : pos + 4], "<u4")[0]),
            int(np.frombuffer(raw[pos + (40 if ve else 20) : pos + (48 if ve else 28)], "<u8")[0]),
        )
        ns, ch = (
            int(v) for v in np.frombuffer(raw[pos + (48 if ve else 28) : pos + (52 if ve else 32)], "<u2")
        )
        heads.append(pos)
        if mask & 1:
            break
        step = (
            word % (1 << 25) if mask & (1 << 5) else ch * ((32 if ve else 128) + 8 * ns) + (192 if ve else 0)
        )
        if step <= 0:
            break
        pos += step
    return ve, heads


def _mdh_field_offsets(ve: bool) -> dict[str, tuple[int, int]]:
    from twixtools import mdh_def

    hdr = mdh_def.Scan_header if ve else mdh_def.VB17_header
    out: dict[str, tuple[int, int]] = {}
    for name in (
        "FlagsAndDMALength",
        "EvalInfoMask",
        "SamplesInScan",
        "UsedChannels",
        "CenterCol",
        "CenterLin",
        "CenterPar",
        "CutOff",
    ):
        f = getattr(hdr, name)
        out[name] = (f.offset, f.size)
    counter = hdr.Counter
    ctype = dict(hdr._fields_)["Counter"]
    for name, _ in ctype._fields_:
        f = getattr(ctype, name)
        out[f"Counter.{name}"] = (counter.offset + f.offset, f.size)
    return out


def _mdh_edit(path: Path, rng: np.random.Generator) -> str:
    raw = bytearray(path.read_bytes())
    ve, heads = _twix_blocks(bytes(raw))
    if not heads:
        return "mdh: no readout headers"
    fields = _mdh_field_offsets(ve)
    name = str(rng.choice(sorted(fields)))
    off, size = fields[name]
    top = (1 << (8 * size)) - 1
    value = int(rng.choice([0, top, top // 2, _rng_int(rng, 1, 1024)]))
    picks = (
        heads
        if rng.random() < 0.2
        else [heads[_rng_int(rng, 0, len(heads))] for _ in range(_rng_int(rng, 1, 4))]
    )
    for h in picks:
        raw[h + off : h + off + size] = value.to_bytes(size, "little")
    path.write_bytes(bytes(raw))
    return f"mdh: {name} = {value} in {len(set(picks))} of {len(heads)} readout headers"


_PROTOCOL_KEYS = (
    "lBaseResolution", "lPhaseEncodingLines", "lPartitions", "lImagesPerSlab", "dReadoutFOV", "dPhaseFOV",
    "lAccelFactPE", "lRefLinesPE", "alTE[0]", "alTR[0]", "lSize", "lContrasts", "lRepetitions", "lAverages",
    "flReadoutOSFactor", "lFinalMatrixSizePhase", "lFinalMatrixSizeRead", "alRegridMode[0]",
)  # fmt: skip


def _protocol_edit(path: Path, rng: np.random.Generator) -> str:
    raw = bytearray(path.read_bytes())
    key = str(rng.choice(_PROTOCOL_KEYS))
    hits = [m for m in re.finditer(re.escape(key).encode() + rb"[^=\n]{0,40}=\s*(-?[0-9.]+)", raw[: 4 << 20])]
    if not hits:
        return f"protocol: no {key}"
    m = hits[_rng_int(rng, 0, len(hits))]
    width = len(m.group(1))
    choice = str(rng.choice(["nines", "zeros", "negative", "nan"]))
    new = {
        "nines": "9" * width,
        "zeros": "0" * width,
        "negative": ("-" + "9" * width)[:width],
        "nan": "nan".ljust(width)[:width],
    }[choice]
    raw[m.start(1) : m.end(1)] = new.encode()
    path.write_bytes(bytes(raw))
    return f"protocol: {key} = {new!r}"


def _seq_sections(lines: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    current = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            current = s[1:-1]
            out[current] = []
        elif current and s and not s.startswith("#"):
            out[current].append(i)
    return out


def _seq_edit(path: Path, rng: np.random.Generator) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    sec = _seq_sections(lines)
    what = str(
        rng.choice(
            ["definitions", "shape_length", "shape_values", "events", "blocks", "version", "drop_line"]
        )
    )
    if what == "definitions" and sec.get("DEFINITIONS"):
        i = int(rng.choice(sec["DEFINITIONS"]))
        key = lines[i].split()[0]
        value = str(rng.choice(["abc", "nan", "1e400", "-1", "0", "1 2 x", ""]))
        lines[i] = f"{key} {value}"
        desc = f"[DEFINITIONS] {key} = {value!r}"
    elif what in ("shape_length", "shape_values") and sec.get("SHAPES"):
        heads = [i for i in sec["SHAPES"] if lines[i].strip().startswith("num_samples")]
        if not heads:
            return "seq: no shapes"
        i = int(rng.choice(heads))
        n = int(lines[i].split()[1])
        if what == "shape_length":
            new = int(rng.choice([n + 1, n - 1, n * 1000, 0, 10**12, n + _rng_int(rng, 2, 50)]))
            lines[i] = f"num_samples {new}"
            desc = f"[SHAPES] num_samples {n} -> {new}"
        else:
            j = i + 1 + _rng_int(rng, 0, 4)
            if j >= len(lines) or not lines[j].strip():
                return "seq: shape too short"
            op = str(rng.choice(["drop", "dup", "nan", "huge", "text"]))
            if op == "drop":
                del lines[j]
            elif op == "dup":
                lines.insert(j, lines[j])
            else:
                lines[j] = {"nan": "nan", "huge": "1e300", "text": "x1"}[op]
            desc = f"[SHAPES] value line {j}: {op}"
    elif what == "events":
        names = [s for s in ("RF", "GRADIENTS", "TRAP", "ADC", "DELAYS", "EXTENSIONS") if sec.get(s)]
        if not names:
            return "seq: no events"
        s = str(rng.choice(names))
        i = int(rng.choice(sec[s]))
        tok = lines[i].split()
        if len(tok) < 2:
            return "seq: short event line"
        k = _rng_int(rng, 0, len(tok))
        tok[k] = str(rng.choice(["nan", "-1", "0", "999999999", "1e300", "x"]))
        lines[i] = " ".join(tok)
        desc = f"[{s}] line {i} token {k} = {tok[k]!r}"
    elif what == "blocks" and sec.get("BLOCKS"):
        i = int(rng.choice(sec["BLOCKS"]))
        tok = lines[i].split()
        k = _rng_int(rng, 0, len(tok))
        tok[k] = str(rng.choice(["999999", "-1", "0", "x", "4294967296"]))
        lines[i] = " ".join(tok)
        desc = f"[BLOCKS] line {i} token {k} = {tok[k]!r}"
    elif what == "version" and sec.get("VERSION"):
        i = int(rng.choice(sec["VERSION"]))
        key = lines[i].split()[0]
        value = str(rng.choice(["0", "9", "x", "-1"]))
        lines[i] = f"{key} {value}"
        desc = f"[VERSION] {key} = {value!r}"
    else:
        body = [i for v in sec.values() for i in v]
        if not body:
            return "seq: empty"
        i = int(rng.choice(body))
        del lines[i]
        desc = f"dropped line {i}"
    path.write_text("\n".join(lines), encoding="utf-8")
    return f"seq: {desc}"


def _npy_edit(path: Path, rng: np.random.Generator) -> str:
    raw = path.read_bytes()
    hlen = int.from_bytes(raw[8:10], "little")
    header = raw[10 : 10 + hlen].decode("latin1")
    op = str(rng.choice(["shape", "dtype", "values"]))
    if op == "values":
        data = np.load(path)
        choice = str(rng.choice(["nan", "inf", "zeros", "equal", "negative", "one_time"]))
        if choice == "nan":
            data[..., 3, 4] = np.nan
        elif choice == "inf":
            data[0, 0, 0] = np.inf
        elif choice == "zeros":
            data[...] = 0
        elif choice == "equal":
            data[...] = data[:1]
        elif choice == "negative":
            data *= -1
        else:
            data = data[:1]
        np.save(path, data)
        return f"npy: values {choice}"
    if op == "shape":
        new_shape = str(
            rng.choice(
                [
                    "(6, 16, 99999)",
                    "(0, 16, 16)",
                    "(6, 16)",
                    "(6, 16, 16, 1, 1)",
                    "(-1, 16, 16)",
                    "(4294967296, 16, 16)",
                ]
            )
        )
        header = re.sub(r"\(6, 16, 16\)", new_shape, header)
        what = f"npy: shape {new_shape}"
    else:
        new_dt = str(rng.choice(["<c8", "|O", "<U4", "<f2", "|b1", "<M8", ">f8"]))
        header = header.replace("'<f4'", repr(new_dt))
        what = f"npy: dtype {new_dt}"
    body = header.encode("latin1")
    pad = (64 - (10 + len(body)) % 64) % 64
    body = body.rstrip(b"\n") + b" " * pad + b"\n"
    path.write_bytes(raw[:8] + len(body).to_bytes(2, "little") + body + raw[10 + hlen :])
    return what


def _nifti_edit(path: Path, rng: np.random.Generator) -> str:
    raw = bytearray(path.read_bytes())
    fields = {
        "dim0": (40, "<i2"), "dim1": (42, "<i2"), "dim2": (44, "<i2"), "dim3": (46, "<i2"),
        "dim4": (48, "<i2"),
        "datatype": (70, "<i2"), "bitpix": (72, "<i2"), "vox_offset": (108, "<f4"), "scl_slope": (112, "<f4"),
        "pixdim1": (80, "<f4"), "sizeof_hdr": (0, "<i4"),
    }  # fmt: skip
    name = str(rng.choice(sorted(fields)))
    off, dt = fields[name]
    if dt == "<f4":
        value: Any = float(rng.choice([np.nan, np.inf, 0.0, -1.0, 1e30]))
    else:
        value = int(rng.choice([0, -1, 32767, 7, 1 << 30 if dt == "<i4" else 255]))
    raw[off : off + np.dtype(dt).itemsize] = np.array([value], dtype=dt).tobytes()
    path.write_bytes(bytes(raw))
    return f"nifti: {name} = {value}"


def _dicom_edit(path: Path, rng: np.random.Generator) -> str:
    raw = bytearray(path.read_bytes())
    op = str(rng.choice(["vr", "rows", "echo_time", "pixel_length", "spacing"]))
    tags = {
        "rows": b"\x28\x00\x10\x00US",
        "echo_time": b"\x18\x00\x81\x00DS",
        "pixel_length": b"\xe0\x7f\x10\x00OW",
        "spacing": b"\x28\x00\x30\x00DS",
    }
    if op == "vr":
        candidates = [
            m.start() + 4 for m in re.finditer(rb"[\x08\x10\x18\x20\x28]\x00..(?:DS|US|UI|CS|IS|LO)", raw)
        ]
        if not candidates:
            return "dicom: no element"
        at = int(rng.choice(candidates))
        raw[at : at + 2] = rng.choice([b"ZZ", b"\x00\x00", b"OB", b"SQ"])
        path.write_bytes(bytes(raw))
        return f"dicom: VR at {at} = {bytes(raw[at : at + 2])!r}"
    at = raw.find(tags[op])
    if at < 0:
        return f"dicom: no {op}"
    if op == "rows":
        raw[at + 8 : at + 10] = int(rng.choice([0, 1, 65535, 17])).to_bytes(2, "little")
    elif op == "pixel_length":
        raw[at + 8 : at + 12] = int(rng.choice([0, 7, 0xFFFFFFFF, 100000])).to_bytes(4, "little")
    else:
        n = int.from_bytes(raw[at + 6 : at + 8], "little")
        value = str(rng.choice(["nan", "abc", "-1", "1e999", "0"]))[:n].ljust(n).encode()
        raw[at + 8 : at + 8 + n] = value
    path.write_bytes(bytes(raw))
    return f"dicom: {op} edited at {at}"


#: mutations per source kind (structured ones first), with the operations they run
MUTATIONS: dict[str, tuple[str, ...]] = {
    "ismrmrd": ("xml", "xml", "head", "head", "head", "truncate", "zero_block", "flip"),
    "twix": ("mdh", "mdh", "mdh", "protocol", "truncate", "zero_block", "zero_block", "flip"),
    "twix+seq": ("seq", "seq", "seq", "mdh", "truncate_seq", "zero_block", "flip_seq"),
    "seq": ("seq", "seq", "seq", "seq", "truncate", "zero_block", "flip"),
    "npy": ("npy", "npy", "truncate", "flip"),
    "nifti": ("nifti", "nifti", "truncate", "zero_block", "flip"),
    "dicom": ("dicom", "dicom", "dicom", "truncate", "zero_block", "flip", "remove_file"),
}


def mutate(source: Source, mutation: str, seed: int, workdir: Path) -> Mutated:
    """Copy the source into ``workdir`` and damage it as ``mutation`` with ``seed``."""
    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    if source.kind == "dicom":
        folder = workdir / "dicom"
        folder.mkdir(exist_ok=True)
        files = [Path(shutil.copyfile(f, folder / f.name)) for f in source.files]
        target = files[_rng_int(rng, 0, len(files))]
        if mutation == "remove_file":
            target.unlink()
            return Mutated([folder], f"removed {target.name}")
        what = (
            _dicom_edit(target, rng)
            if mutation == "dicom"
            else _bytes_mutation(_BYTE_OPS[mutation], target, rng)
        )
        return Mutated([folder], f"{target.name}: {what}")
    files = [Path(shutil.copyfile(f, workdir / f.name)) for f in source.files]
    target = (
        files[-1] if mutation in ("seq", "truncate_seq", "flip_seq") or source.kind == "seq" else files[0]
    )
    handlers: dict[str, Callable[[Path, np.random.Generator], str]] = {
        "xml": _xml_edit, "head": _head_edit, "mdh": _mdh_edit, "protocol": _protocol_edit,
        "seq": _seq_edit, "npy": _npy_edit, "nifti": _nifti_edit,
    }  # fmt: skip
    if mutation in handlers:
        try:
            what = handlers[mutation](target, rng)
        except Exception as exc:
            what = f"{mutation} not applicable ({type(exc).__name__})"
    else:
        what = _bytes_mutation(_BYTE_OPS[mutation], target, rng)
    return Mutated(files, f"{target.name}: {what}")


_BYTE_OPS = {
    "truncate": "truncate", "truncate_seq": "truncate", "zero_block": "zero_block",
    "flip": "flip", "flip_seq": "flip", "dicom": "flip",
}  # fmt: skip

# --------------------------------------------------------------------------- commands


def command_for(source: Source, files: list[Path], out: Path, rng: np.random.Generator) -> list[str]:
    """The ``mrrecon`` arguments of a case (``["seq", path]`` runs the sequence reader)."""
    if source.kind == "seq":
        return ["seq", str(files[0])]
    if source.kind in ("npy", "nifti", "dicom"):
        argv = [
            "fit",
            str(files[0]),
            "--model",
            "t2",
            "-o",
            str(out / "maps.npz"),
            "-q",
            "--max-iterations",
            "5",
        ]
        if source.kind != "dicom":
            argv += ["--times", ",".join(f"{t:g}" for t in _T2_TIMES)]
        return [*argv, "--device", "cpu"]
    seq = ["--seq", str(files[1])] if source.kind == "twix+seq" else []
    if rng.random() < 0.5:
        return ["info", str(files[0]), *seq]
    return ["recon", str(files[0]), *seq, "-o", str(out / "image.npy"), "-q", "--device", "cpu"]


def _run_seq(path: str) -> int:
    from recon_engine.errors import ReconError
    from recon_engine.io.pulseq import read_seq, trajectory_from_seq

    try:
        s = read_seq(path)
        s.adc_events()
        s.block_table()
        if len(s.adc_events()):
            trajectory_from_seq(s)
    except ReconError as exc:
        print(f"mrrecon: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


def run_command(argv: list[str]) -> int:
    """Run one case's command in this process; the exit status as ``mrrecon`` gives it."""
    if argv[0] == "seq":
        return _run_seq(argv[1])
    from recon_engine.cli import main

    return int(main(argv))


# --------------------------------------------------------------------------- forked execution


@dataclass
class Result:
    """What one case did."""

    outcome: str
    seconds: float
    peak_mb: float
    message: str = ""
    where: str = ""  # innermost engine frame of a crash (file:function)
    stderr_lines: int = 0
    input_modified: bool = False
    partial_output: bool = False


def _is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "not enough memory" in text)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    engine = [f for f in frames if "recon_engine" in f.filename]
    last = (engine or frames)[-1] if frames else None
    inner = frames[-1] if frames else None
    parts = []
    if last is not None:
        parts.append(f"{Path(last.filename).name}:{last.name}")
    if inner is not None and inner is not last:
        parts.append(f"{Path(inner.filename).parent.name}/{Path(inner.filename).name}:{inner.name}")
    return " > ".join(parts)


def _child(argv: list[str], wfd: int, log: Path, memory_bytes: int) -> None:
    """Forked child: cap memory, run, report one JSON line on ``wfd``, exit without cleanup."""
    status: dict[str, Any]
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # what a command prints on success
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        import warnings

        warnings.resetwarnings()
        warnings.simplefilter("default")
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            pass
        code = run_command(argv)
        status = {"outcome": "success" if code == 0 else "error" if code == 2 else "crash", "code": code}
        if code not in (0, 2):
            status["message"] = f"exit status {code}"
    except SystemExit as exc:  # argparse
        status = {"outcome": "crash", "message": f"SystemExit {exc.code}"}
    except BaseException as exc:
        kind = "over-memory" if _is_memory_error(exc) else "crash"
        first = str(exc).splitlines()[0] if str(exc) else ""
        status = {"outcome": kind, "message": f"{type(exc).__name__}: {first}"[:400], "where": _where(exc)}
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(Exception):
        os.write(wfd, json.dumps(status).encode()[:60000])
    os._exit(0)


def _hash(paths: list[Path]) -> dict[str, str]:
    out = {}
    for p in paths:
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run_forked(
    argv: list[str], *, timeout_s: float, memory_gb: float, inputs: list[Path], out: Path
) -> Result:
    """Run ``argv`` in a forked child with ``RLIMIT_AS`` and a time limit; classify the outcome."""
    before = _hash(inputs)
    out.mkdir(parents=True, exist_ok=True)
    log = out.parent / "child.log"
    rfd, wfd = os.pipe()
    base = _address_space()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(rfd)
        _child(argv, wfd, log, int(base + memory_gb * 2**30))
    os.close(wfd)
    chunks: list[bytes] = []
    status: dict[str, Any] | None = None
    rusage = None
    killed = False
    while True:
        left = timeout_s - (time.monotonic() - t0)
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            killed = True
            _, wstatus, rusage = os.wait4(pid, 0)
            break
        ready, _, _ = select.select([rfd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(rfd, 65536)
            if chunk:
                chunks.append(chunk)
                continue
            _, wstatus, rusage = os.wait4(pid, 0)  # EOF: the child is exiting
            break
    os.close(rfd)
    seconds = time.monotonic() - t0
    peak = rusage.ru_maxrss / 1024 if rusage is not None else 0.0
    if killed:
        res = Result("hang", seconds, peak, f"killed after {timeout_s:g} s")
    elif chunks:
        try:
            status = json.loads(b"".join(chunks))
        except ValueError:
            status = None
        if status is None:
            res = Result("crash", seconds, peak, "unreadable child report")
        else:
            res = Result(status["outcome"], seconds, peak, status.get("message", ""), status.get("where", ""))
    else:
        sig = os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus) else None
        res = Result("crash", seconds, peak, f"child died (signal {sig}, status {wstatus})")
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if res.outcome == "error" and not res.message:
        res.message = next((ln for ln in lines if ln.startswith("mrrecon: error:")), "")[:400]
    res.stderr_lines = sum(1 for ln in lines if not ln.startswith(("mrrecon: error:", "mrrecon: warning:")))
    res.input_modified = _hash(inputs) != before
    if res.outcome != "success":
        res.partial_output = any(f.is_file() for f in out.rglob("*"))
    return res


def _address_space() -> int:
    """This process's virtual size (bytes): the child's cap is this plus the memory budget."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 << 30


# --------------------------------------------------------------------------- cases, patches, runs


@dataclass
class Case:
    """One fuzz case, reproducible from its source name, mutation and seed."""

    index: int
    seed: int
    source: str
    mutation: str
    kind: str = ""
    what: str = ""
    argv: list[str] = field(default_factory=list)
    result: Result | None = None


def plan(sources: list[Source], n: int, seed: int) -> list[tuple[Source, str, int]]:
    """``n`` (source, mutation, case seed) triples: kinds in turn, then a seeded pick within a kind."""
    rng = np.random.default_rng(seed)
    by_kind: dict[str, list[Source]] = {}
    for s in sources:
        by_kind.setdefault(s.kind, []).append(s)
    kinds = sorted(by_kind)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        src = by_kind[kind][_rng_int(rng, 0, len(by_kind[kind]))]
        muts = MUTATIONS[kind]
        out.append((src, muts[_rng_int(rng, 0, len(muts))], int(rng.integers(0, 2**31))))
    return out


def _patches(original: Path, damaged: Path) -> dict[str, Any]:
    """Byte patches turning ``original`` into ``damaged``: ``{"length", "patches": [[offset, b64]]}``."""
    a = np.frombuffer(original.read_bytes(), np.uint8)
    b = np.frombuffer(damaged.read_bytes(), np.uint8) if damaged.exists() else None
    if b is None:
        return {"removed": True}
    m = min(a.size, b.size)
    diff = np.flatnonzero(a[:m] != b[:m])
    runs: list[list[int]] = []
    for d in diff.tolist():
        if runs and d - runs[-1][1] <= 16:
            runs[-1][1] = d + 1
        else:
            runs.append([d, d + 1])
    if b.size > m:
        runs.append([m, int(b.size)])
    patches: list[Any] = []
    for s, e in runs:
        chunk = b[s:e]
        if chunk.size > 64 and np.all(chunk == chunk[0]):  # a filled block: {"at", "fill", "n"}
            patches.append({"at": s, "fill": int(chunk[0]), "n": int(chunk.size)})
        else:
            patches.append([s, base64.b64encode(chunk.tobytes()).decode()])
    return {"length": int(b.size), "patches": patches}


def apply_patches(original: Path, target: Path, spec: dict[str, Any]) -> None:
    """Write ``target`` = ``original`` with a :func:`_patches` record applied."""
    if spec.get("removed"):
        target.unlink(missing_ok=True)
        return
    data = bytearray(original.read_bytes())
    length = int(spec["length"])
    data = data[:length] + bytes(max(0, length - len(data)))
    for patch in spec["patches"]:
        if isinstance(patch, dict):
            offset, chunk = int(patch["at"]), bytes([int(patch["fill"])]) * int(patch["n"])
        else:
            offset, chunk = int(patch[0]), base64.b64decode(patch[1])
        data[offset : offset + len(chunk)] = chunk
    target.write_bytes(bytes(data))


def regression_record(case: Case, source: Source, damaged_dir: Path) -> dict[str, Any]:
    """A replayable JSON record of a case: the source, byte patches per file and the command."""
    files = {}
    for f in source.files:
        damaged = (damaged_dir / "dicom" / f.name) if source.kind == "dicom" else damaged_dir / f.name
        spec = _patches(f, damaged)
        if spec.get("removed") or spec["patches"] or spec["length"] != f.stat().st_size:
            files[f.name] = spec
    res = case.result
    return {
        "source": source.name,
        "mutation": case.mutation,
        "seed": case.seed,
        "what": case.what,
        "command": case.argv[0],
        "files": files,
        "found": None
        if res is None
        else {"outcome": res.outcome, "message": res.message, "where": res.where},
    }


def materialize(record: dict[str, Any], source: Source, workdir: Path) -> list[Path]:
    """Recreate a regression record's damaged input files under ``workdir``; the paths to run on."""
    if source.kind == "dicom":
        folder = workdir / "dicom"
        folder.mkdir(parents=True, exist_ok=True)
        for f in source.files:
            spec = record["files"].get(f.name)
            if spec is None:
                shutil.copyfile(f, folder / f.name)
            else:
                apply_patches(f, folder / f.name, spec)
        return [folder]
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for f in source.files:
        spec = record["files"].get(f.name)
        target = workdir / f.name
        if spec is None:
            shutil.copyfile(f, target)
        else:
            apply_patches(f, target, spec)
        out.append(target)
    return out


def replay_argv(record: dict[str, Any], source: Source, files: list[Path], out: Path) -> list[str]:
    """The command of a regression record on its recreated files."""
    if record["command"] == "seq":
        return ["seq", str(files[0])]
    if record["command"] == "fit":
        return command_for(source, files, out, np.random.default_rng(0))
    seq = ["--seq", str(files[1])] if source.kind == "twix+seq" else []
    if record["command"] == "info":
        return ["info", str(files[0]), *seq]
    return ["recon", str(files[0]), *seq, "-o", str(out / "image.npy"), "-q", "--device", "cpu"]


def preload() -> None:
    """Import what the commands use once, so that each forked case starts warm."""
    import h5py  # noqa: F401
    import nibabel  # noqa: F401
    import pydicom  # noqa: F401
    import torch

    import recon_engine.api
    import recon_engine.cli
    import recon_engine.io.pulseq
    import recon_engine.qmri.fitting  # noqa: F401

    for name in ("twixtools", "pypulseq"):
        with contextlib.suppress(ImportError):
            __import__(name)
    from recon_engine.cli import _parser  # type: ignore[attr-defined]

    _parser()  # imports every sub-command module
    torch.set_num_threads(1)


Runner = Callable[..., Result]


class ForkServer:
    """A clean process that imports the engine once and forks every case from itself.

    Forking a process that has already run OpenMP work (a test session: torch's GNU OpenMP
    pool) can deadlock the child; this server never computes anything itself, so its forked
    children start clean. :meth:`run` has the signature of :func:`run_forked`.
    """

    def __init__(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def run(
        self, argv: list[str], *, timeout_s: float, memory_gb: float, inputs: list[Path], out: Path
    ) -> Result:
        """Run one case in a child of the server (see :func:`run_forked`)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        request = {"argv": argv, "timeout_s": timeout_s, "memory_gb": memory_gb,
                   "inputs": [str(p) for p in inputs], "out": str(out)}  # fmt: skip
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fuzz server exited with status {self._proc.poll()}")
        return Result(**json.loads(line))

    def close(self) -> None:
        """Stop the server."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve() -> int:
    """``--serve``: answer one JSON request per stdin line with the :class:`Result` of :func:`run_forked`."""
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the replies
    preload()
    for line in sys.stdin:
        req = json.loads(line)
        res = run_forked(
            req["argv"], timeout_s=req["timeout_s"], memory_gb=req["memory_gb"],
            inputs=[Path(p) for p in req["inputs"]], out=Path(req["out"]),
        )  # fmt: skip
        reply.write(json.dumps(asdict(res)) + "\n")
        reply.flush()
    return 0


def replay(
    record: dict[str, Any],
    workdir: Path,
    *,
    timeout_s: float = 60.0,
    memory_gb: float = 4.0,
    shared: Path | None = SHARED,
    runner: Runner | None = None,
) -> Result | None:
    """Recreate a regression record's input and run its command; None when its source is absent."""
    source = source_by_name(record["source"], workdir / "src", shared=shared)
    if source is None:
        return None
    files = materialize(record, source, workdir / "in")
    out = workdir / "out"
    argv = replay_argv(record, source, files, out)
    run = run_forked if runner is None else runner
    return run(argv, timeout_s=timeout_s, memory_gb=memory_gb, inputs=files, out=out)


def expectation(res: Result) -> dict[str, str]:
    """What a fixed engine does on a regression case: its outcome and the start of its message."""
    text = res.message.removeprefix("mrrecon: error: ")
    fragment = re.sub(r"^\S*/", "", text.split(":", 1)[0]) if ":" in text else ""
    tail = text.split(": ", 1)[1] if ": " in text else text
    return {"outcome": res.outcome, "fragment": tail[:60] if res.outcome == "error" else fragment}


def update_expectations(folder: Path, *, shared: Path | None = SHARED) -> int:
    """Replay every record in ``folder`` and store what the engine does now as its ``expect``."""
    preload()
    bad = 0
    for f in sorted(folder.glob("*.json")):
        rec = json.loads(f.read_text())
        with tempfile.TemporaryDirectory(prefix="mrrecon-fuzz-") as tmp:
            res = replay(rec, Path(tmp), shared=shared)
        if res is None:
            print(f"{f.name}: source {rec['source']} absent, kept as it is")
            continue
        rec["expect"] = expectation(res)
        bad += is_failure(res)
        print(f"{f.name}: {res.outcome} {res.message[:120]}")
        f.write_text(json.dumps(rec, indent=1) + "\n")
    return bad


def run_cases(
    n: int,
    seed: int,
    *,
    timeout_s: float = 30.0,
    memory_gb: float = 8.0,
    workdir: Path | None = None,
    shared: Path | None = SHARED,
    on_case: Callable[[Case], None] | None = None,
    keep: Callable[[Case, Source, Path], None] | None = None,
    runner: Runner | None = None,
) -> list[Case]:
    """Plan and run ``n`` cases; ``keep`` is called for each failure while its files still exist.

    ``runner`` (default :func:`run_forked`) runs one case; from a process that has computed
    anything with OpenMP, pass :meth:`ForkServer.run`.
    """
    run = run_forked if runner is None else runner
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="mrrecon-fuzz-")) if workdir is None else workdir
    try:
        preload()
        sources = all_sources(work, shared=shared)
        cases = []
        for i, (src, mutation, case_seed) in enumerate(plan(sources, n, seed)):
            case_dir = work / "case"
            shutil.rmtree(case_dir, ignore_errors=True)
            m = mutate(src, mutation, case_seed, case_dir / "in")
            argv = command_for(src, m.files, case_dir / "out", np.random.default_rng(case_seed + 1))
            case = Case(i, case_seed, src.name, mutation, src.kind, m.what, argv)
            case.result = run(
                argv, timeout_s=timeout_s, memory_gb=memory_gb, inputs=m.files, out=case_dir / "out"
            )
            cases.append(case)
            if keep is not None and is_failure(case.result):
                keep(case, src, case_dir / "in")
            if on_case is not None:
                on_case(case)
        return cases
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def is_failure(res: Result | None) -> bool:
    """A crash, hang or over-memory outcome, a modified input or a partial output."""
    return res is not None and (res.outcome in FAILURES or res.input_modified or res.partial_output)


def counts_table(cases: list[Case]) -> str:
    """Counts per source kind and command, and in all, as a Markdown table."""
    rows = [
        "| | cases | "
        + " | ".join(OUTCOMES)
        + " | input modified | partial output | extra stderr | peak MB |"
    ]
    rows.append("|---" * (len(OUTCOMES) + 6) + "|")
    groups: dict[str, list[Case]] = {}
    for c in sorted(cases, key=lambda c: (c.kind, c.argv[0])):
        groups.setdefault(f"{c.kind} {c.argv[0]}", []).append(c)
    groups["all"] = cases
    for name, group in groups.items():
        res = [c.result for c in group if c.result is not None]
        cnt = Counter(r.outcome for r in res)
        rows.append(
            f"| {name} | {len(res)} | "
            + " | ".join(str(cnt.get(o, 0)) for o in OUTCOMES)
            + f" | {sum(r.input_modified for r in res)} | {sum(r.partial_output for r in res)}"
            + f" | {sum(r.stderr_lines > 0 for r in res)} | {max((r.peak_mb for r in res), default=0):.0f} |"
        )
    return "\n".join(rows)


@contextlib.contextmanager
def _quiet_numpy() -> Iterator[None]:
    with np.errstate(all="ignore"):
        yield


def main(argv: list[str] | None = None) -> int:
    """Command line: run cases, print progress of failures and the counts table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="number of cases")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as a hang")
    p.add_argument("--memory-gb", type=float, default=8.0, help="address space each case may add (RLIMIT_AS)")
    p.add_argument("--no-shared", action="store_true", help="ignore ../shared/data")
    p.add_argument("--save-failures", metavar="DIR", help="write each failure as a regression JSON here")
    p.add_argument("--json", metavar="FILE", help="write every case and result as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case")
    p.add_argument(
        "--update-expectations", metavar="DIR", help="replay the regression records in DIR, store outcomes"
    )
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve()
    if args.update_expectations:
        return 1 if update_expectations(Path(args.update_expectations)) else 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    saved = Path(args.save_failures) if args.save_failures else None
    t0 = time.monotonic()

    def keep(case: Case, source: Source, damaged: Path) -> None:
        if saved is None:
            return
        saved.mkdir(parents=True, exist_ok=True)
        rec = regression_record(case, source, damaged)
        size = len(json.dumps(rec))
        if size > 200_000:
            print(f"  (not saved: {size} bytes of patches)")
            return
        name = f"{case.result.outcome if case.result else 'x'}_{args.seed}_{case.index:05d}.json"
        (saved / name).write_text(json.dumps(rec, indent=1) + "\n")

    def report(case: Case) -> None:
        r = case.result
        assert r is not None
        if args.verbose or is_failure(r):
            head = f"[{case.index}] {r.outcome:11s} {r.seconds:5.1f}s {r.peak_mb:6.0f}MB {case.source}"
            print(f"{head} {case.what} :: {case.argv[0]} :: {r.message[:160]} {r.where}", flush=True)

    with _quiet_numpy():
        cases = run_cases(
            args.n, args.seed, timeout_s=args.timeout, memory_gb=args.memory_gb,
            shared=None if args.no_shared else SHARED, on_case=report, keep=keep,
        )  # fmt: skip
    wall = time.monotonic() - t0
    print()
    print(
        f"{len(cases)} cases, seed {args.seed}, {args.timeout:g} s and {args.memory_gb:g} GiB each, "
        f"{wall:.0f} s wall"
    )
    print(counts_table(cases))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [{**asdict(c), "result": asdict(c.result) if c.result else None} for c in cases], indent=1
            )
        )
    return 1 if any(is_failure(c.result) for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
