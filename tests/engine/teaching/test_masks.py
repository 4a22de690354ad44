"""Teaching masks, windows, PSF, noise and spikes: numbers against what the physics predicts."""

from __future__ import annotations

import numpy as np
import pytest

from recon_engine.errors import ParameterError
from recon_engine.teaching import (
    PATTERNS,
    ExplorerSource,
    add_noise,
    add_spikes,
    calibration_region,
    filter_mask,
    kspace_window,
    partial_fourier_mask,
    point_spread_function,
    resolution_mask,
    sampling_mask,
)
from recon_engine.teaching._fft import ifft2c

N = 128


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("r", [1.0, 2.0, 2.5, 4.0, 7.9])
def test_sampled_fraction_is_one_over_r(pattern: str, r: float) -> None:
    """Without calibration every pattern samples 1/R of k-space (|error| < 1/N, one line)."""
    m = sampling_mask((N, N), pattern, r, calibration=0, seed=1)
    assert m.dtype == bool and m.shape == (N, N)
    assert abs(m.mean() - 1 / r) < 1 / N


@pytest.mark.parametrize("pattern", ["random", "variable_density", "poisson_disc"])
def test_random_patterns_count_the_calibration(pattern: str) -> None:
    """Random patterns keep the total at N/R with a calibration region (|error| < 1/N)."""
    m = sampling_mask((N, N), pattern, 4.0, calibration=16, seed=2)
    assert abs(m.mean() - 0.25) < 1 / N


def test_regular_pattern_is_lattice_plus_calibration() -> None:
    """Regular R=4 with 16 calibration lines: 32 lattice lines + 12 extra in the block = 44 lines."""
    m = sampling_mask((N, N), "regular", 4.0, calibration=16)
    lines = np.flatnonzero(m[:, 0])
    assert m.all(axis=1)[lines].all() and lines.size == 32 + 12
    lattice = lines[(lines < N // 2 - 8) | (lines >= N // 2 + 8)]
    assert set(((lattice - N // 2) % 4).tolist()) == {0}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_calibration_region_fully_sampled(pattern: str) -> None:
    """The central calibration lines (square for Poisson disc) are all sampled."""
    m = sampling_mask((N, N), pattern, 5.0, calibration=20, seed=4)
    region = calibration_region((N, N), pattern, 20)
    assert region.sum() == (20 * 20 if pattern == "poisson_disc" else 20 * N)
    assert m[region].all()


@pytest.mark.parametrize("pattern", ["random", "variable_density", "poisson_disc"])
def test_seed_reproducible(pattern: str) -> None:
    """Same seed → identical mask; another seed → a different mask."""
    a = sampling_mask((64, 64), pattern, 3.0, calibration=8, seed=7)
    b = sampling_mask((64, 64), pattern, 3.0, calibration=8, seed=7)
    c = sampling_mask((64, 64), pattern, 3.0, calibration=8, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_variable_density_is_denser_at_the_centre() -> None:
    """Variable density: the central half of ky holds > 1.5× the lines of the outer half."""
    m = sampling_mask((N, N), "variable_density", 4.0, calibration=0, seed=0)[:, 0]
    centre = m[N // 4 : 3 * N // 4].sum()
    assert centre > 1.5 * (m.sum() - centre)


def test_poisson_disc_keeps_a_minimum_distance() -> None:
    """Poisson disc R=4: no two points outside the calibration square are neighbours (distance ≥ √2)."""
    m = sampling_mask((N, N), "poisson_disc", 4.0, calibration=0, seed=5)
    pts = np.argwhere(m)
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, 10**6)
    assert d2.min() >= 2


def test_psf_regular_has_aliasing_peaks_random_incoherent_lobes() -> None:
    """Regular R=4: PSF copies of height 1 (±1e-4) at ±FOV/4; random and variable density
    (R=4, 16 calibration lines): every side lobe outside the main lobe (±4 px) < 0.5 and < 0.2
    at FOV/4; Poisson disc side lobes < 0.15."""
    c = N // 2
    p = np.abs(point_spread_function(sampling_mask((N, N), "regular", 4.0, calibration=0)))
    assert p[c, c] == pytest.approx(1.0)
    for dy in (-N // 4, N // 4, N // 2):
        assert p[(c + dy) % N, c] == pytest.approx(1.0, abs=1e-4)
    assert p[c + N // 8, c] < 1e-4  # nothing half-way
    for pattern, limit in (("random", 0.5), ("variable_density", 0.5), ("poisson_disc", 0.15)):
        q = np.abs(point_spread_function(sampling_mask((N, N), pattern, 4.0, calibration=16, seed=3)))
        q[c - 4 : c + 5, c - 4 : c + 5] = 0.0
        assert q.max() < limit, pattern
        assert q[c + N // 4, c] < 0.2


def test_partial_fourier_and_resolution_masks() -> None:
    """5/8 partial Fourier keeps rows 0..79 of 128; 50 % phase resolution keeps the central 64 rows."""
    pf = partial_fourier_mask((N, N), 0.625)
    assert pf[:80].all() and not pf[80:].any()
    res = resolution_mask((N, N), phase=0.5, readout=0.25)
    assert res.sum() == 64 * 32 and res[N // 2, N // 2] and res[32, 48] and not res[31, 64]


def test_filter_masks_are_complementary() -> None:
    """Low-pass and high-pass of the same radius partition k-space; low-pass 0.2 covers ≈ π·0.2²/4."""
    lo, hi = filter_mask((N, N), "lowpass", 0.2), filter_mask((N, N), "highpass", 0.2)
    assert not (lo & hi).any() and (lo | hi).all()
    assert lo.mean() == pytest.approx(np.pi * 0.04 / 4, rel=0.05)


def test_windows() -> None:
    """Hamming: 1 at the centre, 0.08 at the acquired edge; Tukey α=0 is flat; support limits it."""
    w = kspace_window((N, N), "hamming")
    assert w.dtype == np.float32 and w.max() <= 1.0
    assert w[N // 2, N // 2] == pytest.approx(1.0, abs=1e-3)
    assert w[0, N // 2] == pytest.approx(0.08, abs=1e-3)
    assert np.all(kspace_window((N, N), "tukey", 0.0) == 1.0)
    half = kspace_window((N, N), "hamming", support=(0.5, 1.0))
    assert not half[: N // 4].any() and half[N // 2, N // 2] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sampling_mask((64, 64), "regular", 0.5), "R must be ≥ 1"),
        (lambda: sampling_mask((64, 64), "spiral", 2.0), "unknown sampling pattern"),
        (lambda: sampling_mask((64, 64), "random", 2.0, calibration=-1), "calibration"),
        (lambda: partial_fourier_mask((64, 64), 0.4), r"\[0.5, 1\]"),
        (lambda: partial_fourier_mask((64, 64), 1.1), r"\[0.5, 1\]"),
        (lambda: resolution_mask((64, 64), phase=0.0), "resolution"),
        (lambda: filter_mask((64, 64), "bandpass", 0.2), "unknown k-space filter"),
        (lambda: kspace_window((64, 64), "kaiser"), "unknown k-space window"),
    ],
)
def test_bad_parameters_raise(call: object, message: str) -> None:
    """Impossible parameters raise ParameterError with a readable message."""
    with pytest.raises(ParameterError, match=message):
        call()  # type: ignore[operator]


def test_noise_gives_the_requested_snr() -> None:
    """Noise at SNR 20: mean object signal / std of the combined-image noise = 20 within 3 %."""
    src = ExplorerSource.phantom(96, 8)
    noisy = add_noise(src.kspace, 20.0, seed=3)
    ref = src.reference()
    noise = src.combine(ifft2c(noisy)) - ref
    signal = np.abs(ref)[np.abs(ref) > 0.1 * np.abs(ref).max()].mean()
    measured = signal / np.sqrt(np.mean(np.abs(noise) ** 2))
    assert measured == pytest.approx(20.0, rel=0.03)
    assert np.array_equal(noisy, add_noise(src.kspace, 20.0, seed=3))


def test_spike_makes_stripes_of_the_predicted_frequency() -> None:
    """A spike at (ky, kx) = (N/2 + 10, N/2 − 6) adds stripes with 10 cycles/FOV vertically and
    −6 horizontally: the strongest non-DC Fourier component of the magnitude-image change lies at
    (±10, ∓6) cycles/FOV."""
    src = ExplorerSource.phantom(96, 8)
    c = 48
    spiky = add_spikes(src.kspace, [(c + 10, c - 6)], 40.0)
    assert np.count_nonzero(spiky - src.kspace) == src.n_coils
    change = np.abs(src.combine(ifft2c(spiky))) - np.abs(src.reference())
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(change)))
    spectrum[c, c] = 0.0
    ky, kx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    assert (abs(ky - c), abs(kx - c)) == (10, 6)
    assert np.sign(ky - c) == -np.sign(kx - c)
    with pytest.raises(ParameterError, match="outside"):
        add_spikes(src.kspace, [(96, 0)], 1.0)
