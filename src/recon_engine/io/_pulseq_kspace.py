"""k-space at the ADC samples of a Pulseq sequence, integrated exactly from its gradient events.

pypulseq's ``calculate_kspace`` integrates ``Sequence.waveforms``, which joins the last
sample of one gradient to the first sample of the next linearly, across any gap between
them, and leaves out the ``first``/``last`` edge values of arbitrary gradients. Where an
arbitrary gradient starts at ``first = 0`` after a gradient-free gap (Pulseq 1.5's
``writeSpiral`` demo: a spiral readout after each slice's excitation), that join is a ramp
through the excitation and the readout's k-space starts off-centre (there: 7.6 cycles per
FOV for the 2nd–4th spiral; the MATLAB toolbox's decoding starts them at 0). Here the
moment ``m(t) = ∫ g dt`` is exact for the piecewise-linear waveforms block by block
(trapezoid corners; arbitrary shapes with their ``first``/``last`` at the shape's start
and end), and the excitation/refocusing times are pypulseq's (``Sequence.rf_times``: RF
centres; ``use`` excitation or undefined resets ``k`` to 0, refocusing inverts it), as in
``calculate_kspace``. On sequences that pypulseq integrates right the two agree to float
rounding (tests).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from recon_engine.io._pulseq_blocks import BlockScan

__all__ = ["GradientMoment", "adc_kspace", "gradient_corners"]


@dataclass(frozen=True)
class GradientMoment:
    """Piecewise-linear gradients and their exact running integral.

    Attributes
    ----------
    t
        Per axis ``x, y, z``: corner times (s), sorted, ``(n_points,)``.
    g
        Per axis: gradient at the corners (Hz/m).
    m
        Per axis: moment at the corners (1/m), ``m = ∫ g dt`` from the sequence start.
    """

    t: tuple[np.ndarray, np.ndarray, np.ndarray]
    g: tuple[np.ndarray, np.ndarray, np.ndarray]
    m: tuple[np.ndarray, np.ndarray, np.ndarray]

    @staticmethod
    def from_corners(corners: list[tuple[np.ndarray, np.ndarray]]) -> GradientMoment:
        """From ``[(t, g)] * 3`` corner points of the x, y, z gradients."""
        ts, gs, ms = [], [], []
        for t, g in corners:
            t = np.asarray(t, dtype=np.float64)
            g = np.asarray(g, dtype=np.float64)
            if t.size == 0:
                t, g = np.zeros(1), np.zeros(1)
            order = np.argsort(t, kind="stable")
            t, g = t[order], g[order]
            m = np.concatenate(([0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(t))))
            ts.append(t)
            gs.append(g)
            ms.append(m)
        return GradientMoment((ts[0], ts[1], ts[2]), (gs[0], gs[1], gs[2]), (ms[0], ms[1], ms[2]))

    def at(self, times: np.ndarray) -> np.ndarray:
        """Moment ``(kx, ky, kz)`` in 1/m at ``times`` (s), float64 ``(*times.shape, 3)``.

        Zero before the first corner; after the last, the last gradient continues.
        """
        tt = np.asarray(times, dtype=np.float64)
        out = np.empty((*tt.shape, 3))
        for a in range(3):
            t, g, m = self.t[a], self.g[a], self.m[a]
            i = np.clip(np.searchsorted(t, tt, side="right") - 1, 0, t.size - 1)
            tau = tt - t[i]
            j = np.minimum(i + 1, t.size - 1)
            dt = t[j] - t[i]
            slope = np.where(dt > 0, (g[j] - g[i]) / np.where(dt > 0, dt, 1.0), 0.0)
            val = m[i] + g[i] * tau + 0.5 * slope * tau**2
            out[..., a] = np.where(tt < t[0], 0.0, val)
        return out


def gradient_corners(raw: Any, scan: BlockScan) -> list[tuple[np.ndarray, np.ndarray]]:
    """Corner points ``(t, g)`` of the x, y, z gradients, block by block.

    Trapezoids give their four corners; arbitrary gradients their samples plus ``first`` at
    the start and ``last`` at the end of the shape (half a sample step after the last sample
    of a raster-centred shape, as MATLAB Pulseq places it), so that a waveform never ramps
    across a gap between blocks.
    """
    starts = scan.starts_s
    pts: list[tuple[list[np.ndarray], list[np.ndarray]]] = [([], []), ([], []), ([], [])]
    for k in np.flatnonzero(scan.events[:, 1:4].any(axis=1)):
        block = raw.get_block(int(scan.ids[k]))
        for a, name in enumerate(("gx", "gy", "gz")):
            g = getattr(block, name, None)
            if g is None:
                continue
            t0 = float(starts[k] + g.delay)
            if g.type == "trap":
                tt = np.array(
                    [0.0, g.rise_time, g.rise_time + g.flat_time, g.rise_time + g.flat_time + g.fall_time]
                )
                vv = np.array([0.0, g.amplitude, g.amplitude, 0.0])
            else:
                tt = np.asarray(g.tt, dtype=np.float64)
                vv = np.asarray(g.waveform, dtype=np.float64)
                # samples centred on their raster cells end half a cell after the last one;
                # pypulseq's shape_dur counts oversampled (Pulseq 1.5) shapes at twice their length
                end = float(tt[-1] + tt[0]) if tt[0] > 0 else float(tt[-1])
                end = min(end, float(getattr(g, "shape_dur", end)))
                first = float(getattr(g, "first", vv[0]))
                last = float(getattr(g, "last", vv[-1]))
                if tt[0] > 0:
                    tt, vv = np.concatenate(([0.0], tt)), np.concatenate(([first], vv))
                if end > tt[-1]:
                    tt, vv = np.concatenate((tt, [end])), np.concatenate((vv, [last]))
            pts[a][0].append(t0 + tt)
            pts[a][1].append(vv)
    out = []
    for ts, vs in pts:
        out.append((np.concatenate(ts), np.concatenate(vs)) if ts else (np.zeros(0), np.zeros(0)))
    return out


def adc_kspace(raw: Any, scan: BlockScan) -> np.ndarray:
    """k-space ``(kx, ky, kz)`` in 1/m at every ADC sample, ``(n_adc, max samples, 3)``, NaN-padded.

    Sample ``i`` of an ADC event is at ``start + (i + ½)·dwell``; ``k`` restarts at 0 at
    each excitation centre and changes sign at each refocusing centre (pypulseq's
    ``rf_times``), otherwise follows the exact gradient moment.
    """
    n = scan.adc_n_samples
    if n.size == 0:
        return np.zeros((0, 0, 3))
    moment = GradientMoment.from_corners(gradient_corners(raw, scan))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        t_exc, _, t_ref, _ = raw.rf_times()
    ev_t = np.concatenate((np.asarray(t_exc, dtype=np.float64), np.asarray(t_ref, dtype=np.float64)))
    ev_refocus = np.concatenate((np.zeros(len(t_exc), bool), np.ones(len(t_ref), bool)))
    order = np.argsort(ev_t, kind="stable")
    ev_t, ev_refocus = ev_t[order], ev_refocus[order]
    m_ev = moment.at(ev_t)
    k_ev = np.zeros((ev_t.size, 3))  # k just after each RF event
    k_prev, m_prev = np.zeros(3), np.zeros(3)
    for e in range(ev_t.size):
        before = k_prev + m_ev[e] - m_prev
        k_ev[e] = -before if ev_refocus[e] else 0.0
        k_prev, m_prev = k_ev[e], m_ev[e]
    starts = scan.starts_s[scan.adc_block] + scan.adc_delay_s
    out = np.full((n.size, int(n.max()), 3), np.nan)
    for j in range(n.size):
        times = starts[j] + (np.arange(int(n[j])) + 0.5) * scan.adc_dwell_s[j]
        m = moment.at(times)
        e_idx = np.searchsorted(ev_t, times, side="right") - 1
        first = e_idx >= 0
        k = m.copy()
        k[first] = k_ev[e_idx[first]] + m[first] - m_ev[e_idx[first]]
        out[j, : n[j]] = k
    return out
