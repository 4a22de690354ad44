"""ISMRMRD acquisition headers and on-disk records for a :class:`KSpace`.

Shared by the writer (:func:`recon_engine.io.ismrmrd_write.write_ismrmrd`) and the
simulator, which builds its :class:`~recon_engine.data.acquisitions.AcquisitionTable`
with the same function, so a simulated k-space and the file written from it carry
identical headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recon_engine.data.acquisitions import NON_IMAGING
from recon_engine.data.flags import flag_mask, has_flag
from recon_engine.data.header import MRHeader
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ExportError

__all__ = ["acquisition_dtype", "acquisition_header_dtype", "acquisition_headers", "acquisition_records"]

#: ISMRMRD time stamps count ticks of 2.5 ms (Siemens convention).
_TICK_MS = 2.5
_DEFAULT_SAMPLE_TIME_US = 10.0


def acquisition_header_dtype() -> np.dtype[Any]:
    """NumPy dtype of one ISMRMRD ``AcquisitionHeader`` (``ismrmrd.hdf5``)."""
    from ismrmrd.hdf5 import acquisition_header_dtype as dt

    return np.dtype(dt)


def acquisition_dtype() -> np.dtype[Any]:
    """NumPy dtype of one on-disk acquisition record: ``head``, ``traj``, ``data``."""
    from ismrmrd.hdf5 import acquisition_dtype as dt

    return np.dtype(dt)


@dataclass(frozen=True)
class _Entry:
    order: tuple[int, int]  # (template row or large, running index): sort key
    kind: str  # "noise", "navigator", "imaging"
    head: np.ndarray  # 0-d structured array
    where: tuple[int, ...]  # noise: (start, stop); navigator: (j,); imaging: (*other, k2, k1)


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy()) if hasattr(t, "detach") else np.asarray(t)


def _offset(header: MRHeader, name: str, n: int, original: np.ndarray) -> int:
    """Shift from counters to grid index (limit centre → N // 2), as the reader applies it.

    ``original`` holds the counters of the file the k-space came from (may be empty):
    where they do not fit the shift, the reader used them unshifted, and so do we.
    """
    lim = header.limit(name)
    if lim is None or lim.maximum < lim.minimum:
        return 0
    off = n // 2 - lim.center
    if original.size and (int(original.max()) + off >= n or int(original.min()) + off < 0):
        return 0
    return off


def _templates(kspace: KSpace) -> np.ndarray:
    dt = acquisition_header_dtype()
    heads = getattr(kspace.acquisitions, "headers", None)
    if heads is None or len(heads) == 0:
        return np.zeros(0, dtype=dt)
    return np.asarray(heads).astype(dt)


def _base(kspace: KSpace, tmpl: np.ndarray, row: int, n_coils: int, n_samples: int) -> np.ndarray:
    dt = acquisition_header_dtype()
    head = tmpl[row].copy() if row >= 0 else np.zeros((), dtype=dt)
    head = np.asarray(head).reshape(())
    g = kspace.geometry
    head["version"] = 1
    head["number_of_samples"] = n_samples
    head["active_channels"] = n_coils
    head["available_channels"] = n_coils
    mask = np.zeros(16, dtype=np.uint64)
    for c in range(n_coils):
        mask[c // 64] |= np.uint64(1) << np.uint64(c % 64)
    head["channel_mask"] = mask
    head["discard_pre"] = 0
    head["discard_post"] = 0
    head["encoding_space_ref"] = 0
    head["trajectory_dimensions"] = 0
    head["position"] = g.position_mm
    head["read_dir"] = g.read_dir
    head["phase_dir"] = g.phase_dir
    head["slice_dir"] = g.slice_dir
    if row < 0:
        dwell = kspace.meta.get("sample_time_us", _DEFAULT_SAMPLE_TIME_US)
        head["sample_time_us"] = float(dwell) if isinstance(dwell, int | float) else _DEFAULT_SAMPLE_TIME_US
    return head


def _noise_lengths(kspace: KSpace, tmpl: np.ndarray, noise_rows: np.ndarray, c: int, s: int) -> list[int]:
    if noise_rows.size:
        ns = [int(v) for v in tmpl["number_of_samples"][noise_rows]]
        if sum(ns) == s and all(int(v) == c for v in tmpl["active_channels"][noise_rows]):
            return ns
    n0 = int(kspace.data.shape[-1])
    return [min(n0, s - i) for i in range(0, s, n0)]


def _noise_entries(kspace: KSpace, tmpl: np.ndarray, big: int) -> list[_Entry]:
    if kspace.noise is None:
        return []
    c, s = (int(v) for v in kspace.noise.shape)
    if c != kspace.n_coils:
        raise ExportError(f"noise scan has {c} channels but the k-space has {kspace.n_coils}")
    rows = np.flatnonzero(has_flag(tmpl["flags"], "ACQ_IS_NOISE_MEASUREMENT"))
    lengths = _noise_lengths(kspace, tmpl, rows, c, s)
    out, start = [], 0
    for j, n in enumerate(lengths):
        row = int(rows[j]) if len(lengths) == rows.size else -1
        head = _base(kspace, tmpl, row, c, n)
        if row < 0:
            head["flags"] = flag_mask("ACQ_IS_NOISE_MEASUREMENT")
        head["center_sample"] = 0
        head["idx"] = np.zeros((), dtype=head["idx"].dtype)
        out.append(_Entry((row if row >= 0 else -big, j), "noise", head, (start, start + n)))
        start += n
    return out


def _navigator_entries(kspace: KSpace, tmpl: np.ndarray, big: int) -> list[_Entry]:
    if kspace.navigators is None:
        return []
    n_nav, c, n = (int(v) for v in kspace.navigators.shape)
    rows = np.flatnonzero(has_flag(tmpl["flags"], "ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA"))
    out = []
    for j in range(n_nav):
        row = int(rows[j]) if rows.size == n_nav else -1
        head = _base(kspace, tmpl, row, c, n)
        if row < 0:
            head["flags"] = flag_mask("ACQ_IS_NAVIGATION_DATA")
        head["center_sample"] = n // 2
        out.append(_Entry((row if row >= 0 else -big // 2, j), "navigator", head, (j,)))
    return out


def _fresh_imaging_flags(header: MRHeader, lines: list[tuple[int, ...]], cal: np.ndarray) -> list[int]:
    """Flags of imaging lines without a template: calibration and first/last markers."""
    n2, n1 = cal.shape
    r1, r2 = header.acceleration
    flags = []
    for j, (*other, i2, i1) in enumerate(lines):
        f = 0
        if cal[i2, i1]:
            on_grid = (i1 - n1 // 2) % r1 == 0 and (i2 - n2 // 2) % r2 == 0
            f |= flag_mask(
                "ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING" if on_grid else "ACQ_IS_PARALLEL_CALIBRATION"
            )
        prev = lines[j - 1] if j > 0 else None
        nxt = lines[j + 1] if j + 1 < len(lines) else None
        if prev is None or tuple(prev[:-2]) != tuple(other):
            f |= flag_mask("ACQ_FIRST_IN_SLICE", "ACQ_FIRST_IN_ENCODE_STEP2", "ACQ_FIRST_IN_REPETITION")
        if nxt is None or tuple(nxt[:-2]) != tuple(other):
            f |= flag_mask("ACQ_LAST_IN_SLICE", "ACQ_LAST_IN_ENCODE_STEP2", "ACQ_LAST_IN_REPETITION")
        if prev is None or tuple(prev[:-1]) != (*other, i2):
            f |= flag_mask("ACQ_FIRST_IN_ENCODE_STEP1")
        if nxt is None or tuple(nxt[:-1]) != (*other, i2):
            f |= flag_mask("ACQ_LAST_IN_ENCODE_STEP1")
        if nxt is None:
            f |= flag_mask("ACQ_LAST_IN_MEASUREMENT")
        flags.append(f)
    return flags


def _imaging_entries(kspace: KSpace, header: MRHeader, tmpl: np.ndarray, big: int) -> list[_Entry]:
    shape = tuple(int(v) for v in kspace.data.shape)
    n_other = len(shape) - 4
    if len(kspace.other_axes) != n_other:
        raise ExportError(f"k-space has {n_other} 'other' axes but names {kspace.other_axes}")
    c, n2, n1, n0 = shape[-4:]
    mask = np.broadcast_to(_np(kspace.sampling_mask).astype(bool), (*shape[:-4], n2, n1))
    cal = np.broadcast_to(_np(kspace.calibration_mask).astype(bool), (n2, n1))
    lines = [tuple(int(v) for v in ix) for ix in np.argwhere(mask)]  # C order: other, k2, k1
    if not lines:
        raise ExportError("k-space has no sampled line (sampling_mask is all False)")
    imaging_rows = np.flatnonzero(~has_flag(tmpl["flags"], *NON_IMAGING))
    off1 = _offset(header, "kspace_encoding_step_1", n1, tmpl["idx"]["kspace_encode_step_1"][imaging_rows])
    off2 = _offset(header, "kspace_encoding_step_2", n2, tmpl["idx"]["kspace_encode_step_2"][imaging_rows])
    index: dict[tuple[int, ...], int] = {}
    for r in imaging_rows:
        idx = tmpl["idx"][r]
        key = (
            *(int(idx[a]) for a in kspace.other_axes),
            int(idx["kspace_encode_step_2"]),
            int(idx["kspace_encode_step_1"]),
        )
        index.setdefault(key, int(r))
    fresh = _fresh_imaging_flags(header, lines, cal)
    slice_pos = kspace.geometry.slice_positions_mm
    has_traj = kspace.trajectory is not None
    tdims = 0
    if has_traj:
        kz = _np(kspace.trajectory)[..., 0]
        kept = tmpl["trajectory_dimensions"][imaging_rows]
        tdims = 3 if (n2 > 1 or bool(np.any(kz != 0)) or bool(np.any(kept >= 3))) else 2
    # Cartesian readouts sit on the grid with the echo at N // 2; keep a non-Cartesian
    # file's own value (0 for spiral-out)
    keep_centre = not header.is_cartesian and header.trajectory != "epi"
    out = []
    for j, (*other, i2, i1) in enumerate(lines):
        key = (*other, i2 - off2, i1 - off1)
        if min(key[-2:]) < 0:
            raise ExportError(f"line k1={i1}, k2={i2} lies before the encoding limits' minimum")
        row = index.get(key, -1)
        head = _base(kspace, tmpl, row, c, n0)
        if row < 0:
            head["flags"] = fresh[j]
        if row < 0 or not keep_centre:
            head["center_sample"] = n0 // 2
        head["trajectory_dimensions"] = tdims
        counters = dict(zip(kspace.other_axes, other, strict=True))
        idx = np.zeros((), dtype=head["idx"].dtype) if row < 0 else head["idx"].copy()
        idx["kspace_encode_step_1"] = key[-1]
        idx["kspace_encode_step_2"] = key[-2]
        for name, value in counters.items():
            idx[name] = value
        head["idx"] = idx
        if "slice" in counters and counters["slice"] < len(slice_pos):
            head["position"] = slice_pos[counters["slice"]]
        out.append(_Entry((row if row >= 0 else big, j), "imaging", head, (*other, i2, i1)))
    return out


def _grid_per_recon_grid(header: MRHeader) -> np.ndarray:
    """Factor ``(kz, ky, kx)`` from cycles per recon FOV to cycles per encoded FOV."""
    fe = np.array(header.encoded_fov_mm[::-1], dtype=np.float64)
    fr = np.array(header.recon_fov_mm[::-1], dtype=np.float64)
    ok = (fe > 0) & (fr > 0)
    return np.where(ok, fe / np.where(ok, fr, 1.0), 1.0).astype(np.float32)


def _entries(kspace: KSpace, header: MRHeader | None) -> list[_Entry]:
    header = kspace.header if header is None else header
    tmpl = _templates(kspace)
    big = 2**40
    entries = _noise_entries(kspace, tmpl, big) + _navigator_entries(kspace, tmpl, big)
    entries += _imaging_entries(kspace, header, tmpl, big)
    entries.sort(key=lambda e: e.order)
    tr = header.tr_ms[0] if header.tr_ms else _TICK_MS
    for i, e in enumerate(entries):
        e.head["scan_counter"] = i
        if e.order[0] < 0 or e.order[0] >= big:  # no template: synthetic, fixed time stamps
            e.head["acquisition_time_stamp"] = round(i * tr / _TICK_MS)
    return entries


def acquisition_headers(kspace: KSpace, header: MRHeader | None = None) -> np.ndarray:
    """The acquisition headers :func:`write_ismrmrd` writes for ``kspace``, in file order.

    Parameters
    ----------
    kspace
        Raw data ``(*other, coils, k2, k1, k0)``; ``kspace.acquisitions`` (possibly
        empty) supplies flags, time stamps and user fields of matching readouts.
    header
        The header written with them (encoding limits, acceleration, TR); defaults to
        ``kspace.header``.

    Returns
    -------
    np.ndarray
        Structured array ``(n_acquisitions,)`` of ``ismrmrd.hdf5.acquisition_header_dtype``.
    """
    entries = _entries(kspace, header)
    return np.array([e.head for e in entries], dtype=acquisition_header_dtype())


def acquisition_records(kspace: KSpace, header: MRHeader | None = None) -> np.ndarray:
    """On-disk acquisition records (header, trajectory, samples) in file order.

    Parameters
    ----------
    kspace
        Raw data ``(*other, coils, k2, k1, k0)``.
    header
        The header written with them; defaults to ``kspace.header``.

    Returns
    -------
    np.ndarray
        Structured array ``(n_acquisitions,)`` of ``ismrmrd.hdf5.acquisition_dtype``.
    """
    entries = _entries(kspace, header)
    data = _np(kspace.data).astype(np.complex64, copy=False)
    noise = None if kspace.noise is None else _np(kspace.noise).astype(np.complex64, copy=False)
    navs = None if kspace.navigators is None else _np(kspace.navigators).astype(np.complex64, copy=False)
    traj = None if kspace.trajectory is None else _np(kspace.trajectory).astype(np.float32, copy=False)
    if traj is not None:
        # KSpace holds cycles per recon FOV; the file gets cycles per encoded FOV ("grid" units)
        traj = traj * _grid_per_recon_grid(kspace.header)
    rec = np.zeros(len(entries), dtype=acquisition_dtype())
    for i in range(len(entries)):
        rec["traj"][i] = np.zeros(0, dtype=np.float32)
    reverse = flag_mask("ACQ_IS_REVERSE")
    for i, e in enumerate(entries):
        rec["head"][i] = e.head
        if e.kind == "noise" and noise is not None:
            block = noise[:, e.where[0] : e.where[1]]
        elif e.kind == "navigator" and navs is not None:
            block = navs[e.where[0]]
        else:
            *other, i2, i1 = e.where
            index: tuple[Any, ...] = (*other, slice(None), i2, i1, slice(None))
            block = data[index]
            is_reversed = bool(int(e.head["flags"]) & reverse)
            if is_reversed:
                block = block[:, ::-1]
            tdims = int(e.head["trajectory_dimensions"])
            if traj is not None and tdims:
                t = traj[tuple([*other, i2, i1])][:, ::-1][:, :tdims]  # (kx, ky[, kz]) per sample
                if is_reversed:  # stored in acquisition order, like the samples
                    t = t[::-1]
                rec["traj"][i] = np.ascontiguousarray(t, dtype=np.float32).reshape(-1)
        rec["data"][i] = np.ascontiguousarray(block, dtype=np.complex64).view(np.float32).reshape(-1)
    return rec
