"""Simulated multi-coil, undersampled multi-contrast raw data of the tissue phantom (qMRI).

One function per acquisition, each returning a :class:`QMRIRaw` with the k-space, the
sampling, the coil maps and the truth:

- :func:`simulate_qmri_raw` ``"ir"``: inversion recovery, 8 TIs, ``S = PD·(1 − 2·exp(−TI/T1))``;
- ``"molli"``: MOLLI 5(3)3 (two Look-Locker inversions, RR 1000 ms), apparent ``T1*`` with
  ``1/T1* = 1/T1 + 1/T_LL`` (``T_LL`` = 2500 ms), ``a = PD·T1*/T1``, ``b = a + PD`` (both
  inversions start from equilibrium, as the 3-parameter MOLLI fit assumes);
- ``"vfa"``: spoiled gradient echo at 6 flip angles, TR 15 ms;
- ``"mese"``: multi-echo spin echo by EPG (12 echoes, 10 ms spacing, T1 1000 ms) with a smooth
  B1 map (0.85–1.0);
- ``"mrf"``: FISP fingerprinting by EPG (inversion, sinusoidal flip-angle train, TR 12 ms), one
  spiral interleave (of 24, rotated every frame) or one golden-angle radial spoke per frame.

Cartesian masks vary per contrast (:func:`contrast_masks`): each contrast keeps every R-th
``k1`` line on a lattice shifted by one line per contrast, plus a fully sampled central block.
Every contrast image carries the same smooth phase (as a receive phase does). The object is
simulated on the reconstruction grid (the maps are piecewise constant, so the phantom edges are
sharp; errors are evaluated in eroded tissue masks, :func:`tissue_masks`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ParameterError
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype, acquisition_headers
from recon_engine.simulate.acquire import simulate_cartesian
from recon_engine.simulate.coils import birdcage_sensitivities
from recon_engine.simulate.phantom import TISSUES, tissue_maps
from recon_engine.simulate.trajectories import radial, spiral

__all__ = [
    "QMRI_CARTESIAN_KINDS",
    "QMRI_RAW_KINDS",
    "QMRIRaw",
    "contrast_masks",
    "mrf_schedule",
    "simulate_qmri_raw",
    "tissue_masks",
    "write_qmri_raw",
]

#: Acquisitions :func:`simulate_qmri_raw` knows.
QMRI_RAW_KINDS: tuple[str, ...] = ("ir", "molli", "vfa", "mese", "mrf")
#: The Cartesian ones (:func:`write_qmri_raw`, ``mrrecon simulate --qmri``).
QMRI_CARTESIAN_KINDS: tuple[str, ...] = ("ir", "molli", "vfa", "mese")

_IR_TI = (50.0, 150.0, 300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0)
_MOLLI_TI = (100.0, 180.0, 1100.0, 1180.0, 2100.0, 2180.0, 3100.0, 4100.0)  # 5(3)3, RR 1000 ms, sorted
_T_LL_MS = 2500.0
_VFA_FA = (2.0, 4.0, 8.0, 12.0, 16.0, 20.0)
_VFA_TR = 15.0
_MESE_ESP = 10.0
_MESE_ECHOES = 12
_MESE_T1 = 1000.0
_MRF_TR = 12.0
_MRF_TI = 20.0
_SPIRAL_ARMS = 24


@dataclass(frozen=True)
class QMRIRaw:
    """A simulated multi-contrast raw acquisition and its truth.

    Attributes
    ----------
    kind
        One of :data:`QMRI_RAW_KINDS`.
    model
        The qMRI model that fits it (``"ir"``, ``"molli"``, ``"vfa"``, ``"mese"``, ``"mrf"``).
    kspace
        Cartesian kinds: ``data`` complex64 ``(contrast, coils, 1, y, x)``, ``other_axes =
        ("contrast",)``, ``sampling_mask`` ``(contrast, 1, y)``, with a noise scan. MRF: ``data``
        ``(frame, coils, 1, 1, samples)`` with ``trajectory`` ``(frame, 1, 1, samples, 3)``
        (cycles per FOV), ``other_axes = ("repetition",)``.
    times
        ``(n,)`` TI/TE in ms, or flip angles in degrees (VFA, MRF).
    options
        Model options for the fit (``tr``, ``echo_spacing``, ``t1``, ``inversion_time`` …).
    coil_maps
        complex64 ``(coils, y, x)``, ``Σ|S|² = 1``.
    images
        complex64 ``(n, y, x)`` noise-free contrast images (with the phase).
    truth
        ``"pd"``, ``"t1"``, ``"t2"`` (ms), ``"labels"``, ``"b1"`` (MESE), each ``(y, x)``.
    acceleration
        Nominal acceleration R (lattice spacing; MRF: interleaves per fully sampled frame).
    effective_acceleration
        Mean of (lines per frame / acquired lines).
    noise_std
        Noise SD per k-space sample (PD = 1 images).
    """

    kind: str
    model: str
    kspace: KSpace
    times: np.ndarray
    options: dict[str, object]
    coil_maps: np.ndarray
    images: np.ndarray
    truth: dict[str, np.ndarray]
    acceleration: float
    effective_acceleration: float
    noise_std: float
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def maps_for_recon(self) -> np.ndarray:
        """The true coil maps as ``(1, coils, 1, y, x)`` for the reconstructions' ``maps=``."""
        return self.coil_maps[None, :, None]


def contrast_masks(n_contrasts: int, n_k1: int, acceleration: int, calibration_lines: int = 8) -> np.ndarray:
    """Phase-encoding masks that vary per contrast.

    Contrast ``t`` keeps lines ``j`` with ``(j − n_k1//2 + t) mod R = 0`` (a lattice shifted by
    one line per contrast, so ``R`` consecutive contrasts cover k-space) and the central
    ``calibration_lines``.

    Returns
    -------
    np.ndarray
        bool ``(n_contrasts, n_k1)``.
    """
    if acceleration < 1 or n_contrasts < 1 or n_k1 < 2:
        raise ParameterError(f"need acceleration ≥ 1, contrasts ≥ 1 and k1 ≥ 2; got {acceleration}")
    j = np.arange(n_k1)
    c = n_k1 // 2
    out = np.zeros((n_contrasts, n_k1), bool)
    for t in range(n_contrasts):
        out[t] = (j - c + t) % int(acceleration) == 0
        out[t, c - calibration_lines // 2 : c - calibration_lines // 2 + calibration_lines] = True
    return out


def tissue_masks(labels: np.ndarray, erode: int = 1) -> dict[str, np.ndarray]:
    """Eroded masks of white matter, grey matter and CSF (``"wm"``, ``"gm"``, ``"csf"``)."""
    from scipy.ndimage import binary_erosion

    names = list(TISSUES)
    out = {}
    for key, tissue in (("wm", "white_matter"), ("gm", "grey_matter"), ("csf", "csf")):
        m = labels == names.index(tissue)
        out[key] = np.asarray(binary_erosion(m, iterations=erode) if erode > 0 else m, bool)
    return out


def mrf_schedule(n_frames: int = 240) -> np.ndarray:
    """FISP flip-angle train (degrees): two sinusoidal lobes of 10–60° and 5–40° (Jiang et al. 2015 style)."""
    if n_frames < 8:
        raise ParameterError(f"an MRF train needs at least 8 frames, got {n_frames}")
    t = np.arange(n_frames)
    half = n_frames // 2
    lobe1 = 10.0 + 50.0 * np.sin(np.pi * t[:half] / half)
    lobe2 = 5.0 + 35.0 * np.sin(np.pi * (t[half:] - half) / (n_frames - half)) ** 2
    return np.concatenate([lobe1, lobe2]).astype(np.float64)


def _phase(n: int) -> np.ndarray:
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    return np.exp(1j * (0.6 * x + 0.3 * y + 0.4 * x * y)).astype(np.complex64)


def _b1_map(n: int) -> np.ndarray:
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    return (1.0 - 0.15 * (x**2 + y**2) / 2.0).astype(np.float32)


def _contrasts(kind: str, truth: dict[str, np.ndarray], n_frames: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(n, y, x)`` real contrast images, the sampling values, the model options."""
    pd, t1, t2 = truth["pd"].astype(np.float64), truth["t1"], truth["t2"]
    t1 = np.where(t1 > 0, t1, 1000.0).astype(np.float64)
    t2 = np.where(t2 > 0, t2, 100.0).astype(np.float64)
    if kind == "ir":
        ti = np.asarray(_IR_TI)
        return pd * (1.0 - 2.0 * np.exp(-ti[:, None, None] / t1)), ti, {}
    if kind == "molli":
        ti = np.asarray(_MOLLI_TI)
        t1s = 1.0 / (1.0 / t1 + 1.0 / _T_LL_MS)
        a = pd * t1s / t1
        return a - (a + pd) * np.exp(-ti[:, None, None] / t1s), ti, {}
    if kind == "vfa":
        fa = np.asarray(_VFA_FA)
        alpha = np.deg2rad(fa)[:, None, None]
        e1 = np.exp(-_VFA_TR / t1)
        return pd * np.sin(alpha) * (1 - e1) / (1 - e1 * np.cos(alpha)), fa, {"tr": _VFA_TR}
    if kind == "mese":
        from recon_engine.qmri.epg import epg_cpmg

        te = _MESE_ESP * np.arange(1, _MESE_ECHOES + 1)
        inside = pd > 0
        b1 = truth["b1"]
        echoes = epg_cpmg(
            torch.as_tensor(t2[inside]), n_echoes=_MESE_ECHOES, echo_spacing=_MESE_ESP, t1=_MESE_T1,
            b1=torch.as_tensor(b1[inside].astype(np.float64)),
        ).numpy()  # fmt: skip
        out = np.zeros((_MESE_ECHOES, *pd.shape))
        out[:, inside] = echoes.T * pd[inside]
        return out, te, {"echo_spacing": _MESE_ESP, "t1": _MESE_T1}
    if kind == "mrf":
        from recon_engine.qmri.epg import epg_fisp

        fa = mrf_schedule(n_frames)
        pairs, inverse = np.unique(np.stack([t1.ravel(), t2.ravel()], 1), axis=0, return_inverse=True)
        sig = epg_fisp(
            torch.as_tensor(pairs[:, 0]), torch.as_tensor(pairs[:, 1]), flip_angles=torch.as_tensor(fa),
            tr=_MRF_TR, te=0.0, inversion_time=_MRF_TI, n_states=64,
        ).numpy()  # fmt: skip
        out = (sig[inverse.reshape(-1)].T * pd.reshape(-1)).reshape(n_frames, *pd.shape)
        return out, fa, {"tr": _MRF_TR, "te": 0.0, "inversion_time": _MRF_TI}
    raise ParameterError(f"unknown qMRI acquisition {kind!r}; choose one of {', '.join(QMRI_RAW_KINDS)}")


def _stack_cartesian(parts: list[KSpace], masks: np.ndarray) -> KSpace:
    data = torch.stack([p.data for p in parts])  # (n, coils, 1, y, x)
    m = torch.from_numpy(masks[:, None, :])  # (n, 1, y)
    data = data * m[:, None, :, :, None]
    first = parts[0]
    cal = torch.from_numpy(np.all(masks, axis=0, keepdims=True))  # (1, y): the lines every contrast has
    k = replace(
        first,
        data=data,
        other_axes=("contrast",),
        sampling_mask=m,
        calibration_mask=cal,
        acquisitions=AcquisitionTable(np.zeros(0, dtype=acquisition_header_dtype())),
    )
    return replace(k, acquisitions=AcquisitionTable(acquisition_headers(k)))


def simulate_qmri_raw(
    kind: str = "ir",
    *,
    n: int = 64,
    acceleration: int = 4,
    n_coils: int = 8,
    calibration_lines: int = 8,
    noise_std: float = 0.002,
    n_frames: int = 240,
    trajectory: str = "spiral",
    seed: int = 0,
) -> QMRIRaw:
    """Simulate an undersampled multi-coil multi-contrast acquisition of the tissue phantom.

    Parameters
    ----------
    kind
        ``"ir"``, ``"molli"``, ``"vfa"``, ``"mese"`` or ``"mrf"``.
    n
        Matrix ``n × n``.
    acceleration
        Cartesian: keep every R-th line per contrast (shifted lattice) plus the central block.
        MRF: ignored (one interleave or spoke per frame).
    n_coils
        Receive channels (birdcage ring).
    calibration_lines
        Fully sampled central lines of every Cartesian contrast.
    noise_std
        Complex noise SD per k-space sample (orthonormal FFT: also per coil-image voxel, PD = 1).
    n_frames
        MRF frames.
    trajectory
        MRF: ``"spiral"`` (one of 24 interleaves per frame) or ``"radial"`` (one golden-angle
        spoke per frame).
    seed
        Noise seed.

    Returns
    -------
    QMRIRaw
    """
    if kind not in QMRI_RAW_KINDS:
        raise ParameterError(f"unknown qMRI acquisition {kind!r}; choose one of {', '.join(QMRI_RAW_KINDS)}")
    maps_t = tissue_maps(n)
    truth = {"pd": maps_t["pd"], "t1": maps_t["t1_ms"], "t2": maps_t["t2_ms"], "labels": maps_t["labels"]}
    if kind == "mese":
        truth["b1"] = np.where(truth["pd"] > 0, _b1_map(n), 0.0).astype(np.float32)
    real, times, options = _contrasts(kind, truth, n_frames)
    images = (real * _phase(n)[None]).astype(np.complex64)
    coils = birdcage_sensitivities(n_coils, (n, n))
    if kind == "mrf":
        return _simulate_mrf(truth, images, times, options, coils, noise_std, trajectory, seed)
    label = {"ir": "ti_ms", "molli": "ti_ms", "mese": "te_ms", "vfa": "flip_angle_deg"}[kind]
    parts = [
        simulate_cartesian(
            images[t], coils, readout_oversampling=1, noise_std=noise_std, seed=seed * 1000 + t,
            n_noise_samples=2048 if t == 0 else 0, **{label: tuple(float(v) for v in times)},  # type: ignore[arg-type]
            tr_ms=(float(options.get("tr", 5000.0)),),  # type: ignore[arg-type]
            protocol_name=f"simulated qMRI {kind}",
        )
        for t in range(times.size)
    ]  # fmt: skip
    masks = contrast_masks(times.size, n, acceleration, calibration_lines)
    ks = _stack_cartesian(parts, masks)
    ks = replace(ks, noise=parts[0].noise, meta={**parts[0].meta, "qmri_times": times.tolist()})
    eff = float(np.mean(n / masks.sum(1)))
    return QMRIRaw(
        kind=kind, model=kind, kspace=ks, times=times, options=options, coil_maps=coils, images=images,
        truth=truth, acceleration=float(acceleration), effective_acceleration=eff, noise_std=float(noise_std),
    )  # fmt: skip


def _simulate_mrf(
    truth: dict[str, np.ndarray],
    images: np.ndarray,
    times: np.ndarray,
    options: dict[str, object],
    coils: np.ndarray,
    noise_std: float,
    trajectory: str,
    seed: int,
) -> QMRIRaw:
    from recon_engine.data.geometry import Geometry
    from recon_engine.data.header import parse_header
    from recon_engine.io.ismrmrd_write import encoding_limits, make_header_xml
    from recon_engine.operators.nufft import NUFFTOp

    n_frames, n = images.shape[0], images.shape[-1]
    if trajectory == "spiral":
        arms = spiral(_SPIRAL_ARMS, 4 * n, n, undersampling=0.75)
        traj = arms[np.arange(n_frames) % _SPIRAL_ARMS]
        accel = float(_SPIRAL_ARMS)
    elif trajectory == "radial":
        spokes = radial(n_frames, 2 * n, golden_angle=True, matrix=n)
        traj = spokes
        accel = float(math.pi / 2 * n)
    else:
        raise ParameterError(f"MRF trajectory must be 'spiral' or 'radial', got {trajectory!r}")
    traj = np.ascontiguousarray(traj, np.float32)  # (frames, samples, 3)
    op = NUFFTOp(torch.from_numpy(traj), (n, n))
    coil_imgs = torch.from_numpy((coils[None] * images[:, None]).astype(np.complex64))  # (f, c, y, x)
    k = op(coil_imgs).numpy()  # (frames, coils, samples)
    rng = np.random.default_rng(seed)
    k = k + noise_std * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)) / math.sqrt(2)
    w = rng.standard_normal((2, coils.shape[0], 2048))
    noise = noise_std * (w[0] + 1j * w[1]) / math.sqrt(2)
    samples = traj.shape[1]
    xml = make_header_xml(
        encoded_matrix=(n, n, 1), encoded_fov_mm=(220.0, 220.0, 5.0), recon_matrix=(n, n, 1),
        recon_fov_mm=(220.0, 220.0, 5.0), limits=encoding_limits(1, 1), trajectory=trajectory,
        receiver_channels=coils.shape[0], tr_ms=(float(options["tr"]),),  # type: ignore[arg-type]
        flip_angle_deg=tuple(float(v) for v in times), system_model="recon_engine.simulate",
        protocol_name="simulated qMRI mrf",
    )  # fmt: skip
    data = torch.from_numpy(k.astype(np.complex64).reshape(n_frames, coils.shape[0], 1, 1, samples))
    ks = KSpace(
        data=data,
        header=parse_header(xml),
        geometry=Geometry.from_vectors((n, n, 1), (220.0, 220.0, 5.0)),
        other_axes=("repetition",),
        sampling_mask=torch.ones(n_frames, 1, 1, dtype=torch.bool),
        calibration_mask=torch.zeros(n_frames, 1, 1, dtype=torch.bool),
        acquisitions=AcquisitionTable(np.zeros(0, dtype=acquisition_header_dtype())),
        noise=torch.from_numpy(noise.astype(np.complex64)),
        trajectory=torch.from_numpy(traj.reshape(n_frames, 1, 1, samples, 3)),
        meta={"noise_std": float(noise_std), "seed": int(seed), "qmri_times": times.tolist()},
    )
    return QMRIRaw(
        kind="mrf", model="mrf", kspace=ks, times=times, options=options, coil_maps=coils, images=images,
        truth=truth, acceleration=accel, effective_acceleration=accel, noise_std=float(noise_std),
        meta={"trajectory": trajectory},
    )  # fmt: skip


def write_qmri_raw(
    kind: str,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    **options: object,
) -> tuple[Path, QMRIRaw]:
    """Simulate one acquisition (:func:`simulate_qmri_raw`) and write its raw data as ISMRMRD.

    The file holds every contrast (``contrast`` counters), the per-contrast sampling, the noise
    scan, and the sampling values in the header (``TI``/``TE`` lists, flip angles, TR), so that
    ``mrrecon fit FILE --model KIND --method model-based`` and
    :func:`recon_engine.qmri.model_based.map_raw_steps` read it back as they read scanner data.

    Parameters
    ----------
    kind
        One of :data:`QMRI_CARTESIAN_KINDS` (``"ir"``, ``"molli"``, ``"vfa"``, ``"mese"``), or
        ``"mrf"``: FISP fingerprinting, one golden-angle radial spoke or spiral interleave per
        frame (:func:`recon_engine.simulate.mrf_raw.simulate_mrf_raw`; TR, TI and the flip-angle
        schedule in the header).
    path
        Output ``.h5`` file (written to a temporary file and renamed).
    overwrite
        Replace an existing file.
    **options
        Passed to :func:`simulate_qmri_raw` (``n``, ``acceleration``, ``n_coils``, ``noise_std``,
        ``calibration_lines``, ``seed``) or, for ``"mrf"``, to ``simulate_mrf_raw`` (``n``,
        ``n_frames``, ``n_coils``, ``trajectory``, ``noise_std``, ``seed``).

    Returns
    -------
    (Path, QMRIRaw)
        The written file and the simulation (with the truth maps).

    Raises
    ------
    ParameterError
        Unknown kind or option values.
    ExportError
        The file exists (without ``overwrite``) or cannot be written.
    """
    from recon_engine.io.ismrmrd_write import write_ismrmrd

    if kind == "mrf":
        from recon_engine.simulate.mrf_raw import simulate_mrf_raw

        raw = simulate_mrf_raw(**options)  # type: ignore[arg-type]
        return write_ismrmrd(raw.kspace, path, overwrite=overwrite), raw
    if kind not in QMRI_CARTESIAN_KINDS:
        raise ParameterError(
            f"simulated qMRI raw files are written for {', '.join(QMRI_CARTESIAN_KINDS)} and mrf, "
            f"not {kind!r}"
        )
    raw = simulate_qmri_raw(kind, **options)  # type: ignore[arg-type]
    return write_ismrmrd(raw.kspace, path, overwrite=overwrite), raw
