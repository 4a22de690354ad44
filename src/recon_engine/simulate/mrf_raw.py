"""Simulated non-Cartesian MR fingerprinting raw data (FISP, one spoke or interleave per frame).

:func:`simulate_mrf_raw` acquires the tissue phantom with an inversion-prepared FISP train
(EPG, every dephasing state kept; the flip-angle train of
:func:`~recon_engine.simulate.qmri_raw.mrf_schedule`), one golden-angle radial spoke or one
golden-angle-rotated spiral interleave per frame, on a ring of receive coils, with complex
Gaussian noise and a noise scan.

No inverse crime: the object and the coils are simulated on a grid ``oversampling`` times finer
than the reconstruction matrix and transformed there (the phantom edges are as sharp as that
grid, the coil maps and the receive phase are evaluated on it); the truth maps and the coil maps
returned are those of the reconstruction grid. The phantom has a few (T1, T2) pairs, so the
k-space is exact and cheap: one NUFFT of each pair's coil images at every sample of every frame,
then ``y[t] = Σ_j s_j(t) · k_j[t]`` with ``s_j`` the FISP signal of pair ``j``.

The k-space layout is that of ``simulate_qmri_raw("mrf")``: ``data`` ``(frame, coils, 1, 1,
samples)``, ``trajectory`` ``(frame, 1, 1, samples, 3)`` in cycles per FOV, ``other_axes =
("repetition",)``, the flip angles in the header and in ``meta["qmri_times"]``, TR in the header.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ParameterError
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype
from recon_engine.simulate.coils import birdcage_sensitivities
from recon_engine.simulate.phantom import tissue_maps
from recon_engine.simulate.qmri_raw import QMRIRaw, mrf_schedule
from recon_engine.simulate.trajectories import radial, spiral

__all__ = ["MRF_TRAJECTORIES", "mrf_trajectory", "simulate_mrf_raw"]

#: Trajectories of :func:`simulate_mrf_raw`.
MRF_TRAJECTORIES: tuple[str, ...] = ("radial", "spiral")

#: Interleaves of the spiral design (one of them, rotated, per frame).
_SPIRAL_DESIGN = 24
#: Golden angle of the full circle, 2π (1 − 1/φ) ≈ 137.5°, for rotating spiral interleaves.
_GOLDEN_FULL = 2.0 * math.pi * (1.0 - (math.sqrt(5.0) - 1.0) / 2.0)


def mrf_trajectory(kind: str, n_frames: int, n: int) -> tuple[np.ndarray, float]:
    """One readout per frame: float32 ``(n_frames, samples, 3)`` in cycles per FOV, and R per frame.

    ``"radial"``: golden-angle spokes (111.25°) of ``2n`` samples (2× readout oversampling);
    R = ``π/2 · n`` spokes for Nyquist. ``"spiral"``: one interleave of a 24-interleave
    Archimedean design (``4n`` samples, ring spacing 0.75 at the edge), rotated by the golden
    angle of the circle (137.5°) each frame; R = 24.
    """
    if kind == "radial":
        return radial(n_frames, 2 * n, golden_angle=True, matrix=n), math.pi / 2 * n
    if kind == "spiral":
        arm = spiral(_SPIRAL_DESIGN, 4 * n, n, undersampling=0.75)[0].astype(np.float64)  # (samples, 3)
        ang = np.arange(n_frames) * _GOLDEN_FULL
        c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
        ky, kx = arm[None, :, 1], arm[None, :, 2]
        out = np.stack([np.zeros((n_frames, arm.shape[0])), s * kx + c * ky, c * kx - s * ky], -1)
        lim = n / 2.0
        return np.clip(out, -lim, lim).astype(np.float32), float(_SPIRAL_DESIGN)
    raise ParameterError(f"MRF trajectory must be one of {', '.join(MRF_TRAJECTORIES)}, got {kind!r}")


def _phase(n: int) -> np.ndarray:
    """Smooth receive phase on an ``n × n`` grid (the coordinates of the coil maps: ±1 at the edges)."""
    c = (np.arange(n) - n // 2) / (n / 2.0)
    y, x = np.meshgrid(c, c, indexing="ij")
    return np.exp(1j * (0.6 * x + 0.3 * y + 0.4 * x * y)).astype(np.complex64)


def simulate_mrf_raw(
    *,
    n: int = 64,
    n_frames: int = 300,
    n_coils: int = 8,
    trajectory: str = "radial",
    noise_std: float = 0.002,
    tr: float = 12.0,
    inversion_time: float = 20.0,
    oversampling: int = 2,
    seed: int = 0,
) -> QMRIRaw:
    """Simulate a multi-coil FISP MRF acquisition of the tissue phantom, one readout per frame.

    Parameters
    ----------
    n
        Reconstruction matrix ``n × n`` (even).
    n_frames
        Frames of the FISP train (≥ 8).
    n_coils
        Receive channels (birdcage ring, ``Σ|S|² = 1``).
    trajectory
        ``"radial"`` (golden-angle spokes) or ``"spiral"`` (golden-angle-rotated interleaves).
    noise_std
        Complex noise SD per k-space sample; the orthonormal NUFFT makes a PD = 1 voxel of a fully
        sampled frame have unit amplitude, so ``1/noise_std`` is the SNR of such an image.
    tr, inversion_time
        Repetition time and delay after the initial inversion (ms).
    oversampling
        The object is simulated on an ``oversampling · n`` grid (1: on the recon grid).
    seed
        Noise seed.

    Returns
    -------
    QMRIRaw
        ``kind = model = "mrf"``; ``times`` the flip angles (deg); ``options`` ``tr``, ``te``,
        ``inversion_time``; ``images`` the noise-free ``(n_frames, n, n)`` frames on the recon grid;
        ``acceleration`` readouts per fully sampled frame; ``meta["trajectory"]``.
    """
    from recon_engine.data.geometry import Geometry
    from recon_engine.data.header import parse_header
    from recon_engine.io.ismrmrd_write import encoding_limits, make_header_xml
    from recon_engine.operators.nufft import NUFFTOp
    from recon_engine.qmri.epg import epg_fisp

    if n < 8 or n % 2:
        raise ParameterError(f"the MRF matrix must be even and ≥ 8, got {n}")
    if int(oversampling) != oversampling or oversampling < 1:
        raise ParameterError(f"oversampling must be an integer ≥ 1, got {oversampling}")
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ParameterError(f"noise_std must be a finite number ≥ 0, got {noise_std}")
    if not (tr > 0 and inversion_time >= 0):
        raise ParameterError(f"need TR > 0 and an inversion time ≥ 0, got {tr} and {inversion_time} ms")
    fa = mrf_schedule(n_frames)
    traj, accel = mrf_trajectory(trajectory, n_frames, n)
    big = int(oversampling) * n
    fine = tissue_maps(big)
    truth_maps = tissue_maps(n)
    truth = {
        "pd": truth_maps["pd"], "t1": truth_maps["t1_ms"], "t2": truth_maps["t2_ms"],
        "labels": truth_maps["labels"],
    }  # fmt: skip

    def signals(t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
        return epg_fisp(
            torch.as_tensor(t1, dtype=torch.float64), torch.as_tensor(t2, dtype=torch.float64),
            flip_angles=torch.as_tensor(fa), tr=float(tr), te=0.0, inversion_time=float(inversion_time),
        ).numpy()  # fmt: skip

    inside = fine["pd"] > 0
    pairs, which = np.unique(
        np.stack([fine["t1_ms"][inside], fine["t2_ms"][inside]], 1), axis=0, return_inverse=True
    )
    sig = signals(pairs[:, 0], pairs[:, 1])  # (J, frames)
    labels = np.full(fine["pd"].shape, -1)
    labels[inside] = which.reshape(-1)
    obj = fine["pd"].astype(np.complex64) * _phase(big)
    coils_big = birdcage_sensitivities(n_coils, (big, big))
    parts = np.stack([obj * (labels == j) for j in range(len(pairs))])  # (J, y, x)
    coil_parts = torch.from_numpy((parts[:, None] * coils_big[None]).astype(np.complex64))  # (J, C, y, x)
    op = NUFFTOp(torch.from_numpy(traj.reshape(-1, 3)), (big, big), eps=1e-6, upsampfac=2.0)
    kj = op(coil_parts).numpy().reshape(len(pairs), n_coils, n_frames, -1) / float(oversampling)
    k = np.einsum("jt,jctp->tcp", sig.astype(np.complex64), kj)  # (frames, coils, samples)
    rng = np.random.default_rng(seed)
    k = k + noise_std * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)) / math.sqrt(2)
    w = rng.standard_normal((2, n_coils, 2048))
    noise = noise_std * (w[0] + 1j * w[1]) / math.sqrt(2)

    # the noise-free frames on the recon grid (for reference and previews)
    inside_n = truth["pd"] > 0
    pairs_n, which_n = np.unique(
        np.stack([truth["t1"][inside_n], truth["t2"][inside_n]], 1), axis=0, return_inverse=True
    )
    sig_n = signals(pairs_n[:, 0], pairs_n[:, 1])
    images = np.zeros((n_frames, n, n), np.complex64)
    images[:, inside_n] = (sig_n[which_n.reshape(-1)] * truth["pd"][inside_n][:, None]).T
    images *= _phase(n)[None]
    coils = birdcage_sensitivities(n_coils, (n, n))

    samples = traj.shape[1]
    xml = make_header_xml(
        encoded_matrix=(n, n, 1), encoded_fov_mm=(220.0, 220.0, 5.0), recon_matrix=(n, n, 1),
        recon_fov_mm=(220.0, 220.0, 5.0), limits=encoding_limits(1, 1), trajectory=trajectory,
        receiver_channels=n_coils, tr_ms=(float(tr),), ti_ms=(float(inversion_time),),
        flip_angle_deg=tuple(float(v) for v in fa),
        system_model="recon_engine.simulate", protocol_name="simulated MRF FISP",
    )  # fmt: skip
    ks = KSpace(
        data=torch.from_numpy(k.astype(np.complex64).reshape(n_frames, n_coils, 1, 1, samples)),
        header=parse_header(xml),
        geometry=Geometry.from_vectors((n, n, 1), (220.0, 220.0, 5.0)),
        other_axes=("repetition",),
        sampling_mask=torch.ones(n_frames, 1, 1, dtype=torch.bool),
        calibration_mask=torch.zeros(1, 1, dtype=torch.bool),
        acquisitions=AcquisitionTable(np.zeros(0, dtype=acquisition_header_dtype())),
        noise=torch.from_numpy(noise.astype(np.complex64)) if noise_std > 0 else None,
        trajectory=torch.from_numpy(traj.reshape(n_frames, 1, 1, samples, 3)),
        meta={"noise_std": float(noise_std), "seed": int(seed), "qmri_times": fa.tolist()},
    )
    options: dict[str, object] = {"tr": float(tr), "te": 0.0, "inversion_time": float(inversion_time)}
    return QMRIRaw(
        kind="mrf", model="mrf", kspace=ks, times=fa, options=options, coil_maps=coils, images=images,
        truth=truth, acceleration=accel, effective_acceleration=accel, noise_std=float(noise_std),
        meta={"trajectory": trajectory, "oversampling": int(oversampling)},
    )  # fmt: skip
