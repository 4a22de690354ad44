"""NRMSE and SSIM (Wang et al. 2004) against definitions written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from recon_engine.errors import ParameterError
from recon_engine.metrics import SSIM_K1, SSIM_K2, SSIM_RADIUS, SSIM_SIGMA, nrmse, ssim


def _ssim_brute_force(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """SSIM of two 2D images as in the paper: loop over every window fully inside the image."""
    r = SSIM_RADIUS
    u = np.arange(-r, r + 1)
    w = np.exp(-(u[:, None] ** 2 + u[None, :] ** 2) / (2 * SSIM_SIGMA**2))
    w /= w.sum()
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    values = []
    for i in range(r, a.shape[0] - r):
        for j in range(r, a.shape[1] - r):
            pa = a[i - r : i + r + 1, j - r : j + r + 1]
            pb = b[i - r : i + r + 1, j - r : j + r + 1]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_matches_the_windowed_definition(rng: np.random.Generator) -> None:
    ref = rng.random((24, 20))
    noisy = ref + 0.2 * rng.standard_normal(ref.shape)
    expected = _ssim_brute_force(noisy, ref, float(ref.max() - ref.min()))
    assert ssim(noisy, ref) == pytest.approx(expected, rel=1e-10)
    assert ssim(noisy, ref, data_range=2.0) == pytest.approx(_ssim_brute_force(noisy, ref, 2.0), rel=1e-10)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    # σ = 0 everywhere: contrast-structure is C2/C2 = 1, SSIM = (2αβ + C1)/(α² + β² + C1)
    a, b = np.full((16, 16), 3.0), np.full((16, 16), 5.0)
    c1 = (SSIM_K1 * 10.0) ** 2
    assert ssim(a, b, data_range=10.0) == pytest.approx((2 * 15 + c1) / (9 + 25 + c1))


def test_ssim_properties(rng: np.random.Generator) -> None:
    ref = rng.random((3, 32, 32)).astype(np.float32)
    assert ssim(ref, ref) == pytest.approx(1.0)
    worse = [ssim(ref + s * rng.standard_normal(ref.shape), ref) for s in (0.05, 0.2, 0.8)]
    assert worse[0] > worse[1] > worse[2]
    assert all(-1.0 <= v < 1.0 for v in worse)
    # leading axes: the mean over the planes
    per_plane = [ssim(ref[i] * 0.9, ref[i], data_range=1.0) for i in range(3)]
    assert ssim(ref * 0.9, ref, data_range=1.0) == pytest.approx(np.mean(per_plane))


def test_ssim_rejects_bad_input() -> None:
    img = np.ones((16, 16))
    with pytest.raises(ParameterError, match="magnitudes"):
        ssim(img.astype(np.complex64), img)
    with pytest.raises(ParameterError, match="shape"):
        ssim(img, np.ones((16, 17)))
    with pytest.raises(ParameterError, match="11 × 11"):
        ssim(np.ones((8, 8)), np.ones((8, 8)))
    with pytest.raises(ParameterError, match="dynamic range"):
        ssim(img, img)


def test_nrmse(rng: np.random.Generator) -> None:
    ref = rng.standard_normal((4, 5)) + 1j * rng.standard_normal((4, 5))
    assert nrmse(ref, ref) == 0.0
    assert nrmse(np.zeros_like(ref), ref) == pytest.approx(1.0)
    assert nrmse(1.1 * ref, ref) == pytest.approx(0.1)
    err = rng.standard_normal((4, 5))
    assert nrmse(ref + err, ref) == pytest.approx(np.sqrt((err**2).sum() / (np.abs(ref) ** 2).sum()))
    with pytest.raises(ParameterError, match="all zeros"):
        nrmse(ref, np.zeros_like(ref))
    with pytest.raises(ParameterError, match="shape"):
        nrmse(ref, ref[:2])


def test_nrmse_magnitude_and_fitted_scale(rng: np.random.Generator) -> None:
    ref = rng.standard_normal((16, 16)) + 1j * rng.standard_normal((16, 16))
    rotated = ref * np.exp(1j * rng.uniform(-np.pi, np.pi, ref.shape))  # same magnitude, other phase
    assert nrmse(rotated, ref) > 0.5
    assert nrmse(rotated, ref, magnitude=True) < 1e-12
    scaled = 3.7 * np.abs(ref)
    assert nrmse(scaled, np.abs(ref)) == pytest.approx(2.7, rel=1e-9)
    assert nrmse(scaled, np.abs(ref), fit_scale=True) < 1e-12
    noisy = np.abs(ref) + 0.1 * rng.standard_normal(ref.shape)
    best = nrmse(noisy, np.abs(ref), fit_scale=True)
    assert best <= nrmse(noisy, np.abs(ref)) + 1e-12  # the least-squares scale never does worse
    assert best <= nrmse(1.05 * noisy, np.abs(ref)) + 1e-12
