"""What can go wrong in an acquisition: thermal noise at a chosen SNR and k-space spikes.

SNR convention: ``SNR = mean signal / σ``, the mean of the root-sum-of-squares coil image over
the object (voxels above 10 % of its maximum) divided by the standard deviation ``σ`` of the
complex noise per k-space sample (``E|n|² = σ²``). With the orthonormal FFT, ``σ`` is also the
noise per voxel of each coil image and of the map-combined image (maps with ``Σ|S|² = 1``), so
the SNR measured in a fully sampled image is ``s``; undersampling by R lowers it by ``√R``
(fewer samples) and by the g-factor.

A spike (a single corrupt k-space sample, e.g. from an electrostatic discharge) at
``(ky, kx)`` adds a plane wave to the image: stripes with ``ky − N_y/2`` cycles across the FOV
vertically and ``kx − N_x/2`` horizontally, perpendicular to the spike's direction from the
k-space centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from recon_engine.errors import ParameterError
from recon_engine.teaching._fft import ifft2c

__all__ = [
    "SIGNAL_THRESHOLD",
    "add_noise",
    "add_spikes",
    "check_spikes",
    "mean_signal",
    "noise_std",
    "unit_noise",
]

#: Voxels above this fraction of the maximum count as object for the mean signal.
SIGNAL_THRESHOLD = 0.1


def _check_kspace(kspace: np.ndarray) -> np.ndarray:
    k = np.asarray(kspace)
    if k.ndim != 3:
        raise ParameterError(f"k-space must be (coils, ky, kx), got shape {k.shape}")
    return k


def mean_signal(kspace: np.ndarray) -> float:
    """Mean root-sum-of-squares image intensity over the object (above 10 % of the maximum).

    Parameters
    ----------
    kspace
        complex ``(coils, ky, kx)``.
    """
    rss = np.sqrt((np.abs(ifft2c(_check_kspace(kspace))) ** 2).sum(axis=0))
    peak = float(rss.max())
    return float(rss[rss > SIGNAL_THRESHOLD * peak].mean()) if peak > 0 else 0.0


def noise_std(kspace: np.ndarray, snr: float) -> float:
    """Noise ``σ`` per complex k-space sample that gives ``snr`` (see the module docstring)."""
    if not (math.isfinite(snr) and snr > 0):
        raise ParameterError(f"SNR must be a positive number, got {snr!r}")
    return mean_signal(kspace) / float(snr)


def unit_noise(shape: Sequence[int], seed: int) -> torch.Tensor:
    """complex64 white Gaussian noise with ``E|n|² = 1``, reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    re = torch.randn(tuple(shape), generator=gen)
    im = torch.randn(tuple(shape), generator=gen)
    return torch.complex(re, im) / math.sqrt(2.0)


def add_noise(kspace: np.ndarray, snr: float, *, seed: int = 0) -> np.ndarray:
    """Add complex white Gaussian noise, independent per coil and sample, at image SNR ``snr``.

    Parameters
    ----------
    kspace
        complex ``(coils, ky, kx)``, fully sampled (the SNR refers to its image).
    snr
        Mean object signal over the noise standard deviation (> 0).
    seed
        Seed of the noise realisation.

    Returns
    -------
    np.ndarray
        complex64 ``(coils, ky, kx)``; the input is not modified.
    """
    k = _check_kspace(kspace)
    sigma = noise_std(k, snr)
    return (k.astype(np.complex64) + sigma * unit_noise(k.shape, seed).numpy()).astype(np.complex64)


def add_spikes(kspace: np.ndarray, spikes: Sequence[tuple[int, int]], amplitude: float) -> np.ndarray:
    """Add spikes (single bright samples) at ``(ky, kx)`` indices in every coil.

    Parameters
    ----------
    kspace
        complex ``(coils, ky, kx)``.
    spikes
        ``(ky, kx)`` array indices (centre at ``N // 2``).
    amplitude
        Spike value relative to the mean ``|k|`` of the data (all coils and samples): each spike
        adds ``amplitude · mean|k|`` (real) to every coil. At 256² the k-space centre is ≈ 300×
        the mean, so 50 gives faint stripes (≈ 5 % of the mean object signal, RMS) and 1000
        stripes stronger than the object.

    Returns
    -------
    np.ndarray
        complex64 ``(coils, ky, kx)``; the input is not modified.

    Raises
    ------
    ParameterError
        An index outside the matrix, or a non-finite amplitude.
    """
    k = _check_kspace(kspace).astype(np.complex64, copy=True)
    if not math.isfinite(amplitude):
        raise ParameterError(f"spike amplitude must be finite, got {amplitude!r}")
    value = np.float32(amplitude * float(np.abs(k).mean()))
    for ky, kx in check_spikes(spikes, k.shape[1:]):
        k[:, ky, kx] += value
    return k


def check_spikes(spikes: Sequence[tuple[int, int]], shape: Sequence[int]) -> list[tuple[int, int]]:
    """Spikes as ``(ky, kx)`` int pairs inside ``shape``; ParameterError otherwise."""
    out = []
    for s in spikes:
        ky, kx = (int(v) for v in s)
        if not (0 <= ky < shape[0] and 0 <= kx < shape[1]):
            raise ParameterError(f"spike ({ky}, {kx}) lies outside the {shape[0]} × {shape[1]} k-space")
        out.append((ky, kx))
    return out
