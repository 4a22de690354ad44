"""A Pulseq sequence as a simulation timeline: RF segments, gradient moments, ADC sample times.

Decoded with the engine's own reader (:mod:`recon_engine.io.pulseq`, i.e. pypulseq's
``get_block`` and ``waveforms``), so that the simulated signal and the trajectory that
:func:`~recon_engine.io.pulseq.attach_sequence` gives the same data come from one
decoding of the file.

- **Gradients** are piecewise linear (Hz/m), from each block's events (trapezoid corners;
  arbitrary shapes with their ``first``/``last`` edge values); their running integral, the
  moment ``m(t)`` in 1/m, is exact at any time
  (:meth:`GradientMoment.at`: trapezoids between corner points, a quadratic within one).
  The same moment gives the engine's trajectory
  (:mod:`recon_engine.io._pulseq_kspace`, :meth:`PulseqSequence.kspace_adc`).
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
from recon_engine.io._pulseq_kspace import GradientMoment, gradient_corners
from recon_engine.io.pulseq import PulseqSequence

__all__ = ["AdcReadout", "GradientMoment", "RfPulse", "Timeline", "build_timeline"]


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
    moment = GradientMoment.from_corners(gradient_corners(raw, scan))
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
