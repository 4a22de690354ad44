"""Small pypulseq sequences for the simulator's checks, benchmark and teaching page.

Each function returns a ``pypulseq.Sequence`` with a ``FOV`` definition (m), ready for
:func:`recon_engine.simulate.seq_sim.simulate_seq`. Hard (block) pulses where the check
is about relaxation; a sinc excitation for the imaging GRE.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["bssfp", "cpmg", "fid", "gre", "spoiled_single_voxel", "system"]


def system() -> Any:
    """A 3 T-like system: 28 mT/m, 150 T/m/s, the usual dead times."""
    import pypulseq as pp

    return pp.Opts(
        max_grad=28,
        grad_unit="mT/m",
        max_slew=150,
        slew_unit="T/m/s",
        rf_ringdown_time=20e-6,
        rf_dead_time=100e-6,
        adc_dead_time=10e-6,
    )


def _block(pp: Any, flip_deg: float, duration: float, phase_deg: float, sys: Any, use: str) -> Any:
    return pp.make_block_pulse(
        flip_angle=math.radians(flip_deg),
        duration=duration,
        phase_offset=math.radians(phase_deg),
        delay=sys.rf_dead_time,
        system=sys,
        use=use,
    )


def fid(*, n_samples: int = 1000, dwell_s: float = 50e-6, fov_m: float = 0.22) -> Any:
    """90° block pulse (0.1 ms) and one ADC of ``n_samples`` starting right after it."""
    import pypulseq as pp

    sys = system()
    seq = pp.Sequence(sys)
    rf = _block(pp, 90.0, 1e-4, 0.0, sys, "excitation")
    seq.add_block(rf)
    seq.add_block(pp.make_adc(num_samples=n_samples, dwell=dwell_s, delay=sys.adc_dead_time, system=sys))
    seq.set_definition("FOV", [fov_m, fov_m, 5e-3])
    return seq


def cpmg(*, echo_spacing_s: float = 10e-3, n_echoes: int = 16, fov_m: float = 0.22) -> Any:
    """CPMG: 90°(x) block pulse, 180°(y) block pulses every ``echo_spacing_s``.

    One 3-sample ADC on every echo (the middle sample at ``n · echo_spacing_s`` after the
    excitation's centre).
    """
    import pypulseq as pp

    sys = system()
    seq = pp.Sequence(sys)
    d90, d180, dwell = 1e-4, 2e-4, 1e-5
    exc = _block(pp, 90.0, d90, 0.0, sys, "excitation")
    ref = _block(pp, 180.0, d180, 90.0, sys, "refocusing")
    half = echo_spacing_s / 2
    exc_dur = sys.rf_dead_time + d90 + sys.rf_ringdown_time
    ref_dur = sys.rf_dead_time + d180 + sys.rf_ringdown_time
    centre = sys.rf_dead_time + d90 / 2
    seq.add_block(exc)
    seq.add_block(pp.make_delay(centre + half - (sys.rf_dead_time + d180 / 2) - exc_dur))
    after_ref = ref_dur - sys.rf_dead_time - d180 / 2  # refocusing centre → its block end
    for _ in range(n_echoes):
        seq.add_block(ref)
        adc = pp.make_adc(num_samples=3, dwell=dwell, delay=half - after_ref - 1.5 * dwell, system=sys)
        seq.add_block(adc, pp.make_delay(echo_spacing_s - ref_dur))
    seq.set_definition("FOV", [fov_m, fov_m, 5e-3])
    return seq


def gre(
    n: int = 64,
    *,
    fov_m: float = 0.22,
    tr_s: float = 10e-3,
    te_s: float | None = None,
    flip_deg: float = 15.0,
    readout_s: float = 3.2e-3,
    rf_spoiling: bool = True,
    spoiler: bool = True,
    slice_m: float = 5e-3,
    n_dummy: int = 0,
) -> Any:
    """2D spoiled gradient echo (FLASH), ``n × n`` Cartesian, sinc excitation.

    Parameters
    ----------
    n
        Matrix (readout samples = phase-encoding lines).
    fov_m, tr_s, flip_deg, slice_m
        FOV (m), repetition time (s), flip angle (°), slice thickness (m).
    te_s
        Echo time (s); None: the shortest.
    readout_s
        Flat time of the readout (s); the bandwidth per pixel is ``1 / readout_s``.
    rf_spoiling
        Quadratic RF phase cycling (117°), receiver phase following.
    spoiler
        Gradient spoiler after the readout (x: 2 cycles per pixel, z: 4 per slice).
    n_dummy
        Dummy repetitions (no ADC) before the first line.
    """
    import pypulseq as pp

    sys = system()
    seq = pp.Sequence(sys)
    rf, gz, gzr = pp.make_sinc_pulse(
        flip_angle=math.radians(flip_deg),
        duration=2e-3,
        slice_thickness=slice_m,
        apodization=0.5,
        time_bw_product=4,
        system=sys,
        return_gz=True,
        delay=sys.rf_dead_time,
        use="excitation",
    )
    dk = 1.0 / fov_m
    gx = pp.make_trapezoid("x", flat_area=n * dk, flat_time=readout_s, system=sys)
    adc = pp.make_adc(num_samples=n, duration=gx.flat_time, delay=gx.rise_time, system=sys)
    gx_pre = pp.make_trapezoid("x", area=-gx.area / 2, duration=1e-3, system=sys)
    gx_sp = pp.make_trapezoid("x", area=2 * n * dk, system=sys)
    gz_sp = pp.make_trapezoid("z", area=4 / slice_m, system=sys)
    te_min = (
        pp.calc_duration(gz)
        - rf.delay
        - rf.shape_dur / 2
        + pp.calc_duration(gx_pre)
        + pp.calc_duration(gx) / 2
    )
    te_min = math.ceil(te_min / sys.grad_raster_time) * sys.grad_raster_time
    te = te_min if te_s is None else te_s
    if te < te_min - 1e-9:
        raise ValueError(f"TE {te * 1e3:.2f} ms is below the minimum {te_min * 1e3:.2f} ms")
    te_delay = round((te - te_min) / sys.grad_raster_time) * sys.grad_raster_time
    rf_phase = 0.0
    rf_inc = 0.0
    for i in range(-n_dummy, n):
        if rf_spoiling:
            rf.phase_offset = math.radians(rf_phase)
            adc.phase_offset = math.radians(rf_phase)
            rf_inc = (rf_inc + 117.0) % 360.0
            rf_phase = (rf_phase + rf_inc) % 360.0
        line = max(i, 0) - n // 2
        gy = pp.make_trapezoid("y", area=line * dk, duration=1e-3, system=sys)
        gy_r = pp.make_trapezoid("y", area=-line * dk, duration=1e-3, system=sys)
        start = len(seq.block_events)
        seq.add_block(rf, gz)
        seq.add_block(gx_pre, gy, gzr)
        if te_delay > 0:
            seq.add_block(pp.make_delay(te_delay))
        seq.add_block(gx, adc) if i >= 0 else seq.add_block(gx)
        seq.add_block(gx_sp, gy_r, gz_sp) if spoiler else seq.add_block(gy_r)
        used = sum(seq.block_durations[k] for k in list(seq.block_events)[start:])
        fill = round((tr_s - used) / sys.block_duration_raster) * sys.block_duration_raster
        if fill < -1e-9:
            raise ValueError(f"TR {tr_s * 1e3:.2f} ms is too short (needs {used * 1e3:.2f} ms)")
        if fill > 0:
            seq.add_block(pp.make_delay(fill))
    seq.set_definition("FOV", [fov_m, fov_m, slice_m])
    seq.set_definition("TE", te)
    seq.set_definition("TR", tr_s)
    return seq


def spoiled_single_voxel(
    *,
    tr_s: float = 10e-3,
    te_s: float = 2e-3,
    flip_deg: float = 20.0,
    n_tr: int = 300,
    rf_spoiling: bool = True,
    spoiler_cycles: float = 4.0,
    fov_m: float = 0.22,
) -> Any:
    """Non-selective spoiled GRE without imaging gradients: one 1-sample ADC per TR at ``te_s``.

    The spoiler (x) dephases ``spoiler_cycles`` cycles across the FOV-sized voxel.
    """
    import pypulseq as pp

    sys = system()
    seq = pp.Sequence(sys)
    d = 1e-4
    rf = _block(pp, flip_deg, d, 0.0, sys, "excitation")
    adc = pp.make_adc(num_samples=1, dwell=1e-5, delay=sys.adc_dead_time, system=sys)
    rf_phase = 0.0
    rf_inc = 0.0
    rf_centre = sys.rf_dead_time + d / 2
    rf_block = sys.rf_dead_time + d + sys.rf_ringdown_time
    sp = pp.make_trapezoid("x", area=spoiler_cycles / fov_m, duration=1e-3, system=sys)
    for _ in range(n_tr):
        if rf_spoiling:
            rf.phase_offset = math.radians(rf_phase)
            adc.phase_offset = math.radians(rf_phase)
            rf_inc = (rf_inc + 117.0) % 360.0
            rf_phase = (rf_phase + rf_inc) % 360.0
        seq.add_block(rf)
        adc.delay = te_s - (rf_block - rf_centre) - adc.dwell / 2
        dur = math.ceil((adc.delay + 2 * adc.dwell) / 1e-5) * 1e-5
        seq.add_block(adc, pp.make_delay(dur))
        seq.add_block(sp, pp.make_delay(tr_s - rf_block - dur))
    seq.set_definition("FOV", [fov_m, fov_m, 5e-3])
    return seq


def bssfp(
    *, tr_s: float = 5e-3, flip_deg: float = 60.0, n_tr: int = 400, rf_s: float = 2e-5, fov_m: float = 0.22
) -> Any:
    """Balanced SSFP without imaging gradients: ±α block pulses (phase 0, 180°).

    An α/2 pulse at −TR/2 starts it; one 1-sample ADC at TE = TR/2 of every TR.
    """
    import pypulseq as pp

    sys = system()
    seq = pp.Sequence(sys)
    half = tr_s / 2
    dt = sys.rf_dead_time + rf_s / 2  # block start → pulse centre
    rf_tail = rf_s / 2 + sys.rf_ringdown_time  # pulse centre → block end
    prep = _block(pp, flip_deg / 2, rf_s, 180.0, sys, "excitation")
    seq.add_block(prep)
    seq.add_block(pp.make_delay(half - rf_tail - dt))
    adc = pp.make_adc(num_samples=1, dwell=1e-5, delay=sys.adc_dead_time, system=sys)
    for i in range(n_tr):
        rf = _block(pp, flip_deg, rf_s, 0.0 if i % 2 == 0 else 180.0, sys, "excitation")
        seq.add_block(rf)
        adc.phase_offset = 0.0 if i % 2 == 0 else math.pi
        adc.delay = half - rf_tail - adc.dwell / 2
        seq.add_block(adc, pp.make_delay(tr_s - rf_tail - dt))
    seq.set_definition("FOV", [fov_m, fov_m, 5e-3])
    return seq
