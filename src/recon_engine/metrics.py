"""Image quality against a reference: NRMSE and SSIM.

Used to compare reconstructions with a reference (e.g. the fully sampled image) in the
napari "Sweep" dock, in scripts and in tests. NumPy/SciPy only.

- :func:`nrmse` is ``‖a − b‖₂ / ‖b‖₂`` (``b`` is the reference; complex input allowed).
- :func:`ssim` is the structural similarity of Wang et al. (2004) with their choices: an
  11 × 11 circular-symmetric Gaussian window (σ = 1.5, normalised to sum 1),
  ``K1 = 0.01``, ``K2 = 0.03``, ``L`` = the dynamic range of the reference, and the mean
  of the SSIM map over the positions where the window lies inside the image ("valid"
  filtering, as in the authors' ``ssim_index.m``). The window slides in the plane of the
  last two axes; leading axes (slices, frames) are averaged over.

Reference
---------
Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
error visibility to structural similarity", IEEE Trans. Image Process. 13(4):600–612,
2004. doi:10.1109/TIP.2003.819861
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from recon_engine.errors import ParameterError

__all__ = ["SSIM_K1", "SSIM_K2", "SSIM_RADIUS", "SSIM_SIGMA", "nrmse", "ssim"]

#: Standard deviation of the Gaussian window (pixels).
SSIM_SIGMA = 1.5
#: Half-width of the window: 11 × 11 pixels.
SSIM_RADIUS = 5
#: Stabilising constants ``C1 = (K1·L)²``, ``C2 = (K2·L)²``.
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _pair(a: ArrayLike, b: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        raise ParameterError(f"{what}: image shape {x.shape} differs from the reference shape {y.shape}")
    if x.size == 0:
        raise ParameterError(f"{what}: the images are empty")
    return x, y


def nrmse(a: ArrayLike, b: ArrayLike, *, magnitude: bool = False, fit_scale: bool = False) -> float:
    """Normalised root-mean-square error ``‖s·a − b‖₂ / ‖b‖₂``.

    Parameters
    ----------
    a
        Image, any shape, real or complex.
    b
        Reference, same shape as ``a``.
    magnitude
        Compare ``|a|`` with ``|b|`` (ignores the phase, e.g. of coil-combined images).
    fit_scale
        Scale ``a`` by the least-squares factor ``s = ⟨a, b⟩ / ⟨a, a⟩`` first (real for
        magnitudes, complex otherwise), for references of another intensity scaling;
        otherwise ``s = 1``.

    Returns
    -------
    float
        0 for identical images; 1 for ``a = 0``.

    Raises
    ------
    ParameterError
        Shapes differ, or the reference is all zeros.
    """
    x, y = _pair(a, b, "NRMSE")
    if magnitude:
        x, y = np.abs(x), np.abs(y)
    x = x.astype(np.complex128 if np.iscomplexobj(x) else np.float64, copy=False).ravel()
    y = y.astype(np.complex128 if np.iscomplexobj(y) else np.float64, copy=False).ravel()
    ref = float(np.linalg.norm(y))
    if not ref > 0:
        raise ParameterError("NRMSE: the reference image is all zeros")
    if fit_scale:
        xx = float(np.vdot(x, x).real)
        x = x * (np.vdot(x, y) / xx if xx > 0 else 0.0)
    return float(np.linalg.norm(x - y)) / ref


def _window_mean(x: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean over the last two axes, "valid" positions only."""
    from scipy.ndimage import gaussian_filter

    sigma = (0.0,) * (x.ndim - 2) + (SSIM_SIGMA, SSIM_SIGMA)
    # scipy's window radius is int(truncate·σ + 0.5) = SSIM_RADIUS; the kernel sums to 1
    smooth = gaussian_filter(x, sigma=sigma, truncate=SSIM_RADIUS / SSIM_SIGMA, mode="reflect")
    r = SSIM_RADIUS
    return smooth[..., r:-r, r:-r]


def ssim(a: ArrayLike, b: ArrayLike, *, data_range: float | None = None) -> float:
    """Mean structural similarity (Wang et al. 2004) of a real image and a reference.

    ``SSIM = (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2))`` with
    Gaussian-weighted local statistics (11 × 11 window, σ = 1.5), averaged over every
    window position inside the image.

    Parameters
    ----------
    a
        Real image ``(*lead, y, x)`` with ``y, x ≥ 11`` (e.g. a magnitude image
        ``(z, y, x)``: the window slides in each ``(y, x)`` plane).
    b
        Reference, same shape.
    data_range
        ``L``, the dynamic range; default ``max(b) − min(b)``.

    Returns
    -------
    float
        1 for identical images; ≤ 1.

    Raises
    ------
    ParameterError
        Complex input (pass magnitudes), shapes differ, planes smaller than the window,
        or a zero dynamic range.
    """
    x, y = _pair(a, b, "SSIM")
    if np.iscomplexobj(x) or np.iscomplexobj(y):
        raise ParameterError("SSIM is defined for real images: pass magnitudes (np.abs)")
    width = 2 * SSIM_RADIUS + 1
    if x.ndim < 2 or min(x.shape[-2:]) < width:
        raise ParameterError(f"SSIM needs images of at least {width} × {width} pixels, got {x.shape}")
    x = x.astype(np.float64, copy=False)
    y = y.astype(np.float64, copy=False)
    top = float(y.max() - y.min()) if data_range is None else float(data_range)
    if not (math.isfinite(top) and top > 0):
        raise ParameterError(f"SSIM: the dynamic range must be > 0, got {top}")
    c1 = (SSIM_K1 * top) ** 2
    c2 = (SSIM_K2 * top) ** 2
    mu_x, mu_y = _window_mean(x), _window_mean(y)
    var_x = _window_mean(x * x) - mu_x**2
    var_y = _window_mean(y * y) - mu_y**2
    cov = _window_mean(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float(np.mean(num / den))
