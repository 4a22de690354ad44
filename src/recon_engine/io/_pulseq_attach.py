"""Match a Pulseq sequence's ADC events to raw readouts (the work of ``attach_sequence``).

Functional core: everything here takes arrays (ADC events, their k-space in cycles per
FOV) and a :class:`~recon_engine.data.readouts.Readouts`, and returns new objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.flags import flag_mask, has_flag
from recon_engine.data.header import EncodingLimit, MRHeader
from recon_engine.data.readouts import Readouts
from recon_engine.errors import DataError, ParameterError
from recon_engine.io._pulseq_blocks import AdcEvents

__all__ = ["LABEL_COUNTERS", "Grid", "analyse_grid", "attach", "match_events"]

#: Pulseq counter label → ISMRMRD ``idx`` field.
LABEL_COUNTERS: dict[str, str] = {
    "LIN": "kspace_encode_step_1",
    "PAR": "kspace_encode_step_2",
    "SLC": "slice",
    "REP": "repetition",
    "AVG": "average",
    "SET": "set",
    "ECO": "contrast",
    "PHS": "phase",
    "SEG": "segment",
}
_FLAG_LABELS = {
    "NAV": "ACQ_IS_PHASECORR_DATA",
    "REF": "ACQ_IS_PARALLEL_CALIBRATION",
    "IMA": "ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING",
    "NOISE": "ACQ_IS_NOISE_MEASUREMENT",
}
#: Raw readouts the scanner (or simulator) adds on its own: not ADC events of the sequence.
_SCANNER_OWN = (
    "ACQ_IS_NOISE_MEASUREMENT",
    "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA",
    "ACQ_IS_HPFEEDBACK_DATA",
    "ACQ_IS_RTFEEDBACK_DATA",
)
_TOL = 0.02  # cycles per FOV: "constant", "on the integer grid", "uniform"


def _describe(n: int, samples: np.ndarray, noun: str) -> str:
    if samples.size == 0:
        return f"{n} {noun}"
    lo, hi = int(samples.min()), int(samples.max())
    return f"{n} {noun} of {lo if lo == hi else f'{lo}–{hi}'} samples"


def _leading_dummies(events: AdcEvents, kc: np.ndarray, n_raw: int) -> int:
    """Surplus leading events that repeat a later event exactly (labels and trajectory), else 0."""
    surplus = len(events) - n_raw
    if surplus <= 0 or surplus >= n_raw:
        return 0
    names = sorted(events.labels)
    keys = [
        (tuple(int(events.labels[n][j]) for n in names), np.round(kc[j], 3).tobytes())
        for j in range(len(events))
    ]
    later = set(keys[surplus:])
    return surplus if all(k in later for k in keys[:surplus]) else 0


def match_events(
    readouts: Readouts, events: AdcEvents, kc: np.ndarray, n_dummy: int | None, where: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Raw rows and ADC events that belong together, in acquisition order.

    Raw readouts flagged as noise, surface-coil correction or feedback data are the
    scanner's own and are skipped, unless counting them is what makes the numbers agree.

    Returns
    -------
    rows, adcs, n_dummy
        int ``(n,)`` raw row and event index of each pair; leading events left without data.

    Raises
    ------
    DataError
        When no pairing makes the counts and samples agree.
    """
    raw_ns = np.array([s.shape[1] for s in readouts.samples], dtype=np.int64)
    noise = has_flag(readouts.acquisitions.flags, *_SCANNER_OWN)
    n_ev = len(events)
    signal = np.flatnonzero(~noise)
    everything = np.arange(len(readouts))
    seq_noise = events.is_noise
    if n_dummy is not None and not 0 <= n_dummy < max(n_ev, 1):
        raise ParameterError(f"n_dummy={n_dummy} is impossible for a sequence with {n_ev} ADC events")
    skip = 0 if n_dummy is None else n_dummy
    rest = np.arange(skip, n_ev)
    candidates = [(signal, rest, skip)]
    if noise.any():
        candidates.append((everything, rest, skip))
    if seq_noise.any():
        candidates.append((signal, rest[~seq_noise[skip:]], skip))
    if n_dummy is None:
        d = _leading_dummies(events, kc, signal.size)
        if d:
            candidates.append((signal, np.arange(d, n_ev), d))
    for rows, adcs, dummies in candidates:
        if rows.size == adcs.size and np.array_equal(raw_ns[rows], events.n_samples[adcs]):
            return rows, adcs, dummies
    extra = f" (not counting {int(noise.sum())} noise/adjustment readouts)" if noise.any() else ""
    after = f" after {skip} dummies" if skip else ""
    msg = (
        f"{where} does not match the raw data: the .seq has "
        f"{_describe(n_ev - skip, events.n_samples[skip:], 'ADC events')}{after}, the raw data "
        f"{_describe(signal.size, raw_ns[signal], 'readouts')}{extra}"
    )
    surplus = n_ev - skip - signal.size
    if surplus > 0 and np.array_equal(events.n_samples[skip + surplus :], raw_ns[signal]):
        msg += f"; if the first {surplus} ADC events are dummy scans without data, pass n_dummy={surplus}"
    raise DataError(msg)


@dataclass(frozen=True)
class Grid:
    """Cartesian layout of the imaging readouts (all arrays over those readouts)."""

    ky: np.ndarray  # int (n,) line positions in cycles per FOV
    kz: np.ndarray  # int (n,)
    dkx: float  # readout sample spacing in cycles per FOV
    n_samples: int


def analyse_grid(kc: np.ndarray) -> Grid | str:
    """A :class:`Grid` when every readout is a uniform, same-positioned Cartesian line.

    Parameters
    ----------
    kc
        ``(n, samples, 3)`` ``(kx, ky, kz)`` of the imaging readouts in cycles per FOV.

    Returns
    -------
    Grid or str
        The grid, or the ISMRMRD trajectory type to use instead (``"epi"``, ``"radial"``,
        ``"spiral"``, ``"other"``).
    """
    if kc.size == 0 or not np.all(np.isfinite(kc)):
        return "other"
    kx, ky, kz = kc[..., 0], kc[..., 1], kc[..., 2]
    const_y = np.all(np.ptp(ky, axis=1) < _TOL) and np.all(np.ptp(kz, axis=1) < _TOL)
    if not const_y:
        return _kind(kc)
    step = np.diff(kx, axis=1)
    dkx = float(np.median(np.abs(step))) if step.size else 0.0
    if dkx > 0 and abs(1 / dkx - round(1 / dkx)) < 1e-3 / dkx:
        dkx = 1 / round(1 / dkx)  # exactly 1/oversampling
    uniform = dkx > 0 and bool(np.all(np.abs(np.abs(step) - dkx) < _TOL * dkx))
    same = uniform and bool(np.all(np.abs(np.sort(kx, axis=1) - np.sort(kx[0])) < 0.1 * dkx))
    y0, z0 = ky[:, 0], kz[:, 0]
    on_grid = np.all(np.abs(y0 - np.round(y0)) < _TOL) and np.all(np.abs(z0 - np.round(z0)) < _TOL)
    if not (same and on_grid):
        return "epi" if np.unique(np.round(y0, 3)).size > 1 else "other"
    return Grid(np.round(y0).astype(np.int64), np.round(z0).astype(np.int64), dkx, int(kc.shape[1]))


def _kind(kc: np.ndarray) -> str:
    """``"radial"`` (straight readouts), ``"spiral"`` (winding, |k| monotonic) or ``"other"``."""
    xy = kc[..., 0] + 1j * kc[..., 1]
    centred = xy - xy.mean(axis=1, keepdims=True)
    direction = centred[np.arange(len(xy)), np.argmax(np.abs(centred), axis=1)]
    off_line = np.abs((centred * np.conj(direction / np.abs(direction).clip(1e-12))[:, None]).imag)
    if np.all(off_line.max(axis=1) < _TOL * 5):
        return "radial"
    r = np.abs(xy)
    turns = np.abs(np.diff(np.unwrap(np.angle(xy), axis=1), axis=1).sum(axis=1))
    monotonic = np.all(np.diff(r, axis=1) >= -_TOL, axis=1) | np.all(np.diff(r, axis=1) <= _TOL, axis=1)
    return "spiral" if bool(np.all(monotonic) and np.all(turns > np.pi)) else "other"


def _size(kmax: float) -> int:
    """Matrix size for a half-extent ``kmax`` cycles: ``2 · ceil(kmax)``, at least 1."""
    return max(1, 2 * int(np.ceil(kmax - 0.01)))


def _running(groups: np.ndarray) -> np.ndarray:
    """Occurrence number of each row among equal rows of ``groups`` (acquisition order)."""
    _, inverse = np.unique(groups, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = np.zeros(inverse.size, np.int64)
    seen: dict[int, int] = {}
    for i, g in enumerate(inverse):
        out[i] = seen.get(int(g), 0)
        seen[int(g)] = out[i] + 1
    return out


def attach(
    readouts: Readouts,
    events: AdcEvents,
    k_per_m: np.ndarray,
    fov_mm: tuple[float, float, float],
    matrix: tuple[int, int, int] | None,
    n_dummy: int | None,
    where: str,
    *,
    slices: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Readouts, AdcEvents]:
    """Counters, flags, trajectory and header from the sequence (see ``attach_sequence``).

    ``slices``: ``(slice per ADC event, positions in m)`` inferred from the excitations of a
    sequence without SLC label; used where the raw readouts' own slice counters are all 0.
    """
    fov_m = np.asarray(fov_mm, dtype=np.float64) / 1e3
    kc = k_per_m * fov_m  # (n_adc, samples, 3) (kx, ky, kz), cycles per FOV
    rows, adcs, dummies = match_events(readouts, events, kc, n_dummy, where)
    is_dummy = np.zeros(len(events), bool)
    is_dummy[:dummies] = True
    events = replace(events, is_dummy=is_dummy)
    heads = readouts.acquisitions.headers.copy()
    lab = {n: v[adcs] for n, v in events.labels.items()}
    for name, field in LABEL_COUNTERS.items():
        if name in lab:
            if np.any(lab[name] < 0):
                j = int(np.flatnonzero(lab[name] < 0)[0])
                raise DataError(
                    f"{where}: label {name} is {lab[name][j]} at ADC {adcs[j]}; counters must be ≥ 0"
                )
            heads["idx"][field][rows] = lab[name]
    inferred: dict[str, object] | None = None
    if slices is not None and "SLC" not in lab and not heads["idx"]["slice"][rows].any():
        heads["idx"]["slice"][rows] = slices[0][adcs]
        inferred = {
            "slices": int(slices[1].size),
            "positions_mm": tuple(round(float(z) * 1e3, 4) for z in slices[1]),
            "from": "rf frequency offset",
        }
    flags = heads["flags"][rows].astype(np.uint64) & ~np.uint64(flag_mask("ACQ_IS_REVERSE"))
    flags |= np.where(events.reversed[adcs], np.uint64(flag_mask("ACQ_IS_REVERSE")), np.uint64(0))
    for name, flag in _FLAG_LABELS.items():
        if name in lab:
            flags |= np.where(lab[name] != 0, np.uint64(flag_mask(flag)), np.uint64(0))
    heads["flags"][rows] = flags
    imaging = ~(events.is_noise | events.is_navigator)[adcs]
    ns = int(events.n_samples[adcs].max()) if adcs.size else 0
    grid = analyse_grid(kc[adcs[imaging], :ns]) if np.unique(events.n_samples[adcs]).size == 1 else "other"
    kmax = np.nanmax(np.abs(kc[adcs[imaging]]), axis=(0, 1)) if imaging.any() else np.zeros(3)
    img_rows = rows[imaging]
    if isinstance(grid, Grid):
        n1 = matrix[1] if matrix else max(_size(np.abs(grid.ky).max()), int(np.ptp(grid.ky)) + 1)
        n2 = matrix[2] if matrix else max(_size(np.abs(grid.kz).max()), int(np.ptp(grid.kz)) + 1)
        enc_fov = (fov_mm[0] / grid.dkx, fov_mm[1], fov_mm[2])
        enc_matrix = (grid.n_samples, n1, n2)
        rec_matrix = (matrix[0] if matrix else max(1, round(grid.n_samples * grid.dkx)), n1, n2)
        kind = "cartesian"
        limits = {"kspace_encoding_step_1": EncodingLimit(0, n1 - 1, n1 // 2)}
        limits["kspace_encoding_step_2"] = EncodingLimit(0, n2 - 1, n2 // 2)
        if "LIN" not in lab:
            heads["idx"]["kspace_encode_step_1"][img_rows] = (grid.ky + n1 // 2) % n1
            if "PAR" not in lab:
                heads["idx"]["kspace_encode_step_2"][img_rows] = (grid.kz + n2 // 2) % n2
            others = [heads["idx"][f][img_rows] for f in LABEL_COUNTERS.values()]
            repeats = _running(np.stack(others, axis=1))
            if "REP" not in lab and repeats.any() and not heads["idx"]["repetition"][img_rows].any():
                heads["idx"]["repetition"][img_rows] = repeats  # unlabelled repetitions of the same lines
        else:
            centre = int(lab["LIN"][imaging][np.argmin(np.abs(grid.ky))])
            limits["kspace_encoding_step_1"] = EncodingLimit(
                int(lab["LIN"].min()), int(lab["LIN"].max()), centre
            )
    else:
        kind = grid
        nx, ny = _size(kmax[0]), _size(kmax[1])
        if kind in ("spiral", "radial") and abs(fov_mm[0] - fov_mm[1]) < 1e-6 * fov_mm[0]:
            # the in-plane extent is a disc: its radius, not where the interleaves happen to end
            xy = kc[adcs[imaging], :, :2]
            nx = ny = _size(float(np.nanmax(np.hypot(xy[..., 0], xy[..., 1]))))
        n3 = matrix or (nx, ny, _size(kmax[2]) if kmax[2] >= 0.5 else 1)
        enc_fov, enc_matrix, rec_matrix = fov_mm, n3, n3
        others = [heads["idx"][f][img_rows] for f in LABEL_COUNTERS.values() if f != "kspace_encode_step_1"]
        heads["idx"]["kspace_encode_step_1"][img_rows] = _running(np.stack(others, axis=1))
        k1max = int(heads["idx"]["kspace_encode_step_1"][img_rows].max()) if img_rows.size else 0
        limits = {"kspace_encoding_step_1": EncodingLimit(0, k1max, enc_matrix[1] // 2)}
    scale = np.array(enc_fov, dtype=np.float64) / 1e3 / fov_m
    trajectories: list[np.ndarray | None] = list(readouts.trajectories)
    for r, j in zip(rows, adcs, strict=True):
        t = (kc[j, : events.n_samples[j]] * scale).astype(np.float32)
        trajectories[int(r)] = t
        centre = int(np.argmin(np.abs(t[:, 0]) if kind == "cartesian" else np.linalg.norm(t, axis=1)))
        heads["center_sample"][r] = t.shape[0] - 1 - centre if events.reversed[j] else centre
    heads["trajectory_dimensions"][rows] = 3
    for name, field in LABEL_COUNTERS.items():
        if name in lab and name not in ("LIN", "PAR"):
            limits[field] = EncodingLimit(0, int(lab[name].max()), 0)
    if inferred is not None:
        limits["slice"] = EncodingLimit(0, int(heads["idx"]["slice"][rows].max()), 0)
    limits = {**readouts.header.limits, **limits}
    header = _header(readouts, kind, enc_matrix, enc_fov, rec_matrix, fov_mm, limits)
    meta = {**readouts.meta, "trajectory_units": "grid"}
    info: dict[str, object] = {
        "sequence": where,
        "trajectory": kind,
        "fov_mm": tuple(fov_mm),
        "dummy_adcs": dummies,
    }
    if inferred is not None:
        info["slices_inferred"] = inferred
    meta["pulseq"] = info
    new = readouts.with_updates(
        header=header, acquisitions=AcquisitionTable(heads), trajectories=trajectories, meta=meta
    )
    return new, events


def _header(
    readouts: Readouts,
    kind: str,
    enc_matrix: tuple[int, int, int],
    enc_fov: tuple[float, float, float],
    rec_matrix: tuple[int, int, int],
    rec_fov: tuple[float, float, float],
    limits: dict[str, EncodingLimit],
) -> MRHeader:
    from recon_engine.io.ismrmrd_write import header_xml_from

    h = readouts.header
    h = replace(
        h,
        trajectory=kind,
        encoded_matrix=tuple(int(v) for v in enc_matrix),  # type: ignore[arg-type]
        encoded_fov_mm=tuple(float(v) for v in enc_fov),  # type: ignore[arg-type]
        recon_matrix=tuple(int(v) for v in rec_matrix),  # type: ignore[arg-type]
        recon_fov_mm=tuple(float(v) for v in rec_fov),  # type: ignore[arg-type]
        limits=limits,
    )
    channels = max((s.shape[0] for s in readouts.samples), default=1)
    xml = header_xml_from(h, receiver_channels=h.receiver_channels or channels, system_model=h.system)
    return replace(h, xml=xml)
