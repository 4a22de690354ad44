"""Simulate a Pulseq sequence on a phantom: raw data as a scanner would record it.

:func:`simulate_seq` runs an isochromat Bloch simulation (:mod:`recon_engine.simulate._bloch`,
torch, any device) of a ``.seq`` decoded by the engine's own reader, and returns raw data
with the sequence's ADC layout, labels and trajectory: the simulated readouts go through
:func:`~recon_engine.io.pulseq.attach_sequence` and
:func:`~recon_engine.io.sorting.sort_readouts` exactly like measured ISMRMRD/twix data, so
every reconstruction takes the result unchanged and
:func:`~recon_engine.io.ismrmrd_write.write_ismrmrd` writes it.

Physics: per block, RF pulses are rotations (piecewise-constant segments), gradients
phase accrual ``exp(-2πi Δm·r)`` with the exact moment of the piecewise-linear waveform,
free precession with T1/T2 relaxation and off-resonance (B0 map, plus an intra-voxel
Lorentzian spread of isochromats for ``T2' = 1/(1/T2* − 1/T2)``); each ADC sample is the
transverse magnetisation summed with the coil sensitivities. The 2D phantom lies in the
plane of the first slice-selective excitation (``z = f_rf / G_z``), a 3D phantom fills
the FOV. Intensities: a fully sampled Cartesian acquisition reconstructed with the
engine's orthonormal FFT gives the transverse magnetisation (PD × signal fraction) per
voxel; ``noise`` is the standard deviation per complex k-space sample (``E|n|² = σ²``),
which is also the noise per voxel of such a coil image.

What is not modelled: diffusion, flow and motion, magnetisation transfer, chemical shift
(no fat), B1 inhomogeneity, gradient non-linearity and eddy currents, the through-slice
profile of a 2D acquisition (the phantom is a plane), ADC frequency offsets, and
relaxation during an RF pulse beyond symmetric splitting.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.header import parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.data.readouts import Readouts
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype
from recon_engine.io.ismrmrd_write import make_header_xml
from recon_engine.io.pulseq import PulseqSequence, attach_sequence, read_seq
from recon_engine.io.sorting import sort_readouts
from recon_engine.progress import ProgressCallback, ProgressEvent, Steps, run
from recon_engine.simulate._bloch import Isochromats, State, free_precess, readout, rotate_pulse, spoil
from recon_engine.simulate._seq_timeline import AdcReadout, RfPulse, Timeline, build_timeline
from recon_engine.simulate._sim_phantom import PHANTOMS, load_maps, subvoxel_offsets
from recon_engine.simulate.coils import birdcage_sensitivities

__all__ = ["PHANTOMS", "PhantomLike", "SeqLike", "simulate_seq", "simulate_seq_steps", "smooth_b0_map"]

SeqLike = str | os.PathLike[str] | PulseqSequence | Any
"""A ``.seq`` path, a :class:`~recon_engine.io.pulseq.PulseqSequence` or a ``pypulseq.Sequence``."""
PhantomLike = str | os.PathLike[str] | Mapping[str, np.ndarray]
"""``"brain"``, ``"shepp-logan"``, a ``.npz``/``.npy``/NIfTI file or a mapping of maps."""

_YIELD_S = 0.25  # progress events at most this far apart in time (when work allows)
_PREVIEW_MAX = 512  # preview rows/columns at most (every n-th ADC event / sample beyond)


def _signal_preview(samples: list[np.ndarray], done: np.ndarray) -> np.ndarray:
    """float32 ``(ADC events, samples)`` ``log(1 + |s|/s_max)`` (coil RSS) of the events simulated so far."""
    n = len(samples)
    width = max((b.shape[1] for b in samples), default=1)
    rs, cs = max(1, -(-n // _PREVIEW_MAX)), max(1, -(-width // _PREVIEW_MAX))
    rows = range(0, n, rs)
    out = np.zeros((len(rows), -(-width // cs)), np.float32)
    for i, j in enumerate(rows):
        if done[j]:
            b = samples[j][:, ::cs]
            out[i, : b.shape[1]] = np.sqrt(np.sum(np.abs(b) ** 2, axis=0))
    peak = float(out.max())
    return np.log1p(out / peak * 1e3).astype(np.float32) if peak > 0 else out


def _as_sequence(seq: SeqLike) -> PulseqSequence:
    if isinstance(seq, PulseqSequence):
        return seq
    if isinstance(seq, (str, os.PathLike)):
        return read_seq(seq)
    if hasattr(seq, "write") and hasattr(seq, "block_events"):  # a pypulseq.Sequence
        with tempfile.TemporaryDirectory(prefix="mrrecon_sim_") as tmp:
            path = Path(tmp) / "sequence.seq"
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                seq.write(str(path))
            return read_seq(path)
    raise ParameterError(f"seq must be a .seq path, a PulseqSequence or a pypulseq.Sequence, got {type(seq)}")


def _blank_readouts(seq: PulseqSequence, n_coils: int, fov_mm: tuple[float, float, float]) -> Readouts:
    """Zero readouts with the sequence's ADC layout and minimal ISMRMRD headers."""
    events = seq.adc_events()
    n = len(events)
    xml = make_header_xml(
        encoded_matrix=(1, 1, 1),
        encoded_fov_mm=fov_mm,
        recon_matrix=(1, 1, 1),
        recon_fov_mm=fov_mm,
        limits={},
        receiver_channels=n_coils,
        field_strength_t=3.0,
        protocol_name=f"simulated {seq.path.name}",
        system_model="recon_engine.simulate.seq_sim",
    )
    heads = np.zeros(n, dtype=acquisition_header_dtype())
    heads["version"] = 1
    heads["number_of_samples"] = events.n_samples
    heads["active_channels"] = n_coils
    heads["available_channels"] = n_coils
    heads["sample_time_us"] = events.dwell_s * 1e6
    heads["scan_counter"] = np.arange(n)
    heads["acquisition_time_stamp"] = np.round(events.start_s / 2.5e-3).astype(np.uint32)
    heads["read_dir"] = (1.0, 0.0, 0.0)
    heads["phase_dir"] = (0.0, 1.0, 0.0)
    heads["slice_dir"] = (0.0, 0.0, 1.0)
    samples = [np.zeros((n_coils, int(s)), np.complex64) for s in events.n_samples]
    return Readouts(
        header=parse_header(xml),
        acquisitions=AcquisitionTable(heads),
        samples=samples,
        trajectories=[None] * n,
        source=str(seq.path),
    )


def _slice_position_m(timeline: Timeline) -> float:
    """``z`` of the first slice-selective excitation, ``f_rf / G_z`` (m); 0 if there is none."""
    for ev in timeline.events:
        if isinstance(ev, RfPulse) and ev.excitation:
            t0 = ev.start_s
            m = timeline.moment.at(np.array([t0, t0 + ev.duration_s]))
            gz = (m[1, 2] - m[0, 2]) / ev.duration_s
            if abs(gz) > 1e-9 and ev.freq_hz:
                return float(ev.freq_hz / gz)
            return 0.0
    return 0.0


def _isochromats(
    maps: dict[str, np.ndarray],
    sens: np.ndarray,
    fov_m: np.ndarray,
    z0_m: float,
    n_iso: int,
    scale: float,
    device: torch.device,
) -> Isochromats:
    """Isochromats of the voxels with PD > 0 (see :mod:`._sim_phantom`)."""
    shape = maps["pd"].shape
    three_d = len(shape) == 3
    shape3 = shape if three_d else (1, *shape)
    vox = np.flatnonzero(maps["pd"].reshape(-1) > 0)
    iz, iy, ix = np.unravel_index(vox, shape3)
    nz, ny, nx = shape3
    dx, dy = fov_m[0] / nx, fov_m[1] / ny
    dz = fov_m[2] / nz if three_d else 0.0
    off, x_l, w_l = subvoxel_offsets(n_iso, 3 if three_d else 2)
    pos = np.empty((vox.size, n_iso, 3))
    pos[..., 0] = ((ix - nx // 2)[:, None] + off[None, :, 0]) * dx
    pos[..., 1] = ((iy - ny // 2)[:, None] + off[None, :, 1]) * dy
    pos[..., 2] = ((iz - nz // 2)[:, None] + off[None, :, 2]) * dz + (0.0 if three_d else z0_m)
    flat = {k: v.reshape(-1)[vox] for k, v in maps.items()}
    t2 = flat["t2"] * 1e-3
    t2s = np.minimum(flat["t2s"] * 1e-3, t2)
    r2p = np.maximum(1.0 / t2s - 1.0 / t2, 0.0)  # 1/T2'
    spread = r2p > 0
    df = flat["b0"][:, None] + (r2p / (2 * math.pi))[:, None] * x_l[None, :]
    w_iso = np.where(spread[:, None], w_l[None, :], 1.0 / n_iso)
    w = flat["pd"][:, None] * w_iso * scale  # (vox, n_iso)
    s = sens.reshape(sens.shape[0], -1)[:, vox]  # (coils, vox)
    weights = (s[:, :, None] * w[None]).reshape(s.shape[0], -1)

    def t(a: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    return Isochromats(
        position_m=t(pos.reshape(-1, 3)),
        df_hz=t(df.reshape(-1)),
        r1=t(np.repeat(1e3 / flat["t1"], n_iso)),
        r2=t(np.repeat(1.0 / t2, n_iso)),
        weights=t(weights, torch.complex64),
    )


def _box_factor(
    samples: list[np.ndarray],
    k_per_m: np.ndarray,
    fov_mm: tuple[float, float, float],
    shape: tuple[int, ...],
    n_iso: int,
) -> None:
    """Multiply each ADC event's samples by the Fourier transform of a box cell, in place."""
    ax = len(shape)
    xyz = shape[::-1]
    cell = [fov_mm[a] / 1e3 / xyz[a] / n_iso ** (1.0 / ax) for a in range(ax)]
    for j, block in enumerate(samples):
        k = np.nan_to_num(k_per_m[j, : block.shape[1]])
        f = np.ones(block.shape[1])
        for a in range(ax):
            f *= np.sinc(k[:, a] * cell[a])
        samples[j] = (block * f[None, :]).astype(np.complex64)


def _sensitivities(coils: int | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(coils, np.ndarray):
        s = np.asarray(coils, dtype=np.complex64)
        if s.shape[1:] != shape:
            raise ParameterError(f"coil sensitivities must be (coils, *{shape}), got {s.shape}")
        return s
    if int(coils) < 1:
        raise ParameterError(f"coils must be ≥ 1, got {coils}")
    if int(coils) == 1:
        return np.ones((1, *shape), np.complex64)
    return birdcage_sensitivities(int(coils), shape)


def _b0_map(b0: str | os.PathLike[str] | np.ndarray | float | None) -> dict[str, np.ndarray] | None:
    if b0 is None or (isinstance(b0, str) and b0.lower() == "none"):
        return None
    if isinstance(b0, (int, float)):
        return {"b0": np.full((1, 1), float(b0))}
    if isinstance(b0, (str, os.PathLike)):
        p = Path(b0)
        try:
            if p.suffix.lower() == ".npz":
                with np.load(p, allow_pickle=False) as z:
                    key = next((k for k in ("b0_hz", "b0", "B0") if k in z.files), z.files[0])
                    return {"b0": np.asarray(z[key], dtype=np.float64)}
            if p.name.lower().endswith((".nii", ".nii.gz")):
                import nibabel as nib

                return {"b0": np.transpose(np.asarray(nib.load(str(p)).get_fdata()).squeeze())}  # type: ignore[attr-defined]
            return {"b0": np.load(p, allow_pickle=False).astype(np.float64)}
        except (OSError, ValueError, StopIteration) as exc:
            raise ParameterError(f"{p}: cannot read the B0 map ({exc})") from exc
    return {"b0": np.asarray(b0, dtype=np.float64)}


def smooth_b0_map(shape: tuple[int, ...], peak_hz: float = 100.0) -> np.ndarray:
    """A smooth off-resonance map for demonstrations: a Gaussian bump above the centre.

    Like the susceptibility field near the frontal sinuses: ``peak_hz`` at ``(y, x) = (-0.3,
    0)`` FOV from the centre, falling off with σ = 0.15 FOV (below 14 % of the peak in the
    lower half of the FOV).

    Parameters
    ----------
    shape
        ``(y, x)`` or ``(z, y, x)`` (the bump is the same on every ``z``).
    peak_hz
        Off-resonance at the centre of the bump (Hz).

    Returns
    -------
    np.ndarray
        float64 ``shape`` in Hz.
    """
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ParameterError(f"shape must be (y, x) or (z, y, x) positive sizes, got {shape!r}")
    ny, nx = shape[-2:]
    y = (np.arange(ny) - ny // 2)[:, None] / ny
    x = (np.arange(nx) - nx // 2)[None, :] / nx
    bump = float(peak_hz) * np.exp(-((y + 0.3) ** 2 + x**2) / (2 * 0.15**2))
    return np.broadcast_to(bump, shape).astype(np.float64)


def simulate_seq_steps(
    seq: SeqLike,
    phantom: PhantomLike = "brain",
    *,
    coils: int | np.ndarray = 8,
    noise: float = 0.0,
    b0: str | os.PathLike[str] | np.ndarray | float | None = None,
    isochromats: int = 4,
    matrix: tuple[int, ...] | None = None,
    fov_mm: float | tuple[float, float, float] | None = None,
    spoiling: Literal["sequence", "ideal"] = "sequence",
    voxel_shape: Literal["box", "point"] = "box",
    max_rf_segments: int = 64,
    seed: int = 0,
    device: DeviceLike = "auto",
) -> Steps[KSpace]:
    """Simulate ``seq`` on a phantom, yielding progress; returns raw k-space.

    Parameters
    ----------
    seq
        Pulseq sequence: a ``.seq`` path, a :class:`~recon_engine.io.pulseq.PulseqSequence`
        or a ``pypulseq.Sequence`` (written to a temporary file and read back).
    phantom
        ``"brain"`` (tissue maps: PD, T1, T2 at 3 T), ``"shepp-logan"`` (PD only, T1 1000 ms,
        T2 100 ms), a ``.npz``/``.npy``/NIfTI file or a mapping of maps ``([z,] y, x)``: see
        :mod:`recon_engine.simulate._sim_phantom` for the names and units.
    coils
        Number of receive coils (ring array, :func:`birdcage_sensitivities`) or complex
        sensitivities ``(coils, [z,] y, x)`` on the simulation matrix.
    noise
        Standard deviation of complex Gaussian noise per k-space sample (``E|n|² = σ²``).
    b0
        Off-resonance in Hz: a map (array or ``.npy``/``.npz``/NIfTI file, any size,
        resampled), a constant, or None/``"none"``; replaces the phantom's own B0 map.
    isochromats
        Isochromats per voxel (≥ 1): sub-voxel positions (gradient spoiling) and the
        Lorentzian T2' spread.
    matrix
        Simulation grid ``(y, x)`` or ``(z, y, x)``; default the reconstruction matrix that
        :func:`~recon_engine.io.pulseq.attach_sequence` gives the sequence.
    fov_mm
        ``(x, y, z)`` FOV in mm (one number: isotropic); default the sequence's ``FOV``.
    spoiling
        ``"sequence"``: only what the sequence does (gradient and RF spoiling);
        ``"ideal"``: transverse magnetisation set to 0 before every excitation pulse.
    voxel_shape
        ``"box"``: each isochromat stands for a uniformly filled cell (the voxel, or with
        ``n`` isochromats a cell of ``1/√n`` (2D) or ``1/∛n`` (3D) of it per axis), so the
        signal of every ADC sample is multiplied by ``Π sinc(k_a · Δ_a)`` at the
        sample's k-space position ``k`` (pypulseq's trajectory): without it, a phantom on a
        coarser grid than the trajectory reaches is a comb of points whose spectrum repeats
        at ``k = N/FOV`` (replicas and grid artefacts). Exact for one isochromat per voxel
        and a sequence whose signal follows the trajectory's coherence pathway; ``"point"``:
        no factor (isochromats are points).
    max_rf_segments
        Piecewise-constant segments per RF pulse, at most.
    seed
        Seed of the noise.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...

    Yields
    ------
    ProgressEvent
        Stage ``"simulate"``, events done / total, ``metrics["isochromat_steps"]``; about
        every 0.25 s of work (at most 4 a second; plus the first and last event), each after
        the first with ``preview``: float32 ``(ADC events, samples)`` ``log(1 + 1000·|s|/max|s|)``
        of the coil-RSS signal simulated so far (acquisition order, zeros not yet simulated;
        every n-th row/column beyond 512). Closing the generator stops the simulation at the
        next event; nothing is left behind.

    Returns
    -------
    KSpace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)`` as sorted by the sequence's
        labels and trajectory (``trajectory`` for non-Cartesian data);
        ``meta["simulation"]``: isochromats, steps, seconds, device, phantom, ...

    Raises
    ------
    ParameterError
        Bad phantom, sizes or options.
    FileFormatError, DataError
        Unreadable sequence, or one without ADC events.
    """
    if noise < 0 or not math.isfinite(noise):
        raise ParameterError(f"noise must be a finite standard deviation ≥ 0, got {noise}")
    if int(isochromats) != isochromats or isochromats < 1:
        raise ParameterError(f"isochromats per voxel must be an integer ≥ 1, got {isochromats}")
    if spoiling not in ("sequence", "ideal"):
        raise ParameterError(f"spoiling must be 'sequence' or 'ideal', got {spoiling!r}")
    if voxel_shape not in ("box", "point"):
        raise ParameterError(f"voxel_shape must be 'box' or 'point', got {voxel_shape!r}")
    if max_rf_segments < 1:
        raise ParameterError(f"max_rf_segments must be ≥ 1, got {max_rf_segments}")
    dev = resolve_device(device)
    s = _as_sequence(seq)
    if len(s.adc_events()) == 0:
        raise DataError(f"{s.path.name}: the sequence has no ADC event; there is nothing to simulate")
    n_coils = int(coils.shape[0]) if isinstance(coils, np.ndarray) else int(coils)
    if isinstance(fov_mm, (int, float)):
        fov_mm = (float(fov_mm),) * 3
    fov = fov_mm or s.fov_mm
    if fov is None:
        raise ParameterError(f"{s.path.name} has no FOV definition; pass fov_mm=(x, y, z) in mm")
    fov3 = (float(fov[0]), float(fov[1]), float(fov[2]))
    blank = attach_sequence(_blank_readouts(s, n_coils, fov3), s, fov_mm=fov3)
    rec = blank.header.recon_matrix
    if matrix is None:
        shape: tuple[int, ...] = (rec[1], rec[0]) if rec[2] == 1 else (rec[2], rec[1], rec[0])
    else:
        shape = tuple(int(v) for v in matrix)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ParameterError(f"matrix must be (y, x) or (z, y, x) positive sizes, got {matrix!r}")
    maps = load_maps(phantom, shape)
    b0_maps = _b0_map(b0)
    if b0_maps is not None:
        from recon_engine.simulate._sim_phantom import resample_maps

        b0v = b0_maps["b0"]
        if b0v.size == 1:
            maps["b0"] = np.full(shape, float(b0v.reshape(-1)[0]))
        else:
            maps["b0"] = resample_maps({"b0": b0v}, shape)["b0"]
    sens = _sensitivities(coils, shape)
    timeline = build_timeline(s, max_rf_segments=max_rf_segments)
    fov_m = np.array(fov3) / 1e3
    # intensity scale: recon of a Nyquist-sampled grid with the orthonormal FFT gives PD·M
    enc_m, enc_fov = blank.header.encoded_matrix, blank.header.encoded_fov_mm
    ax = len(shape)
    xyz = shape[::-1]
    enc_vox = float(np.prod([enc_fov[a] / enc_m[a] for a in range(ax)]))
    ph_vox = float(np.prod([fov3[a] / xyz[a] for a in range(ax)]))
    scale = ph_vox / enc_vox / math.sqrt(float(np.prod(enc_m[:ax])))
    z0 = _slice_position_m(timeline)
    iso = _isochromats(maps, sens, fov_m, z0, int(isochromats), scale, dev)
    state = State.equilibrium(iso.n, dev)

    samples: list[np.ndarray] = [np.zeros((n_coils, int(n)), np.complex64) for n in timeline.n_samples]
    total = len(timeline.events)
    steps = 0
    started = last_yield = time.monotonic()
    t_cur = 0.0
    m_cur = np.zeros(3)
    done = np.zeros(len(samples), bool)
    yield ProgressEvent("simulate", 0, total, metrics={"isochromat_steps": 0.0})
    for i, ev in enumerate(timeline.events):
        if isinstance(ev, RfPulse):
            t0 = max(ev.start_s, t_cur)
            m0 = timeline.moment.at(np.array(t0))
            free_precess(state, iso, m0 - m_cur, t0 - t_cur)
            steps += iso.n
            if spoiling == "ideal" and ev.excitation:
                spoil(state)
            n_seg = ev.b1_hz.shape[0]
            bounds = t0 + ev.dt_s * np.arange(n_seg + 1)
            mb = timeline.moment.at(bounds)
            g = np.diff(mb, axis=0) / ev.dt_s
            steps += rotate_pulse(state, iso, ev.b1_hz, ev.dt_s, g, ev.freq_hz)
            t_cur, m_cur = float(bounds[-1]), mb[-1]
        else:
            assert isinstance(ev, AdcReadout)
            times = np.maximum(ev.times_s, t_cur)
            mk = timeline.moment.at(times)
            sig = readout(state, iso, mk - m_cur, times - t_cur, ev.phase_rad)
            samples[ev.index] = sig.cpu().numpy()
            done[ev.index] = True
            free_precess(state, iso, mk[-1] - m_cur, float(times[-1] - t_cur))
            steps += iso.n * (times.size + 1)
            t_cur, m_cur = float(times[-1]), mk[-1]
        now = time.monotonic()
        if now - last_yield >= _YIELD_S or i == total - 1:
            last_yield = now
            yield ProgressEvent(
                "simulate",
                i + 1,
                total,
                preview=_signal_preview(samples, done),
                metrics={"isochromat_steps": float(steps)},
            )
    elapsed = time.monotonic() - started
    if voxel_shape == "box":
        _box_factor(samples, s.kspace_adc(), fov3, shape, int(isochromats))
    if noise > 0:
        rng = np.random.default_rng(seed)
        for j, block in enumerate(samples):
            w = rng.standard_normal((2, *block.shape))
            samples[j] = (block + noise * (w[0] + 1j * w[1]) / math.sqrt(2.0)).astype(np.complex64)
    readouts = blank.with_updates(samples=samples)
    kspace = sort_readouts(readouts)
    info = {
        "sequence": s.path.name,
        "phantom": phantom if isinstance(phantom, str) else "maps",
        "matrix": shape,
        "isochromats_per_voxel": int(isochromats),
        "isochromats": iso.n,
        "coils": n_coils,
        "noise": float(noise),
        "spoiling": spoiling,
        "voxel_shape": voxel_shape,
        "slice_position_mm": z0 * 1e3,
        "isochromat_steps": steps,
        "seconds": elapsed,
        "isochromat_steps_per_s": steps / elapsed if elapsed > 0 else float("inf"),
        "device": str(dev),
    }
    return replace(kspace, meta={**kspace.meta, "simulation": info})


def simulate_seq(
    seq: SeqLike,
    phantom: PhantomLike = "brain",
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> KSpace:
    """:func:`simulate_seq_steps` run to the end; returns the raw k-space.

    Parameters
    ----------
    seq, phantom
        The sequence and the phantom (see :func:`simulate_seq_steps`).
    progress
        Optional callable receiving every :class:`~recon_engine.progress.ProgressEvent`.
    **options
        The keyword options of :func:`simulate_seq_steps` (``coils``, ``noise``, ``b0``,
        ``isochromats``, ``matrix``, ``fov_mm``, ``spoiling``, ``seed``, ``device``, ...).

    Returns
    -------
    KSpace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)`` with the sequence's ADC layout,
        labels and trajectory; ``meta["simulation"]`` describes the run.
    """
    return run(simulate_seq_steps(seq, phantom, **options), progress)
