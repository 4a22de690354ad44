"""Sequence-diagram waveforms of a range of blocks, from pypulseq's decoded blocks.

Gradients and ADC sample times are pypulseq's (``Sequence.waveforms``,
``Sequence.adc_times``), with one addition: pypulseq leaves out the edge values
``first``/``last`` of oversampled arbitrary gradients (Pulseq 1.5 time shape −1), which
MATLAB Pulseq places at the gradient's start and half a raster after its last sample;
they are added here. RF is assembled here from ``get_block`` with pypulseq's formula
(``signal · exp(i(φ + 2π f t))``, ppm offsets included) because pypulseq's
``waveforms(append_RF=True)`` fails on back-to-back pulses; each pulse gets zero
samples at the times of its first and last sample, as in MATLAB Pulseq's decoding.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np

from recon_engine.errors import DataError
from recon_engine.io._pulseq_blocks import BlockScan, SequenceWaveforms

__all__ = ["build_waveforms"]


def _oversampled_edges(raw: Any, scan: BlockScan, a: int, b: int) -> dict[str, list[tuple[float, float]]]:
    """``(time, value)`` of the ``first``/``last`` points pypulseq omits, per axis."""
    lib = raw.grad_library
    starts = scan.starts_s
    out: dict[str, list[tuple[float, float]]] = {"x": [], "y": [], "z": []}
    for j, axis in enumerate("xyz"):
        for k in np.flatnonzero(scan.events[a:b, 1 + j]) + a:
            gid = int(scan.events[k, 1 + j])
            if lib.type.get(gid) != "g" or int(lib.data[gid][4]) != -1:
                continue
            g = getattr(raw.get_block(int(scan.ids[k])), "g" + axis)
            t0 = float(starts[k] + g.delay)
            out[axis] += [
                (t0, float(g.first)),
                (t0 + float(g.tt[-1]) + raw.grad_raster_time / 2, float(g.last)),
            ]
    return out


def _rf(raw: Any, scan: BlockScan, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """RF sample times (s) and complex amplitudes (Hz) of blocks ``a..b-1``."""
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    ppm = 1e-6 * raw.system.gamma * raw.system.B0
    starts = scan.starts_s
    for k in np.flatnonzero(scan.events[a:b, 0]) + a:
        rf = raw.get_block(int(scan.ids[k])).rf
        freq = rf.freq_offset + getattr(rf, "freq_ppm", 0.0) * ppm
        phase = rf.phase_offset + getattr(rf, "phase_ppm", 0.0) * ppm
        t = np.asarray(rf.t, dtype=np.float64)
        signal = np.asarray(rf.signal) * np.exp(1j * (phase + 2 * np.pi * freq * t))
        tt = starts[k] + rf.delay + t
        times.append(np.concatenate(([tt[0]], tt, [tt[-1]])))
        values.append(np.concatenate(([0], signal, [0])))
    if not times:
        return np.zeros(0), np.zeros(0, np.complex128)
    return np.concatenate(times), np.concatenate(values).astype(np.complex128)


def build_waveforms(raw: Any, scan: BlockScan, a: int, b: int, where: str) -> SequenceWaveforms:
    """:class:`SequenceWaveforms` of blocks ``a`` to ``b - 1`` (0-based).

    Raises
    ------
    DataError
        pypulseq cannot build the gradient waveforms (inconsistent sequence).
    """
    starts, durs = scan.starts_s, scan.durations_s
    # midpoints of the first and last block select exactly blocks a..b-1 in pypulseq
    window = [float(starts[a] + durs[a] / 2), float(starts[b - 1] + durs[b - 1] / 2)]
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            wave = raw.waveforms(append_RF=False, time_range=window)
            t_adc, _ = raw.adc_times(time_range=window)
            edges = _oversampled_edges(raw, scan, a, b)
            rf_t, rf = _rf(raw, scan, a, b)
    except Exception as exc:  # pypulseq raises Warning, ValueError, KeyError, ...
        raise DataError(f"{where}: cannot build the waveforms of blocks {a}–{b - 1} ({exc})") from exc
    grad: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for j, axis in enumerate("xyz"):
        t, g = np.asarray(wave[j][0], dtype=np.float64), np.asarray(wave[j][1], dtype=np.float64)
        if edges[axis]:
            extra = np.array(edges[axis], dtype=np.float64)
            t, g = np.concatenate((t, extra[:, 0])), np.concatenate((g, extra[:, 1]))
            order = np.argsort(t, kind="stable")
            t, g = t[order], g[order]
        grad[axis] = (t, g)
    labels = [(float(starts[k]), n, v) for k, n, v in scan.label_changes if a <= k < b]
    return SequenceWaveforms(
        rf_t_s=rf_t,
        rf=rf,
        grad=grad,
        adc_t_s=np.asarray(t_adc, dtype=np.float64),
        labels=labels,
        block_starts_s=starts[a:b].copy(),
    )
