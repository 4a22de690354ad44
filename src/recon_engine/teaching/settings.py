"""The explorer's controls (:class:`ExplorerSettings`) and what it shows (:class:`ExplorerViews`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from recon_engine.errors import ParameterError
from recon_engine.teaching.filters import FILTERS, WINDOWS
from recon_engine.teaching.masks import PATTERNS

__all__ = [
    "CS_REGULARIZERS",
    "PF_METHODS",
    "RECONS",
    "ExplorerSettings",
    "ExplorerViews",
    "check_settings",
]

RECONS: tuple[str, ...] = ("zero_filled", "sense", "grappa", "cs")
PF_METHODS: tuple[str, ...] = ("zero_fill", "pocs", "homodyne")
CS_REGULARIZERS: tuple[str, ...] = ("wavelet", "tv")


@dataclass
class ExplorerSettings:
    """Every control of the explorer; the defaults give a fully sampled, unfiltered view.

    Attributes
    ----------
    pattern, acceleration, calibration, seed
        Undersampling (see :func:`~recon_engine.teaching.masks.sampling_mask`).
    partial_fourier, partial_fourier_method
        Acquired fraction of ``ky`` in ``[0.5, 1]`` and how the missing side is filled:
        ``"zero_fill"``, ``"pocs"`` or ``"homodyne"``.
    phase_resolution, readout_resolution
        Kept central fractions of ``ky`` / ``kx`` in ``(0, 1]``.
    window, window_alpha
        k-space apodisation ``"none"``, ``"hamming"``, ``"tukey"`` over the acquired extent.
    snr
        Image SNR of added noise (mean object signal / noise σ), None for none.
    spikes, spike_amplitude
        ``(ky, kx)`` indices of spikes, each adding ``spike_amplitude × mean|k|`` (the mean
        magnitude of the fully sampled k-space) to every coil (see
        :func:`~recon_engine.teaching.corruptions.add_spikes`).
    filter, filter_radius
        ``"none"``, ``"lowpass"``, ``"highpass"`` with the radius as a fraction of ``k_max``.
    radial_spokes, golden_angle
        When set: radial sampling with that many spokes (``2N`` samples each, 2× readout
        oversampling) instead of the Cartesian pattern, golden-angle or uniform angles.
    recon
        ``"zero_filled"``, ``"sense"``, ``"grappa"`` or ``"cs"``.
    cs_regularizer
        ``"wavelet"`` (ℓ1 of Daubechies-2 coefficients on a randomly shifted grid, FISTA) or
        ``"tv"`` (total variation, PDHG).
    iterations, regularization
        Of SENSE (CG, Tikhonov λ absolute) and CS (λ relative to ``max|Aᴴy|``).
    gfactor, gfactor_replicas
        Compute the SENSE g-factor map with ``recon="sense"`` on Cartesian sampling (analytic for
        a regular integer-R lattice without partial Fourier or reduced phase resolution, its
        calibration block ignored; otherwise pseudo-replica with this many replicas).
    """

    pattern: str = "regular"
    acceleration: float = 1.0
    calibration: int = 24
    seed: int = 0
    partial_fourier: float = 1.0
    partial_fourier_method: str = "zero_fill"
    phase_resolution: float = 1.0
    readout_resolution: float = 1.0
    window: str = "none"
    window_alpha: float = 0.5
    snr: float | None = None
    spikes: tuple[tuple[int, int], ...] = ()
    spike_amplitude: float = 50.0
    filter: str = "none"
    filter_radius: float = 0.2
    radial_spokes: int | None = None
    golden_angle: bool = True
    recon: str = "zero_filled"
    cs_regularizer: str = "wavelet"
    iterations: int = 20
    regularization: float = 1e-3
    gfactor: bool = False
    gfactor_replicas: int = 16

    @property
    def radial(self) -> bool:
        """True when radial spokes replace the Cartesian pattern."""
        return self.radial_spokes is not None

    @property
    def fast(self) -> bool:
        """True when one update needs FFTs only (zero-filled Cartesian, no partial Fourier fill)."""
        pf_fill = self.partial_fourier < 1.0 and self.partial_fourier_method != "zero_fill"
        return self.recon == "zero_filled" and not self.radial and not pf_fill


def _choice(value: str, options: tuple[str, ...], what: str) -> None:
    if value not in options:
        raise ParameterError(f"unknown {what} {value!r}; choose one of {options}")


def check_settings(s: ExplorerSettings) -> None:
    """Raise :class:`ParameterError` for impossible settings (masks check their own numbers)."""
    _choice(s.pattern, PATTERNS, "sampling pattern")
    _choice(s.partial_fourier_method, PF_METHODS, "partial Fourier method")
    _choice(s.window, WINDOWS, "k-space window")
    _choice(s.filter, FILTERS, "k-space filter")
    _choice(s.recon, RECONS, "reconstruction")
    _choice(s.cs_regularizer, CS_REGULARIZERS, "CS regularizer")
    if not (math.isfinite(s.acceleration) and s.acceleration >= 1.0):
        raise ParameterError(f"acceleration R must be ≥ 1 (1 = fully sampled), got {s.acceleration!r}")
    if not (math.isfinite(s.partial_fourier) and 0.5 <= s.partial_fourier <= 1.0):
        raise ParameterError(
            f"partial Fourier fraction must lie in [0.5, 1] (e.g. 5/8 = 0.625), got {s.partial_fourier!r}"
        )
    if s.snr is not None and not (math.isfinite(s.snr) and s.snr > 0):
        raise ParameterError(f"SNR must be a positive number (or None for no noise), got {s.snr!r}")
    if s.radial_spokes is not None and (int(s.radial_spokes) != s.radial_spokes or s.radial_spokes < 1):
        raise ParameterError(f"radial_spokes must be a whole number ≥ 1, got {s.radial_spokes!r}")
    if int(s.iterations) != s.iterations or s.iterations < 1:
        raise ParameterError(f"iterations must be a whole number ≥ 1, got {s.iterations!r}")
    if not (math.isfinite(s.regularization) and s.regularization >= 0):
        raise ParameterError(f"regularization must be ≥ 0, got {s.regularization!r}")
    if int(s.gfactor_replicas) != s.gfactor_replicas or s.gfactor_replicas < 2:
        raise ParameterError(f"gfactor_replicas must be a whole number ≥ 2, got {s.gfactor_replicas!r}")
    if s.radial and s.recon == "grappa":
        raise ParameterError("GRAPPA here needs Cartesian lines; choose SENSE or CS for radial spokes")


@dataclass
class ExplorerViews:
    """Everything the explorer shows for one set of :class:`ExplorerSettings`.

    Attributes
    ----------
    mask
        float32 ``(ky, kx)``: acquired samples (1/0); radial: grid cells holding a sample.
    kspace_log
        float32 ``(ky, kx)``: ``log(1 + |k|)`` of the acquired (masked, noisy, windowed,
        filtered) root-sum-of-squares k-space; radial: of the gridded k-space.
    aliased
        float32 ``(y, x)``: magnitude of the zero-filled coil-combined image.
    recon
        float32 ``(y, x)``: magnitude of the chosen reconstruction.
    difference
        float32 ``(y, x)``: ``| |recon| − |reference| |``, in image intensity units.
    psf
        float32 ``(y, x)``: ``log10`` of the PSF magnitude of the sampling weights (0 = peak).
    gfactor
        float32 ``(y, x)`` g-factor map when requested with SENSE, else None.
    metrics
        ``"nrmse"`` (of the magnitudes against the reference), ``"sampled_fraction"``,
        ``"acceleration"`` (effective: samples of a full acquisition / acquired ones; radial:
        ``πN/2`` Nyquist spokes / spokes), ``"noise_std"``; with a g-factor ``"gfactor_mean"``
        and ``"gfactor_max"`` (over the object).
    iterates
        float32 ``(iterations, y, x)`` magnitudes of every iterate (iteration movie), when
        asked for with ``keep_iterates``.
    """

    mask: np.ndarray
    kspace_log: np.ndarray
    aliased: np.ndarray
    recon: np.ndarray
    difference: np.ndarray
    psf: np.ndarray
    gfactor: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    iterates: np.ndarray | None = None
