"""EPI odd/even (Nyquist, N/2 ghost) phase correction.

EPI acquires every other k-space line with the readout gradient reversed. Gradient
delays, eddy currents and the timing of the ADC make the reversed lines' echoes sit
slightly off the non-reversed ones, and field offsets add a constant phase: after the
reversed lines are flipped, they carry, in the hybrid domain ``(k1, x)`` (k-space along
phase encoding, image along the readout), an extra phase ``φ(x) = φ0 + φ1·x``. Left
alone, it puts a copy of the object shifted by half the FOV along phase encoding (the
N/2 ghost). The correction multiplies the reversed lines by ``exp(-i φ(x))`` in the
hybrid domain (Bruder et al. 1992, doi:10.1002/mrm.1910230215; Heid, ISMRM 1997, for the
linear term).

``φ0`` and ``φ1`` are estimated, in this order of preference:

1. from the phase-correction navigators (``kspace.navigators``; the usual three
   readouts +, −, + without phase encoding): the navigators of each polarity are averaged
   (which cancels T2* decay across the three), and the phase of
   ``c(x) = Σ_coils nav₋(x) · conj(nav₊(x))`` is fitted by the autocorrelation estimator of
   Ahn & Cho 1987 (doi:10.1109/TMI.1987.4307796): ``φ1 = arg Σ c(x+1) c*(x)``,
   ``φ0 = arg Σ c(x) e^{-iφ1 x}`` (magnitude weighted, no phase unwrapping);
2. from a reference scan: the same measurement without phase encoding (e.g. the Pulseq
   ``pe0`` scans), whose echoes are used as navigators;
3. from the image itself: the ``(φ0, φ1)`` that minimise the entropy of the
   coil-combined image (Atkinson et al. 1997, doi:10.1109/42.650886; for EPI ghosts
   e.g. Clare, ISMRM 2003), by a grid search refined with Nelder–Mead. Entropy cannot
   tell ``φ0`` from ``φ0 + π`` (they swap object and ghost), so the solution with clearly
   more energy in the central half of the phase-encoding FOV is kept
   (:data:`DECISIVE_CENTRAL_RATIO`); when an object spans the FOV both have about the same,
   and the smaller correction ``|φ0| ≤ π/2`` is kept (ghost-free data, e.g. simulated, then
   stays uncorrected instead of having object and ghost swapped).

Data with a trajectory (ramp-sampled EPI from a Pulseq ``.seq``) is taken to the hybrid
domain line by line by regularized least squares on its own ``kx`` positions; the
correction is added back through the same model, so the samples keep everything the
model does not explain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from recon_engine.calibration._epi_hybrid import Hybrid, hybrid_domain, line_polarity
from recon_engine.data.kspace import KSpace
from recon_engine.errors import DataError, ParameterError

__all__ = [
    "DECISIVE_CENTRAL_RATIO",
    "EpiPhase",
    "apply_epi_phase",
    "epi_phase_correction",
    "estimate_epi_phase",
    "ghost_to_signal_ratio",
]

Method = Literal["auto", "navigators", "reference", "image"]

#: The image estimate keeps the ``φ0`` or ``φ0 + π`` solution with more energy in the central
#: half of the phase-encoding FOV only when it has at least this many times the other's; below,
#: the smaller ``|φ0|`` (measured: real Pulseq EPI 6.6, simulated brain 2.9, a Shepp–Logan
#: filling 92 % of the FOV 1.29, where the central test picked the swapped solution).
DECISIVE_CENTRAL_RATIO = 2.0


@dataclass(frozen=True)
class EpiPhase:
    """Phase of reversed readouts relative to the others: ``φ(x) = φ0 + φ1·x``.

    Attributes
    ----------
    constant_rad
        ``φ0`` per volume, float64 ``(*other)`` (radians).
    slope_rad_per_pixel
        ``φ1`` per volume, float64 ``(*other)``: radians per pixel of the hybrid ``x``
        grid (``x`` counted from the grid centre ``N // 2``).
    grid_size
        ``N``, pixels of that grid (readout samples for Cartesian data, the recon matrix
        ``x`` for data with a trajectory). ``φ1·N / 2π`` is the echo shift in samples.
    source
        ``"navigators"``, ``"reference"`` or ``"image"``.
    """

    constant_rad: np.ndarray
    slope_rad_per_pixel: np.ndarray
    grid_size: int
    source: str

    @property
    def echo_shift_samples(self) -> np.ndarray:
        """Shift of the reversed echoes in k-space samples (``1/FOV`` of the grid)."""
        return self.slope_rad_per_pixel * self.grid_size / (2 * np.pi)


def _linear_fit(c: np.ndarray) -> tuple[float, float]:
    """Ahn–Cho estimate of ``φ0, φ1`` from ``c(x) = |c| e^{i(φ0 + φ1 x)}`` on a centred grid."""
    n = c.shape[-1]
    slope = float(np.angle(np.sum(c[1:] * np.conj(c[:-1]))))
    x = np.arange(n) - n // 2
    const = float(np.angle(np.sum(c * np.exp(-1j * slope * x))))
    return const, slope


def _from_lines(h: np.ndarray, rev: np.ndarray) -> tuple[float, float]:
    """``h`` complex ``(lines, coils, x)`` of navigator-like echoes, ``rev`` bool ``(lines,)``."""
    if rev.all() or not rev.any():
        raise DataError("EPI phase correction needs echoes of both readout polarities")
    pos, neg = h[~rev].mean(axis=0), h[rev].mean(axis=0)
    return _linear_fit(np.sum(neg * np.conj(pos), axis=0))


def _navigator_phase(kspace: KSpace, hyb: Hybrid) -> tuple[np.ndarray, np.ndarray]:
    nav, rev, slices = hyb.navigators(kspace)
    const = np.zeros(hyb.other_shape)
    slope = np.zeros(hyb.other_shape)
    per_slice = "slice" in kspace.other_axes and len(np.unique(slices)) > 1
    ax = kspace.other_axes.index("slice") if per_slice else None
    for s in np.unique(slices) if per_slice else [None]:
        sel = np.ones(len(rev), bool) if s is None else slices == s
        c0, c1 = _from_lines(nav[sel], rev[sel])
        index = (slice(None),) * ax + (int(s),) if ax is not None and s is not None else ...
        const[index], slope[index] = c0, c1
    return const, slope


def _reference_phase(kspace: KSpace, hyb: Hybrid, reference: KSpace) -> tuple[np.ndarray, np.ndarray]:
    lines, rev = hyb.echoes(reference, first_reversed=bool(line_polarity(kspace)[0]))
    c0, c1 = _from_lines(lines, rev)
    return np.full(hyb.other_shape, c0), np.full(hyb.other_shape, c1)


def _entropy(img: np.ndarray) -> np.ndarray:
    """Entropy of RSS magnitude images ``(..., coils, z, y, x)`` → ``(...)``."""
    b = np.sqrt(np.sum(np.abs(img) ** 2, axis=-4))
    b = b / np.sqrt(np.sum(b**2, axis=(-3, -2, -1), keepdims=True))
    return -np.sum(b * np.log(b + 1e-30), axis=(-3, -2, -1))


def _image_phase_one(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Minimise the entropy of ``a + e^{-iφ(x)} b``.

    ``a``, ``b``: images ``(coils, z, y, x)`` of the non-reversed / reversed lines.
    """
    from scipy.optimize import minimize

    n = a.shape[-1]
    x = np.arange(n) - n // 2
    phi0 = np.linspace(-np.pi, np.pi, 36, endpoint=False)
    phi1 = np.linspace(-6 * np.pi / n, 6 * np.pi / n, 49)
    best = (np.inf, 0.0, 0.0)
    for s in phi1:
        bs = b * np.exp(-1j * s * x)
        e = _entropy(a[None] + np.exp(-1j * phi0)[:, None, None, None, None] * bs[None])
        j = int(np.argmin(e))
        if e[j] < best[0]:
            best = (float(e[j]), float(phi0[j]), float(s))

    def cost(p: np.ndarray) -> float:
        return float(_entropy(a + np.exp(-1j * (p[0] + p[1] * x)) * b))

    res = minimize(cost, np.array(best[1:]), method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-9})
    c0, c1 = float(res.x[0]), float(res.x[1])
    ny = a.shape[-2]
    centre = slice(ny // 2 - ny // 4, ny // 2 + ny // 4)

    def central(p0: float) -> float:
        img = a + np.exp(-1j * (p0 + c1 * x)) * b
        return float(np.sum(np.abs(img[..., centre, :]) ** 2))

    c0 = float(np.angle(np.exp(1j * c0)))
    alt = float(np.angle(np.exp(1j * (c0 + np.pi))))
    e0, e1 = central(c0), central(alt)
    if max(e0, e1) < DECISIVE_CENTRAL_RATIO * min(e0, e1):
        # object and ghost both fill the central half (an object spanning the phase-encoding FOV):
        # the image cannot tell them apart, so keep the smaller correction
        return (c0 if abs(c0) <= abs(alt) else alt), c1
    return (alt if e1 > e0 else c0), c1


def _image_phase(hyb: Hybrid) -> tuple[np.ndarray, np.ndarray]:
    a, b = hyb.split_images()
    const = np.zeros(hyb.other_shape)
    slope = np.zeros(hyb.other_shape)
    for i in np.ndindex(*hyb.other_shape):
        const[i], slope[i] = _image_phase_one(a[i], b[i])
    return const, slope


def estimate_epi_phase(
    kspace: KSpace, *, reference: KSpace | None = None, method: Method = "auto"
) -> EpiPhase:
    """Estimate the odd/even phase ``φ0 + φ1·x`` of an EPI k-space.

    Parameters
    ----------
    kspace
        EPI raw data ``(*other, coils, k2, k1, k0)`` whose reversed readouts carry
        ``ACQ_IS_REVERSE`` in ``kspace.acquisitions`` (twix ``REFLECT``, or the Pulseq
        sequence); Cartesian or with an EPI trajectory.
    reference
        A scan of the same readouts without phase encoding (e.g. Pulseq ``pe0``), read
        the same way.
    method
        ``"auto"`` (navigators, else ``reference``, else the image), or one of them.

    Returns
    -------
    EpiPhase

    Raises
    ------
    DataError
        No reversed readouts, or the chosen source is missing or unusable.
    ParameterError
        Unknown ``method``.
    """
    if method not in ("auto", "navigators", "reference", "image"):
        raise ParameterError(
            f"unknown EPI phase estimation {method!r}; choose auto, navigators, reference or image"
        )
    hyb = hybrid_domain(kspace)
    if method == "auto":
        method = (
            "navigators"
            if kspace.navigators is not None
            else "reference"
            if reference is not None
            else "image"
        )
    if method == "navigators":
        if kspace.navigators is None:
            raise DataError(
                "no phase-correction navigators in this k-space (use a reference scan or the image)"
            )
        const, slope = _navigator_phase(kspace, hyb)
    elif method == "reference":
        if reference is None:
            raise DataError("method 'reference' needs a reference scan (reference=...)")
        const, slope = _reference_phase(kspace, hyb, reference)
    else:
        const, slope = _image_phase(hyb)
    return EpiPhase(constant_rad=const, slope_rad_per_pixel=slope, grid_size=hyb.grid_size, source=method)


def apply_epi_phase(kspace: KSpace, phase: EpiPhase) -> KSpace:
    """Multiply the reversed lines by ``exp(-i φ(x))`` in the hybrid domain.

    Returns
    -------
    KSpace
        A copy with corrected ``data`` (same shape, complex64); ``meta`` records the
        correction under ``"epi_phase_correction"``.
    """
    hyb = hybrid_domain(kspace)
    if phase.grid_size != hyb.grid_size:
        raise DataError(
            f"EPI phase was estimated on a {phase.grid_size}-pixel grid, this k-space has {hyb.grid_size}"
        )
    corrected = hyb.corrected_kspace(phase.constant_rad, phase.slope_rad_per_pixel)
    meta = dict(kspace.meta)
    meta["epi_phase_correction"] = {
        "source": phase.source,
        "constant_rad": np.round(phase.constant_rad, 5).tolist(),
        "echo_shift_samples": np.round(phase.echo_shift_samples, 5).tolist(),
    }
    return replace(kspace, data=torch.from_numpy(corrected).to(kspace.data.device), meta=meta)


def epi_phase_correction(
    kspace: KSpace, *, reference: KSpace | None = None, method: Method = "auto"
) -> KSpace:
    """Remove the EPI N/2 ghost: :func:`estimate_epi_phase` then :func:`apply_epi_phase`.

    Parameters
    ----------
    kspace
        EPI raw data ``(*other, coils, k2, k1, k0)`` with reversed readouts flagged.
    reference
        Optional scan without phase encoding (used when there are no navigators).
    method
        ``"auto"``, ``"navigators"``, ``"reference"`` or ``"image"``.

    Returns
    -------
    KSpace
        Corrected copy; the input is not modified.
    """
    return apply_epi_phase(kspace, estimate_epi_phase(kspace, reference=reference, method=method))


def ghost_to_signal_ratio(
    image: np.ndarray | torch.Tensor, *, object_mask: np.ndarray | None = None
) -> float:
    """Mean magnitude in the N/2 ghost region over the mean magnitude in the object.

    Regions: the object mask (given, or |image| smoothed over 3×3 pixels above 20 % of
    its 99th percentile, holes filled) is shifted by half the FOV along ``y`` (the
    phase-encoding axis), where EPI puts the ghost; the ghost region is that shifted mask
    minus the object dilated by two pixels (edges and ringing excluded). Noise in the
    ghost region sets the floor of the ratio. Compare images with the same mask (e.g.
    the mask of the corrected image).

    Parameters
    ----------
    image
        Magnitude (or complex) image ``(y, x)``.
    object_mask
        bool ``(y, x)``, True inside the object.

    Returns
    -------
    float
        Ghost-to-signal ratio (0 = no ghost).

    Raises
    ------
    DataError
        If the image is not 2D, or the object leaves no ghost region (it spans the FOV).
    """
    from scipy import ndimage

    img = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    mag = np.abs(img).astype(np.float64)
    if mag.ndim != 2:
        raise DataError(f"ghost-to-signal ratio needs a 2D (y, x) image, got shape {mag.shape}")
    if object_mask is None:
        smooth = ndimage.uniform_filter(mag, 3)
        object_mask = ndimage.binary_fill_holes(smooth > 0.2 * np.percentile(smooth, 99))
    obj = np.asarray(object_mask, dtype=bool)
    if obj.shape != mag.shape or not obj.any():
        raise DataError("object mask is empty or does not match the image")
    ghost = np.roll(obj, mag.shape[0] // 2, axis=0) & ~ndimage.binary_dilation(obj, iterations=2)
    if not ghost.any():
        raise DataError("the object spans the phase-encoding FOV: no region is left for the N/2 ghost")
    return float(mag[ghost].mean() / mag[obj].mean())
