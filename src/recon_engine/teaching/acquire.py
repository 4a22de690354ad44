"""One simulated Cartesian acquisition of an explorer source, FFT-only and cached for speed.

``measured = reference k-space + σ·noise + spikes`` on the full grid; ``acquired`` = pattern ∩
partial Fourier ∩ resolution; the k-space shown and zero-filled is
``measured · acquired · window · filter``. The window spans the acquired resolution (so it
tapers towards the edge of what was measured) and, like the filter, is a post-processing weight:
iterative reconstructions get the unweighted data and the weights are applied to their result.

Speed: per source the k-space, the conjugate coil maps, ``1/Σ|S|²`` and one noise realisation
per seed are kept in the FFT's natural (``ifftshift``-ed) order, so an update is a few
element-wise products, one batched ``torch.fft.ifft2`` and a shift of the single combined image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch

from recon_engine.teaching._fft import tensor
from recon_engine.teaching.corruptions import check_spikes, mean_signal, unit_noise
from recon_engine.teaching.filters import filter_mask, kspace_window
from recon_engine.teaching.masks import (
    calibration_region,
    partial_fourier_mask,
    resolution_mask,
    sampling_mask,
)
from recon_engine.teaching.psf import log_magnitude, point_spread_function
from recon_engine.teaching.settings import ExplorerSettings
from recon_engine.teaching.source import ExplorerSource, combine_coils

__all__ = [
    "CartesianAcquisition",
    "Masks",
    "acquire",
    "acquisition_masks",
    "combine_natural",
    "natural_order",
    "rss_magnitude",
    "zero_filled_natural",
]

_DIMS = (-2, -1)


def natural_order(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Centred ``(..., ky, kx)`` → FFT order (DC at index 0)."""
    t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return torch.fft.ifftshift(t, dim=_DIMS)


def _centred(t: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(t, dim=_DIMS)


@dataclass(frozen=True)
class Masks:
    """The k-space masks of one setting, ``(ky, kx)``.

    Attributes
    ----------
    acquired
        bool: samples acquired (pattern ∩ partial Fourier ∩ resolution).
    calibration
        bool: the fully sampled calibration region of the pattern.
    post
        float32: window × filter (applied to what was acquired).
    pf_range
        bool pattern-free acquired range (partial Fourier ∩ resolution) when a partial Fourier
        fill (POCS, homodyne) applies, else None.
    """

    acquired: np.ndarray
    calibration: np.ndarray
    post: np.ndarray
    pf_range: np.ndarray | None

    @cached_property
    def weights(self) -> np.ndarray:
        """float32 ``acquired · post``: the sampling weights (their PSF is the explorer's PSF)."""
        return (self.acquired * self.post).astype(np.float32)

    @cached_property
    def weights_natural(self) -> torch.Tensor:
        """:attr:`weights` in FFT order (cached with the masks)."""
        return natural_order(self.weights).contiguous()

    @cached_property
    def acquired_natural(self) -> torch.Tensor:
        """:attr:`acquired` in FFT order."""
        return natural_order(self.acquired).contiguous()

    @cached_property
    def psf_log(self) -> np.ndarray:
        """float32 ``(y, x)`` log10-magnitude PSF of :attr:`weights` (cached with the masks)."""
        return log_magnitude(point_spread_function(self.weights))


@lru_cache(maxsize=32)
def _masks(
    shape: tuple[int, int],
    sampling: tuple[str, float, int, int],
    extent: tuple[float, str, float, float],
    weighting: tuple[str, float, str, float],
) -> Masks:
    pattern, r, cal, seed = sampling
    pf, pf_method, phase, readout = extent
    window, alpha, filt, radius = weighting
    pattern_mask = sampling_mask(shape, pattern, r, calibration=cal, seed=seed)
    rng = partial_fourier_mask(shape, pf) & resolution_mask(shape, phase=phase, readout=readout)
    post = kspace_window(shape, window, alpha, support=(phase, readout)) * filter_mask(shape, filt, radius)
    return Masks(
        pattern_mask & rng,
        calibration_region(shape, pattern, cal),
        post.astype(np.float32),
        rng if pf < 1.0 and pf_method != "zero_fill" else None,
    )


def acquisition_masks(shape: tuple[int, int], s: ExplorerSettings) -> Masks:
    """The masks of settings ``s`` (cached)."""
    return _masks(
        (int(shape[0]), int(shape[1])),
        (s.pattern, float(s.acceleration), int(s.calibration), int(s.seed)),
        (
            float(s.partial_fourier),
            s.partial_fourier_method,
            float(s.phase_resolution),
            float(s.readout_resolution),
        ),
        (s.window, float(s.window_alpha), s.filter, float(s.filter_radius)),
    )


@dataclass(frozen=True)
class _Natural:
    kspace: torch.Tensor  # (coils, ky, kx) FFT order
    maps_conj: torch.Tensor | None  # (coils, y, x) FFT order, conjugated and divided by Σ|S|²
    mean_abs: float
    mean_signal: float


def _natural_source(source: ExplorerSource) -> _Natural:
    def make() -> _Natural:
        maps = None
        if source.maps is not None:
            m = tensor(source.maps)
            power = (m.abs() ** 2).sum(dim=0)
            inv = torch.where(power > 1e-12, 1.0 / power.clamp_min(1e-12), 0.0)
            maps = natural_order(m.conj() * inv).contiguous()
        k = natural_order(tensor(source.kspace)).contiguous()
        return _Natural(k, maps, float(np.abs(source.kspace).mean()), mean_signal(source.kspace))

    return source.cached("natural", make)


def combine_natural(source: ExplorerSource, images: torch.Tensor) -> np.ndarray:
    """Coil images ``(coils, y, x)`` in FFT order → centred complex64 ``(y, x)``, as the reference."""
    nat = _natural_source(source)
    if nat.maps_conj is None:
        return _centred(combine_coils(images, None)).numpy()
    return _centred((nat.maps_conj * images).sum(dim=0)).numpy()


@dataclass(frozen=True)
class CartesianAcquisition:
    """A simulated acquisition (see the module docstring).

    Attributes
    ----------
    masks
        Its :class:`Masks`.
    measured
        complex64 ``(coils, ky, kx)`` in FFT order: reference + noise + spikes (full grid).
    noise_std
        σ of the added noise per complex sample (0 without noise).
    """

    masks: Masks
    measured: torch.Tensor
    noise_std: float

    def shown(self) -> torch.Tensor:
        """complex64 ``(coils, ky, kx)`` FFT order: ``measured · acquired · window · filter``."""
        return self.measured * self.masks.weights_natural

    def raw(self) -> np.ndarray:
        """complex64 centred ``(coils, ky, kx)``: ``measured · acquired`` (what a recon is given)."""
        return _centred(self.measured * self.masks.acquired_natural).numpy()

    def kspace_log(self, shown: torch.Tensor) -> np.ndarray:
        """float32 ``(ky, kx)``: ``log(1 + RSS |k|)`` of the shown k-space, centred."""
        return _centred(torch.log1p(rss_magnitude(shown))).numpy()


def acquire(source: ExplorerSource, s: ExplorerSettings) -> CartesianAcquisition:
    """Simulate the Cartesian acquisition of settings ``s`` on ``source``."""
    nat = _natural_source(source)
    masks = acquisition_masks(source.shape, s)
    measured = nat.kspace
    sigma = 0.0
    if s.snr is not None:
        sigma = nat.mean_signal / float(s.snr)
        key = f"noise:{int(s.seed)}"
        noise = source.cached(
            key, lambda: natural_order(unit_noise(source.kspace.shape, int(s.seed))).contiguous()
        )
        measured = torch.add(measured, noise, alpha=sigma)
    spikes = check_spikes(s.spikes, source.shape)
    if spikes:
        measured = measured.clone()
        ny, nx = source.shape
        value = float(s.spike_amplitude) * nat.mean_abs
        for ky, kx in spikes:
            measured[:, (ky - ny // 2) % ny, (kx - nx // 2) % nx] += value
    return CartesianAcquisition(masks, measured, sigma)


def rss_magnitude(k: torch.Tensor) -> torch.Tensor:
    """float32 ``sqrt(Σ_c |k_c|²)`` over axis 0 (real/imag squares: 40× faster than ``vector_norm``)."""
    return (k.real.square() + k.imag.square()).sum(dim=0).sqrt()


def zero_filled_natural(shown: torch.Tensor) -> torch.Tensor:
    """Coil images in FFT order of a k-space in FFT order."""
    return torch.fft.ifft2(shown, norm="ortho")
