"""Simulated Cartesian multi-coil acquisition: image → undersampled noisy k-space.

The forward model is ``y = M · crop(F · pad_x(S · ρ)) + n``: coil sensitivities ``S``,
readout oversampling by zero-padding the image along ``x`` (so the encoded FOV is
``oversampling × recon FOV``), a centred orthonormal FFT, optional cropping of k-space
(simulate on a finer grid than the reconstruction to avoid the inverse crime), the
sampling mask ``M`` and complex Gaussian noise with a correlated coil covariance ``Ψ``.
The same noise process fills a separate noise scan, as a scanner's noise adjustment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.geometry import Geometry
from recon_engine.data.header import parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ParameterError
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype, acquisition_headers
from recon_engine.io.ismrmrd_write import encoding_limits, make_header_xml
from recon_engine.operators.fft import centered_fft

__all__ = ["cartesian_mask", "noise_covariance", "simulate_cartesian"]


def noise_covariance(n_coils: int, *, seed: int = 0) -> np.ndarray:
    """A realistic receiver noise covariance of a ring array.

    Channel noise levels differ by about ±15 % and neighbouring coils on the ring are
    correlated (``|ρ| ≈ 0.25`` for neighbours, decaying with distance), with random
    phases; the matrix is Hermitian and positive definite (diagonally dominant).

    Parameters
    ----------
    n_coils
        Number of channels.
    seed
        Seed of the random phases and gains.

    Returns
    -------
    np.ndarray
        complex128 ``(coils, coils)``, mean diagonal ≈ 1.
    """
    rng = np.random.default_rng([seed, 7])
    c = np.arange(n_coils)
    dist = np.abs(c[:, None] - c[None, :])
    dist = np.minimum(dist, n_coils - dist)
    coupling = np.where(dist > 0, 0.25 * np.exp(-(dist - 1.0)), 0.0)
    phase = np.triu(rng.uniform(-np.pi, np.pi, (n_coils, n_coils)), 1)
    corr = np.eye(n_coils) + coupling * np.exp(1j * (phase - phase.T))
    gains = np.exp(rng.normal(0.0, 0.15, n_coils))
    return np.asarray(gains[:, None] * corr * gains[None, :], dtype=np.complex128)


def cartesian_mask(
    n_k1: int, acceleration: int = 1, calibration_lines: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Regular undersampling along ``k1`` with a fully sampled central block.

    Parameters
    ----------
    n_k1
        Number of phase-encoding lines of the encoded matrix.
    acceleration
        Keep every ``acceleration``-th line, on a grid through the centre line ``n_k1 // 2``.
    calibration_lines
        Width of the central fully sampled (ACS) block, starting at
        ``n_k1 // 2 - calibration_lines // 2``.

    Returns
    -------
    sampled, calibration
        bool ``(k1,)`` each: acquired lines, and lines of the calibration block.
    """
    if acceleration < 1 or calibration_lines < 0 or calibration_lines > n_k1:
        raise ParameterError(
            f"need acceleration ≥ 1 and 0 ≤ calibration_lines ≤ {n_k1}, "
            f"got {acceleration} and {calibration_lines}"
        )
    k = np.arange(n_k1)
    sampled = (k - n_k1 // 2) % acceleration == 0
    start = n_k1 // 2 - calibration_lines // 2
    calibration = (k >= start) & (k < start + calibration_lines)
    return sampled | calibration, calibration


def _centred_fft(x: np.ndarray) -> np.ndarray:
    """Centred orthonormal FFT over the last three axes (torch)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.complex64))
    return centered_fft(t, 3).numpy()


def _centre_slice(full: int, n: int) -> slice:
    start = full // 2 - n // 2
    return slice(start, start + n)


def _unit(v: Sequence[float], name: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    norm = float(np.linalg.norm(a))
    if a.shape != (3,) or not np.isfinite(norm) or norm < 1e-9:
        raise ParameterError(f"{name} must be a non-zero 3-vector, got {v!r}")
    return a / norm


def simulate_cartesian(
    image: np.ndarray,
    sensitivities: np.ndarray,
    *,
    matrix: Sequence[int] | None = None,
    acceleration: int = 1,
    calibration_lines: int = 0,
    readout_oversampling: int = 2,
    noise_std: float = 0.01,
    n_noise_samples: int = 2048,
    covariance: np.ndarray | None = None,
    seed: int = 0,
    fov_mm: Sequence[float] = (220.0, 220.0, 5.0),
    position_mm: Sequence[float] = (0.0, 0.0, 0.0),
    read_dir: Sequence[float] = (1.0, 0.0, 0.0),
    phase_dir: Sequence[float] = (0.0, 1.0, 0.0),
    te_ms: Sequence[float] = (),
    tr_ms: Sequence[float] = (),
    ti_ms: Sequence[float] = (),
    flip_angle_deg: Sequence[float] = (),
    field_strength_t: float = 3.0,
    sample_time_us: float = 10.0,
    protocol_name: str = "simulated phantom",
) -> KSpace:
    """Simulate a 2D or 3D Cartesian multi-coil acquisition.

    Parameters
    ----------
    image
        Object ``(y, x)`` or ``(z, y, x)``, real or complex, in image intensity units.
    sensitivities
        complex ``(coils, y, x)`` or ``(coils, z, y, x)`` on the grid of ``image``.
    matrix
        Reconstruction matrix ``(y, x)`` / ``(z, y, x)``; smaller than ``image`` crops
        k-space centrally (simulation on a finer grid). Defaults to ``image.shape``.
    acceleration
        Keep every R-th ``k1`` line, through the centre line ``N // 2``.
    calibration_lines
        Fully sampled central ``k1`` block (all ``k2``): lines on the R-grid are flagged
        ``ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING``, the others ``ACQ_IS_PARALLEL_CALIBRATION``.
    readout_oversampling
        Integer factor: the encoded readout FOV and matrix are this times the recon ones.
    noise_std
        Standard deviation of the complex noise per k-space sample (``E|n|² = σ²`` for a
        coil of average gain); with the orthonormal FFT it is also the noise per
        voxel of a coil image, in image intensity units.
    n_noise_samples
        Samples per coil in the noise scan (0 for none).
    covariance
        Receiver noise covariance ``Ψ`` ``(coils, coils)``, Hermitian positive definite,
        scaled by ``noise_std²``; defaults to :func:`noise_covariance` (seed 0: the same
        "receiver" for every simulation).
    seed
        Seed of the noise (numpy ``default_rng``); the result is deterministic.
    fov_mm
        Reconstruction FOV ``(x, y, z)`` in mm; ``z`` is the slice (2D) or slab (3D) thickness.
    position_mm, read_dir, phase_dir
        FOV centre (LPS, mm) and the read / phase-encoding unit vectors (orthogonal);
        ``slice_dir = read_dir × phase_dir``.
    te_ms, tr_ms, ti_ms, flip_angle_deg, field_strength_t, protocol_name
        Written into the ISMRMRD header.
    sample_time_us
        Dwell time of the oversampled readout.

    Returns
    -------
    KSpace
        ``data`` complex64 ``(coils, k2, k1, k0)`` with ``k0 = readout_oversampling · x``;
        ``noise`` ``(coils, n_noise_samples)``; ``meta["noise_covariance"]`` is the true
        ``σ² Ψ`` ``(coils, coils)``.

    Raises
    ------
    ParameterError
        For inconsistent shapes, non-orthogonal directions or impossible factors.
    """
    img = np.asarray(image)
    maps = np.asarray(sensitivities)
    if img.ndim not in (2, 3) or maps.shape[1:] != img.shape:
        raise ParameterError(
            f"image must be (y, x) or (z, y, x) and sensitivities (coils, *image.shape); "
            f"got {img.shape} and {maps.shape}"
        )
    full = (1, *img.shape) if img.ndim == 2 else img.shape
    target = tuple(int(v) for v in (img.shape if matrix is None else matrix))
    target3 = (1, *target) if len(target) == 2 else target
    if len(target) != img.ndim or any(t < 1 or t > f for t, f in zip(target3, full, strict=True)):
        raise ParameterError(f"matrix {target} must have the image's rank and be no larger than {img.shape}")
    if int(readout_oversampling) != readout_oversampling or readout_oversampling < 1:
        raise ParameterError(f"readout_oversampling must be a positive integer, got {readout_oversampling}")
    if noise_std < 0 or n_noise_samples < 0:
        raise ParameterError("noise_std and n_noise_samples must be ≥ 0")
    r, p = _unit(read_dir, "read_dir"), _unit(phase_dir, "phase_dir")
    if abs(float(r @ p)) > 1e-6:
        raise ParameterError("read_dir and phase_dir must be orthogonal")
    nz, ny, nx = target3
    os_ = int(readout_oversampling)
    n_coils = maps.shape[0]
    sampled, calibration = cartesian_mask(ny, acceleration, calibration_lines)

    # forward model: S·ρ, pad along x, FFT, crop, mask
    coil_img = (maps.reshape(n_coils, *full) * img.reshape(full)).astype(np.complex64)
    left = (os_ * full[2]) // 2 - full[2] // 2
    coil_img = np.pad(coil_img, ((0, 0), (0, 0), (0, 0), (left, os_ * full[2] - full[2] - left)))
    k = _centred_fft(coil_img)
    k = k[:, _centre_slice(full[0], nz), _centre_slice(full[1], ny), _centre_slice(os_ * full[2], os_ * nx)]
    k = k * np.float32(np.sqrt((nz * ny * nx) / float(np.prod(full))))

    rng = np.random.default_rng(seed)
    psi = noise_covariance(n_coils) if covariance is None else np.asarray(covariance, dtype=np.complex128)
    if psi.shape != (n_coils, n_coils):
        raise ParameterError(f"covariance must be ({n_coils}, {n_coils}), got {psi.shape}")
    try:
        chol = np.linalg.cholesky(psi)
    except np.linalg.LinAlgError:
        raise ParameterError("covariance must be Hermitian positive definite") from None

    def noise(n: int) -> np.ndarray:
        w = rng.standard_normal((2, n_coils, n)).astype(np.float64)
        return noise_std * (chol @ ((w[0] + 1j * w[1]) / np.sqrt(2.0)))

    noise_scan = noise(n_noise_samples).astype(np.complex64)
    data = (k + noise(k[0].size).reshape(k.shape)).astype(np.complex64)
    mask2 = np.broadcast_to(sampled[None, :], (nz, ny)).copy()
    data *= mask2[None, :, :, None]
    cal2 = np.broadcast_to(calibration[None, :], (nz, ny)).copy()

    fov = tuple(float(v) for v in fov_mm)
    k1 = np.flatnonzero(sampled)
    limits = encoding_limits(ny, nz, (int(k1.min()), int(k1.max())))
    xml = make_header_xml(
        encoded_matrix=(os_ * nx, ny, nz),
        encoded_fov_mm=(os_ * fov[0], fov[1], fov[2]),
        recon_matrix=(nx, ny, nz),
        recon_fov_mm=fov,
        limits=limits,
        acceleration=(int(acceleration), 1),
        calibration_mode="embedded" if acceleration > 1 and calibration_lines > 0 else None,
        receiver_channels=n_coils,
        te_ms=te_ms,
        tr_ms=tr_ms,
        ti_ms=ti_ms,
        flip_angle_deg=flip_angle_deg,
        field_strength_t=field_strength_t,
        protocol_name=protocol_name,
        system_model="recon_engine.simulate",
    )
    geometry = Geometry.from_vectors(
        (os_ * nx, ny, nz),
        (os_ * fov[0], fov[1], fov[2]),
        np.asarray(position_mm, dtype=np.float64),
        r,
        p,
        np.cross(r, p),
    )
    kspace = KSpace(
        data=torch.from_numpy(data),
        header=parse_header(xml),
        geometry=geometry,
        other_axes=(),
        sampling_mask=torch.from_numpy(mask2),
        calibration_mask=torch.from_numpy(cal2),
        acquisitions=AcquisitionTable(np.zeros(0, dtype=acquisition_header_dtype())),
        noise=torch.from_numpy(noise_scan) if n_noise_samples else None,
        meta={
            "noise_covariance": (noise_std**2 * psi).astype(np.complex64),
            "noise_std": float(noise_std),
            "seed": int(seed),
            "sample_time_us": float(sample_time_us),
        },
    )
    return replace(kspace, acquisitions=AcquisitionTable(acquisition_headers(kspace)))
