"""A Pulseq sequence as a simulation timeline: RF segments, gradient moments, ADC sample times.

Decoded with the engine's own reader (:mod:`recon_engine.io.pulseq`, i.e. pypulseq's
``get_block`` and ``waveforms``), so that the simulated signal and the trajectory that
:func:`~recon_engine.io.pulseq.attach_sequence` gives the same data come from one
decoding of the file.

- **Gradients** are piecewise linear (Hz/m), from each block's events (trapezoid corners;
  arbitrary shapes with their ``first``/``last`` edge values); their running integral, the
  moment ``m(t)`` in 1/m, is exact at any time
  (:meth:`GradientMoment.at`: trapezoids between corner points, a quadratic within one).
- **RF** pulses are piecewise constant: shapes on the RF raster (sample ``k`` at
  ``(k + ½)·Δt``) cover ``[kΔt, (k+1)Δt)``; time-shaped pulses (block pulses,
  ``t = [0, T]``) are piecewise linear between their points. Both are merged into at
  most ``max_segments`` segments of equal duration with the same area (flip) each.
  Frequency offsets (``freq_offset`` + ``freq_ppm``) are kept apart: the pulse is
  simulated in the frame that rotates with it (see :mod:`recon_engine.simulate._bloch`).
- **ADC** samples are at ``start + (i + ½)·dwell`` (the Pulseq convention); the
  receiver phase is ``phase_offset`` (+ ``phase_ppm``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon_engine.errors import DataError
from recon_engine.io.pulseq import PulseqSequence

__all__ = ["AdcReadout", "GradientMoment", "RfPulse", "Timeline", "build_timeline"]


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


@dataclass(frozen=True)
class RfPulse:
    """One RF pulse as piecewise-constant segments.

    Attributes
    ----------
    start_s
        Start of the first segment (s from the sequence start).
    dt_s
        Duration of each segment (s).
    b1_hz
        complex128 ``(n_segments,)``: B1 amplitude (Hz) with the phase offset applied.
    freq_hz
        Frequency offset (Hz): the pulse rotates as ``exp(-2πi f (t - start))``
        relative to the Larmor frame (see the module docstring).
    excitation
        True unless the file marks the pulse as refocusing/inversion/saturation.
    """

    start_s: float
    dt_s: float
    b1_hz: np.ndarray
    freq_hz: float
    excitation: bool

    @property
    def duration_s(self) -> float:
        """Total duration (s)."""
        return self.dt_s * self.b1_hz.shape[0]


@dataclass(frozen=True)
class AdcReadout:
    """One ADC event: sample times (s) and the receiver phase (rad)."""

    index: int
    times_s: np.ndarray
    phase_rad: float


@dataclass(frozen=True)
class Timeline:
    """Events in time order (RF pulses and ADC events) and the gradient moment."""

    events: list[RfPulse | AdcReadout]
    moment: GradientMoment
    n_adc: int
    n_samples: np.ndarray
    duration_s: float


def _cells(rf: object, raster: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell boundaries (s, relative to the pulse start) and the complex value in each cell."""
    t = np.asarray(rf.t, dtype=np.float64)  # type: ignore[attr-defined]
    s = np.asarray(rf.signal, dtype=np.complex128)  # type: ignore[attr-defined]
    if t.size == 1:
        return np.array([0.0, 2 * t[0] if t[0] > 0 else raster]), s
    d = np.diff(t)
    uniform = np.allclose(d, d[0], rtol=1e-6, atol=1e-12) and abs(t[0] - d[0] / 2) < 1e-3 * d[0]
    if uniform:
        return np.arange(t.size + 1) * d[0], s
    return t, 0.5 * (s[1:] + s[:-1])  # piecewise linear: mean value per interval


def _segments(edges: np.ndarray, values: np.ndarray, max_segments: int) -> tuple[float, float, np.ndarray]:
    """Resample cells onto ``n ≤ max_segments`` equal segments, preserving the area of each."""
    t0, t1 = float(edges[0]), float(edges[-1])
    n = int(min(max_segments, values.size))
    if n == values.size and np.allclose(np.diff(edges), (t1 - t0) / n, rtol=1e-6, atol=1e-12):
        return t0, (t1 - t0) / n, values.copy()
    area = np.concatenate(([0.0], np.cumsum(values * np.diff(edges))))
    bounds = np.linspace(t0, t1, n + 1)
    re = np.interp(bounds, edges, area.real)
    im = np.interp(bounds, edges, area.imag)
    dt = (t1 - t0) / n
    return t0, dt, (np.diff(re) + 1j * np.diff(im)) / dt


def _gradient_corners(seq: PulseqSequence) -> list[tuple[np.ndarray, np.ndarray]]:
    """Corner points ``(t, g)`` of the x, y, z gradients, block by block.

    Trapezoids give their four corners; arbitrary gradients their samples plus ``first`` at
    the start and ``last`` at the end of the shape, so that a waveform never ramps across a
    gap between blocks (pypulseq's ``waveforms`` joins the last sample of one arbitrary
    gradient to the next gradient linearly).
    """
    raw = seq.raw
    scan = seq._scan
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
                end = float(getattr(g, "shape_dur", tt[-1]))
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


def build_timeline(seq: PulseqSequence, *, max_rf_segments: int = 64) -> Timeline:
    """Decode ``seq`` into the events a Bloch simulation steps through.

    Parameters
    ----------
    seq
        The sequence (engine reader).
    max_rf_segments
        Upper limit of piecewise-constant segments per RF pulse.

    Raises
    ------
    DataError
        The sequence has no ADC event, or its waveforms cannot be built.
    """
    raw = seq.raw
    events_adc = seq.adc_events()
    if len(events_adc) == 0:
        raise DataError(f"{seq.path.name}: the sequence has no ADC event; there is nothing to simulate")
    scan = seq._scan
    moment = GradientMoment.from_corners(_gradient_corners(seq))
    starts = scan.starts_s
    ppm = 1e-6 * float(raw.system.gamma) * float(raw.system.B0)
    raster = float(raw.system.rf_raster_time)
    out: list[tuple[float, int, RfPulse | AdcReadout]] = []
    for k in np.flatnonzero(scan.events[:, 0]):
        rf = raw.get_block(int(scan.ids[k])).rf
        edges, values = _cells(rf, raster)
        phase = float(rf.phase_offset) + float(getattr(rf, "phase_ppm", 0.0)) * ppm
        t0, dt, b1 = _segments(edges, values * np.exp(1j * phase), max_rf_segments)
        use = str(getattr(rf, "use", "") or "")
        pulse = RfPulse(
            start_s=float(starts[k] + rf.delay + t0),
            dt_s=dt,
            b1_hz=b1,
            freq_hz=float(rf.freq_offset) + float(getattr(rf, "freq_ppm", 0.0)) * ppm,
            excitation=use not in ("refocusing", "inversion", "saturation", "preparation"),
        )
        out.append((pulse.start_s, 0, pulse))
    for j in range(len(events_adc)):
        block = int(events_adc.block[j])
        adc = raw.get_block(int(scan.ids[block])).adc
        n = int(events_adc.n_samples[j])
        times = events_adc.start_s[j] + (np.arange(n) + 0.5) * events_adc.dwell_s[j]
        phase = float(adc.phase_offset) + float(getattr(adc, "phase_ppm", 0.0)) * ppm
        out.append((float(times[0]), 1, AdcReadout(j, times, phase)))
    out.sort(key=lambda e: (e[0], e[1]))
    return Timeline(
        events=[e[2] for e in out],
        moment=moment,
        n_adc=len(events_adc),
        n_samples=events_adc.n_samples.copy(),
        duration_s=seq.duration_s,
    )
