"""Block structure, labels and ADC events of a pypulseq ``Sequence`` (one pass over the blocks).

The containers :class:`AdcEvents` and :class:`SequenceWaveforms` are re-exported by
:mod:`recon_engine.io.pulseq`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recon_engine.errors import ParameterError

__all__ = [
    "AdcEvents",
    "BlockScan",
    "SequenceWaveforms",
    "block_range",
    "block_rows",
    "build_adc_events",
    "excitation_slices",
    "label_string",
    "scan_blocks",
]

#: Pulseq labels that count (set with LABELSET, changed with LABELINC).
COUNTER_LABELS = ("LIN", "PAR", "SLC", "REP", "AVG", "SET", "ECO", "PHS", "SEG")
#: Pulseq labels that are on/off flags.
FLAG_LABELS = ("NAV", "REV", "REF", "IMA", "NOISE")


@dataclass(frozen=True)
class SequenceWaveforms:
    """Everything a sequence diagram shows for a range of blocks (times from the sequence start).

    Attributes
    ----------
    rf_t_s, rf
        RF sample times (s) and complex amplitude (Hz, frequency and phase offsets
        applied), ``(n_rf,)`` each; zero samples mark the pulse edges.
    grad
        ``"x"``, ``"y"``, ``"z"`` → ``(t_s, amplitude_hz_per_m)``, the corner points of the
        piecewise-linear gradient waveform, ``(n_points,)`` each.
    adc_t_s
        Times of all ADC samples in the range (s), ``(n_adc_samples,)``.
    labels
        ``(time_s, name, value)`` of every label set or changed in the range.
    block_starts_s
        Start times of the blocks in the range (s).
    """

    rf_t_s: np.ndarray
    rf: np.ndarray
    grad: dict[str, tuple[np.ndarray, np.ndarray]]
    adc_t_s: np.ndarray
    labels: list[tuple[float, str, int]]
    block_starts_s: np.ndarray


@dataclass(frozen=True)
class AdcEvents:
    """The ADC events of a sequence in execution order (``n_adc`` of them).

    Sample ``i`` of event ``j`` is taken at ``start_s[j] + (i + 0.5) · dwell_s[j]``
    (the Pulseq convention, as pypulseq and MATLAB Pulseq compute it).

    Attributes
    ----------
    block
        0-based index of the block holding each event, int ``(n_adc,)``.
    start_s
        Start of each ADC event (block start + ADC delay), s, ``(n_adc,)``.
    n_samples
        Samples per event, int ``(n_adc,)``.
    dwell_s
        Dwell time per event, s, ``(n_adc,)``.
    labels
        Label name → value at each event, int ``(n_adc,)``: counters (LIN, PAR, SLC, REP,
        AVG, SET, ECO, PHS, SEG) and flags (NAV, REV, REF, IMA, NOISE) that the sequence
        uses, plus any other label it sets.
    reversed
        bool ``(n_adc,)``: ``kx`` decreases along the readout, or the REV label is set.
    is_dummy
        bool ``(n_adc,)``: events without a readout in the raw data. The ``.seq`` alone
        cannot tell (Pulseq has no dummy flag), so :meth:`PulseqSequence.adc_events`
        gives all False; :func:`~recon_engine.io.pulseq.attach_sequence` marks the leading
        surplus events it finds (see there).
    is_noise, is_navigator, is_calibration
        bool ``(n_adc,)`` from the labels NOISE, NAV and REF/IMA.
    """

    block: np.ndarray
    start_s: np.ndarray
    n_samples: np.ndarray
    dwell_s: np.ndarray
    labels: dict[str, np.ndarray]
    reversed: np.ndarray
    is_dummy: np.ndarray
    is_noise: np.ndarray
    is_navigator: np.ndarray
    is_calibration: np.ndarray

    def __len__(self) -> int:
        return int(self.block.shape[0])

    def flag(self, name: str) -> np.ndarray:
        """Bool ``(n_adc,)``: the flag label ``name`` is set (False when the sequence lacks it)."""
        values = self.labels.get(name)
        return np.zeros(len(self), bool) if values is None else np.asarray(values) != 0


@dataclass(frozen=True)
class BlockScan:
    """Per-block facts gathered in one pass (0-based block indices)."""

    ids: np.ndarray  # int (n_blocks,) Pulseq block IDs
    durations_s: np.ndarray  # (n_blocks,)
    starts_s: np.ndarray  # (n_blocks,) start times
    events: np.ndarray  # int (n_blocks, 5): RF, GX, GY, GZ, ADC library IDs (0 = none)
    label_changes: list[tuple[int, str, int]]  # (block, name, value after the block's label events)
    adc_block: np.ndarray  # int (n_adc,)
    adc_delay_s: np.ndarray
    adc_n_samples: np.ndarray
    adc_dwell_s: np.ndarray
    adc_labels: dict[str, np.ndarray] = field(default_factory=dict)


def scan_blocks(seq: Any) -> BlockScan:
    """Walk the blocks once: durations, event IDs, label evolution and ADC events.

    Only blocks with an ADC or an extension (labels) are decoded with ``get_block``.
    """
    ids = np.fromiter(seq.block_events.keys(), dtype=np.int64, count=len(seq.block_events))
    table = np.stack([np.asarray(seq.block_events[int(i)], dtype=np.int64) for i in ids])
    durations = np.array([float(seq.block_durations[int(i)]) for i in ids], dtype=np.float64)
    events = table[:, 1:6]
    state: dict[str, int] = {}
    changes: list[tuple[int, str, int]] = []
    adc_rows: list[tuple[int, float, int, float]] = []
    adc_states: list[dict[str, int]] = []
    for b in np.flatnonzero((table[:, 5] != 0) | (table[:, 6] != 0)):
        block = seq.get_block(int(ids[b]))
        for lab in (block.label or {}).values():
            value = int(lab.value)
            state[lab.label] = state.get(lab.label, 0) + value if lab.type == "labelinc" else value
            changes.append((int(b), str(lab.label), state[lab.label]))
        if block.adc is not None:
            adc = block.adc
            adc_rows.append((int(b), float(adc.delay), int(adc.num_samples), float(adc.dwell)))
            adc_states.append(dict(state))
    names = sorted({n for s in adc_states for n in s} | {n for _, n, _ in changes})
    arr = np.array(adc_rows, dtype=np.float64).reshape(-1, 4)
    return BlockScan(
        ids=ids,
        durations_s=durations,
        starts_s=np.concatenate(([0.0], np.cumsum(durations)[:-1])),
        events=events,
        label_changes=changes,
        adc_block=arr[:, 0].astype(np.int64),
        adc_delay_s=arr[:, 1],
        adc_n_samples=arr[:, 2].astype(np.int64),
        adc_dwell_s=arr[:, 3],
        adc_labels={n: np.array([s.get(n, 0) for s in adc_states], dtype=np.int64) for n in names},
    )


#: RF ``use`` values that do not excite the signal an ADC reads (pypulseq names).
_NOT_EXCITATION = ("refocusing", "inversion", "saturation", "preparation")
#: slice positions closer than this (m) are one slice
_SLICE_TOL_M = 1e-6


def _gz_at(gz: Any, t: float) -> float:
    """Slice gradient (Hz/m) at ``t`` s from the block start (0 without one)."""
    if gz is None:
        return 0.0
    if gz.type == "trap":
        start, end = (
            float(gz.delay) + float(gz.rise_time),
            float(gz.delay) + float(gz.rise_time + gz.flat_time),
        )
        return float(gz.amplitude) if start - 1e-9 <= t <= end + 1e-9 else 0.0
    tt = float(gz.delay) + np.asarray(gz.tt, dtype=np.float64)
    return float(np.interp(t, tt, np.asarray(gz.waveform, dtype=np.float64), left=0.0, right=0.0))


def excitation_slices(seq: Any, scan: BlockScan) -> tuple[np.ndarray, np.ndarray] | None:
    """Slice of each ADC event from the frequency offset of its slice-selective excitation.

    For every ADC event, the last RF pulse before it that excites (``use`` not refocusing,
    inversion, saturation or preparation) and is played with a slice-select gradient ``G_z``
    (at the pulse centre) gives the slice position ``z = f / G_z`` (``f``: ``freq_offset`` +
    ``freq_ppm``·γB0; Hz over Hz/m). Distinct positions are numbered from the lowest ``z``.
    Fat-saturation and other pulses without ``G_z`` are skipped. ``get_block`` is called once
    per distinct (RF, G_z) event pair.

    Returns
    -------
    (slices, positions_m) or None
        int ``(n_adc,)`` slice index and float ``(n_slices,)`` positions (m, ascending);
        None unless every ADC event follows such an excitation and there are ≥ 2 positions.
    """
    n_adc = scan.adc_block.shape[0]
    rf_blocks = np.flatnonzero(scan.events[:, 0])
    if n_adc == 0 or rf_blocks.size == 0:
        return None
    ppm = 1e-6 * float(seq.system.gamma) * float(seq.system.B0)
    cache: dict[tuple[int, int], float | None] = {}
    z = np.full(rf_blocks.size, np.nan)
    for i, b in enumerate(rf_blocks):
        key = (int(scan.events[b, 0]), int(scan.events[b, 3]))
        if key not in cache:
            block = seq.get_block(int(scan.ids[b]))
            rf = block.rf
            use = str(getattr(rf, "use", "") or "")
            centre = float(rf.delay) + float(getattr(rf, "center", 0.0) or 0.0)
            g = _gz_at(getattr(block, "gz", None), centre)
            f = float(rf.freq_offset) + float(getattr(rf, "freq_ppm", 0.0) or 0.0) * ppm
            cache[key] = f / g if use not in _NOT_EXCITATION and abs(g) > 1e-6 else None
        value = cache[key]
        z[i] = np.nan if value is None else value
    selective = np.isfinite(z)
    if not selective.any():
        return None
    sel_blocks, sel_z = rf_blocks[selective], z[selective]
    # the excitation in the ADC's own block counts (RF and ADC in one block)
    last = np.searchsorted(sel_blocks, scan.adc_block, side="right") - 1
    if np.any(last < 0):
        return None
    z_adc = sel_z[last]
    order = np.sort(z_adc)
    positions = order[np.concatenate(([True], np.diff(order) > _SLICE_TOL_M))]
    if positions.size < 2:
        return None
    slices = np.clip(np.searchsorted(positions, z_adc + _SLICE_TOL_M / 2, side="right") - 1, 0, None)
    return slices.astype(np.int64), positions


def label_string(state: dict[str, int]) -> str:
    """``"LIN=3 SLC=0"``: counters first in Pulseq order, then flags, then the rest."""
    order = {n: i for i, n in enumerate(COUNTER_LABELS + FLAG_LABELS)}
    keys = sorted(state, key=lambda n: (order.get(n, len(order)), n))
    return " ".join(f"{k}={state[k]}" for k in keys)


def build_adc_events(scan: BlockScan, kx: np.ndarray | None) -> AdcEvents:
    """:class:`AdcEvents` from a scan; ``kx`` (list-like of per-event ``kx`` arrays) gives ``reversed``."""
    n = scan.adc_block.shape[0]
    labels = scan.adc_labels
    rev = np.zeros(n, bool)
    if kx is not None:
        for j, k in enumerate(kx):
            k = np.asarray(k, dtype=np.float64)
            k = k[np.isfinite(k)]
            if k.size > 1:
                span = float(np.abs(np.diff(k)).sum())
                rev[j] = span > 0 and (k[-1] - k[0]) < -1e-6 * span
    zeros = np.zeros(n, np.int64)
    flag = {name: np.asarray(labels.get(name, zeros)) != 0 for name in FLAG_LABELS}
    return AdcEvents(
        block=scan.adc_block.copy(),
        start_s=scan.starts_s[scan.adc_block] + scan.adc_delay_s if n else np.zeros(0),
        n_samples=scan.adc_n_samples.copy(),
        dwell_s=scan.adc_dwell_s.copy(),
        labels={k: v.copy() for k, v in labels.items()},
        reversed=rev | flag["REV"],
        is_dummy=np.zeros(n, bool),
        is_noise=flag["NOISE"],
        is_navigator=flag["NAV"],
        is_calibration=flag["REF"] | flag["IMA"],
    )


def block_rows(scan: BlockScan) -> list[dict[str, object]]:
    """Rows of ``PulseqSequence.block_table`` (label state after each block's label events)."""
    by_block: dict[int, list[tuple[str, int]]] = {}
    for b, name, value in scan.label_changes:
        by_block.setdefault(b, []).append((name, value))
    state: dict[str, int] = {}
    rows: list[dict[str, object]] = []
    starts = scan.starts_s
    for b in range(scan.ids.shape[0]):
        state.update(by_block.get(b, []))
        ev = scan.events[b]
        rows.append(
            {
                "index": b,
                "start_s": float(starts[b]),
                "duration_s": float(scan.durations_s[b]),
                "rf": int(ev[0]),
                "gx": int(ev[1]),
                "gy": int(ev[2]),
                "gz": int(ev[3]),
                "adc": int(ev[4]),
                "labels": label_string(state),
            }
        )
    return rows


def block_range(
    scan: BlockScan, blocks: tuple[int, int] | None, time_range_s: tuple[float, float] | None
) -> tuple[int, int]:
    """0-based ``(start, stop)`` of the blocks selected by a block range or a time range.

    Raises
    ------
    ParameterError
        Both given, or a range outside the sequence.
    """
    n = scan.ids.shape[0]
    starts = scan.starts_s
    ends = starts + scan.durations_s
    if blocks is not None and time_range_s is not None:
        raise ParameterError("give blocks or time_range_s, not both")
    if blocks is not None:
        a, b = int(blocks[0]), int(blocks[1])
        if not 0 <= a < b <= n:
            raise ParameterError(f"blocks {tuple(blocks)} is not a range (start, stop) within 0..{n}")
        return a, b
    if time_range_s is not None:
        t0, t1 = float(time_range_s[0]), float(time_range_s[1])
        if not t0 <= t1:
            raise ParameterError(f"time range {tuple(time_range_s)}: the end is before the start")
        a = int(np.searchsorted(ends, t0, side="right"))
        if a >= n:
            raise ParameterError(
                f"time range {tuple(time_range_s)} starts after the sequence ({ends[-1]:.4g} s)"
            )
        return a, min(max(int(np.searchsorted(starts, t1, side="left")), a + 1), n)
    return 0, n
