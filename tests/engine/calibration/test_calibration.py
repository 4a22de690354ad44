from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recon_engine.calibration import (
    adaptive_combine,
    fit_to_recon_space,
    noise_covariance,
    prewhiten,
    prewhitening_matrix,
    resize_centered,
    rss_combine,
    walsh_maps,
)
from recon_engine.data.header import parse_header
from recon_engine.errors import DataError, ParameterError
from tests.engine.data.test_header import XML


def _smooth_coils(n_coils: int, n: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    maps = []
    for c in range(n_coils):
        a = 2 * math.pi * c / n_coils
        cx, cy = 1.5 * math.cos(a), 1.5 * math.sin(a)
        mag = 1.0 / ((x - cx) ** 2 + (y - cy) ** 2)
        maps.append(mag * torch.exp(1j * (a + 0.8 * x - 0.5 * y)))
    return torch.stack(maps).to(torch.complex64)


def _disk(n: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    return ((x**2 + y**2) < 0.6).to(torch.complex64) * (1 + 0.3 * x)


def test_adaptive_combination_recovers_rss_of_sensitivities_times_object() -> None:
    s = _smooth_coils(6, 48)
    obj = _disk(48)
    coil_images = (s * obj)[:, None]  # (coils, z=1, y, x)
    comb = adaptive_combine(coil_images[None], kernel_size=5)[0, 0, 0]
    expected = torch.sqrt((s.abs() ** 2).sum(0)) * obj.abs()
    inside = obj.abs() > 0
    err = (comb.abs() - expected)[inside].norm() / expected[inside].norm()
    # measured 3.8e-4: the sensitivities vary inside the 5×5 kernel, which biases the eigenvector slightly
    assert float(err) < 1e-3
    # the weights have unit norm and point along the true sensitivities
    w = walsh_maps(coil_images, kernel_size=5)[:, 0]
    assert torch.allclose((w.abs() ** 2).sum(0), torch.ones(48, 48), atol=1e-4)
    corr = (w.conj() * s).sum(0).abs() / s.abs().pow(2).sum(0).sqrt()
    assert float(corr[inside].min()) > 0.998  # measured 0.9984 at the disk edge


def test_adaptive_beats_rss_in_snr_for_correlated_weights(rng: np.random.Generator) -> None:
    s = _smooth_coils(8, 64)
    obj = _disk(64)
    noise = (
        torch.from_numpy(
            (rng.standard_normal((8, 1, 64, 64)) + 1j * rng.standard_normal((8, 1, 64, 64))).astype(
                np.complex64
            )
        )
        * 0.05
    )
    imgs = (s * obj)[:, None] + noise
    rss = rss_combine(imgs, coil_axis=0)[0, 0].abs()
    ada = adaptive_combine(imgs[None], kernel_size=7)[0, 0, 0].abs()
    bg = obj.abs() == 0
    # RSS has a noise-floor bias in the background; the matched filter does not
    assert float(ada[bg].mean()) < 0.6 * float(rss[bg].mean())


def test_prewhitening_gives_identity_covariance(rng: np.random.Generator) -> None:
    mix = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    white = rng.standard_normal((4, 20000)) + 1j * rng.standard_normal((4, 20000))
    noise = torch.from_numpy((mix @ white).astype(np.complex64))
    w = prewhitening_matrix(noise_covariance(noise))
    cov = noise_covariance(prewhiten(noise[:, None, None, :], w)[:, 0, 0, :])
    scale = float(torch.diagonal(noise_covariance(noise)).real.mean())
    off = cov / scale - torch.eye(4)
    # Ψ and W are exact to float64 (the covariance sums run in complex128); what is left is the
    # complex64 rounding of W·n (4 terms: ~4·6e-8) and of the output, far below this bound, on
    # any CPU and thread count. The bound is 1e-4 of the mean variance.
    assert float(off.abs().max()) < 1e-4


def test_dead_channel_is_a_clear_error(rng: np.random.Generator) -> None:
    noise = torch.from_numpy((rng.standard_normal((3, 100)) + 0j).astype(np.complex64))
    noise[2] = noise[1]
    with pytest.raises(DataError, match="positive definite"):
        prewhitening_matrix(noise_covariance(noise))


def test_walsh_kernel_must_be_odd() -> None:
    with pytest.raises(ParameterError, match="odd"):
        walsh_maps(torch.ones(2, 1, 8, 8, dtype=torch.complex64), kernel_size=4)


def test_fit_to_recon_space_removes_oversampling_and_keeps_the_centre() -> None:
    h = parse_header(XML)  # encoded 256×128 over 440×220 mm, recon 128×128 over 220×220 mm
    img = torch.zeros(2, 1, 128, 256, dtype=torch.complex64)
    img[:, :, 64, 128] = 3.0
    out = fit_to_recon_space(img, h)
    assert out.shape == (2, 1, 128, 128)
    assert float(out[0, 0, 64, 64].abs()) == 3.0


def test_resize_keeps_amplitude() -> None:
    x = torch.ones(1, 16, dtype=torch.complex64) * 2.0
    y = resize_centered(x, -1, 32)
    assert torch.allclose(y.abs(), torch.full((1, 32), 2.0), atol=1e-5)
