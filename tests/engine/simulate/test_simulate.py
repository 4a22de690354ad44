"""Phantom, coil sensitivities, simulated acquisition and sample data."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from recon_engine.data.flags import has_flag
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ParameterError
from recon_engine.io.ismrmrd_read import read_ismrmrd
from recon_engine.metrics import nrmse
from recon_engine.operators.fft import centered_fft, centered_ifft
from recon_engine.simulate import (
    SAMPLES,
    TISSUES,
    birdcage_sensitivities,
    cartesian_mask,
    make_sample_data,
    noise_covariance,
    sample_path,
    shepp_logan,
    shepp_logan_3d,
    shepp_logan_kspace,
    shepp_logan_kspace_3d,
    simulate_cartesian,
    tissue_maps,
)
from recon_engine.simulate import sample_data as sample_module


def cfft(a: np.ndarray) -> np.ndarray:
    return centered_fft(torch.from_numpy(np.ascontiguousarray(a, dtype=np.complex64)), a.ndim).numpy()


def cifft(a: np.ndarray, ndim: int) -> np.ndarray:
    return centered_ifft(torch.from_numpy(np.ascontiguousarray(a, dtype=np.complex64)), ndim).numpy()


def present(t: torch.Tensor | None) -> torch.Tensor:
    assert t is not None
    return t


# --- phantom -------------------------------------------------------------------------


def test_shepp_logan_values_and_orientation() -> None:
    img = shepp_logan(256)
    assert img.shape == (256, 256)
    assert img.dtype == np.float32
    assert img.min() >= 0.0
    assert img.max() == pytest.approx(1.0)  # scalp ring
    assert img[128, 128] == pytest.approx(0.2)  # brain at the centre
    assert img[128, 128 + 28] == pytest.approx(0.0, abs=1e-6)  # right ventricle (x = 0.22)
    assert img[128 - 45, 128] == pytest.approx(0.3)  # top ellipse (y = 0.35)
    assert img[205, 128] == pytest.approx(0.3)  # small ellipses at the bottom (y = -0.6)
    assert img[51, 128] == pytest.approx(0.2)  # ... and not at the top
    levels = np.unique(np.round(img.astype(np.float64), 3)).tolist()
    assert set(levels) <= {0.0, 0.1, 0.2, 0.3, 0.4, 1.0}


def test_shepp_logan_3d_centre_slice_is_2d_like() -> None:
    vol = shepp_logan_3d(64, 32)
    assert vol.shape == (32, 64, 64)
    assert vol.dtype == np.float32
    assert vol[16, 32, 32] == pytest.approx(0.2)
    assert vol[0].max() < vol[16].max()


def test_tissue_maps() -> None:
    maps = tissue_maps(128)
    assert set(maps) == {"labels", "pd", "t1_ms", "t2_ms"}
    assert all(m.shape == (128, 128) for m in maps.values())
    assert maps["t1_ms"][64, 64 + 14] == TISSUES["csf"].t1_ms  # ventricle
    assert maps["t2_ms"][64, 64] == TISSUES["white_matter"].t2_ms
    assert maps["pd"][0, 0] == 0.0
    assert maps["t1_ms"][64, 2] == 0.0  # outside the head (x = -0.97)
    assert tissue_maps(32, three_d=True)["pd"].shape == (32, 32, 32)


def test_phantom_rejects_bad_size() -> None:
    with pytest.raises(ParameterError):
        shepp_logan(1)


def test_analytic_kspace_matches_fft_of_fine_phantom() -> None:
    n, fine = 128, 1024
    k = np.arange(n) - n // 2
    analytic = shepp_logan_kspace(k[None, :], k[:, None], n)
    assert analytic.dtype == np.complex64
    c = fine // 2
    sampled = cfft(shepp_logan(fine))[c - n // 2 : c + n // 2, c - n // 2 : c + n // 2] * (n / fine)
    assert nrmse(sampled, analytic) < 0.02  # measured 0.0104 (point-sampling error of the fine grid)
    centre = slice(n // 2 - 16, n // 2 + 16)
    assert nrmse(sampled[centre, centre], analytic[centre, centre]) < 0.005  # measured 0.0020
    assert analytic[n // 2, n // 2].real == pytest.approx(shepp_logan(n).sum() / n, rel=0.01)


def test_analytic_kspace_3d_matches_fft() -> None:
    n, fine = 16, 128
    k = np.arange(n) - n // 2
    analytic = shepp_logan_kspace_3d(k[None, None, :], k[None, :, None], k[:, None, None], n)
    c = slice(fine // 2 - n // 2, fine // 2 + n // 2)
    sampled = cfft(shepp_logan_3d(fine))[c, c, c] * (n / fine) ** 1.5
    assert nrmse(sampled, analytic) < 0.02  # measured 0.0103


# --- coils ---------------------------------------------------------------------------


def test_birdcage_normalised_inside_object() -> None:
    maps = birdcage_sensitivities(8, (96, 96))
    assert maps.shape == (8, 96, 96)
    assert maps.dtype == np.complex64
    inside = shepp_logan(96) > 0
    sos = np.sum(np.abs(maps) ** 2, axis=0)
    np.testing.assert_allclose(sos[inside], 1.0, atol=1e-5)


def test_birdcage_falloff_and_smooth_phase() -> None:
    maps = birdcage_sensitivities(8, (64, 64), normalize=False)
    assert np.abs(maps).max() == pytest.approx(1.0)
    mag = np.abs(maps[0])  # coil 0 sits at +x (right)
    assert mag[32, 60] > 2 * mag[32, 4]
    # neighbouring voxels differ in phase by well under a radian (no jumps in the FOV)
    dphi_x = np.abs(np.angle(maps[:, :, 1:] * np.conj(maps[:, :, :-1])))
    dphi_y = np.abs(np.angle(maps[:, 1:, :] * np.conj(maps[:, :-1, :])))
    assert max(dphi_x.max(), dphi_y.max()) < 0.5
    # the phase varies across the FOV: maps are not real magnitude maps
    assert abs(np.angle(maps[2, 32, 60] * np.conj(maps[2, 32, 4]))) > 1.0


def test_birdcage_3d_and_errors() -> None:
    maps = birdcage_sensitivities(8, (16, 32, 32), n_rings=2)
    assert maps.shape == (8, 16, 32, 32)
    np.testing.assert_allclose(np.sum(np.abs(maps) ** 2, axis=0), 1.0, atol=1e-5)
    with pytest.raises(ParameterError):
        birdcage_sensitivities(0, (32, 32))
    with pytest.raises(ParameterError):
        birdcage_sensitivities(8, (16, 32, 32), n_rings=3)


# --- acquisition ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "cal", "n_sampled", "n_cal_only", "n_cal_img"),
    [
        (1, 0, 128, 0, 0),
        (2, 24, 76, 12, 12),
        (4, 24, 50, 18, 6),
        (3, 0, 43, 0, 0),
    ],
)
def test_cartesian_mask_counts(r: int, cal: int, n_sampled: int, n_cal_only: int, n_cal_img: int) -> None:
    sampled, calib = cartesian_mask(128, r, cal)
    assert int(sampled.sum()) == n_sampled
    assert sampled[64]
    assert int(calib.sum()) == cal
    if cal:
        assert np.flatnonzero(calib).tolist() == list(range(64 - cal // 2, 64 + cal // 2))
    on_grid = (np.arange(128) - 64) % r == 0
    assert int((calib & ~on_grid).sum()) == n_cal_only
    assert int((calib & on_grid).sum()) == n_cal_img if r > 1 else True


@pytest.fixture(scope="module")
def small_r2() -> KSpace:
    img = shepp_logan(64)
    maps = birdcage_sensitivities(4, (64, 64))
    return simulate_cartesian(
        img, maps, acceleration=2, calibration_lines=16, n_noise_samples=512, tr_ms=(100.0,), seed=3
    )


def test_simulated_flags_and_headers(small_r2: KSpace) -> None:
    ks = small_r2
    assert ks.shape == (4, 1, 64, 128)
    table = ks.acquisitions
    kinds = table.kind_counts()
    assert kinds["noise"] == 4  # 512 samples in readouts of 128
    assert kinds["calibration"] == 8
    assert kinds["calibration_and_imaging"] == 8
    assert kinds["imaging"] == int(ks.sampling_mask.sum()) == 32 + 8
    h = table.headers
    img = table.is_imaging
    assert np.all(h["center_sample"][img] == 64)
    assert np.all(has_flag(table.flags[:4], "ACQ_IS_NOISE_MEASUREMENT"))  # noise first
    k1 = table.counter("kspace_encode_step_1")[img]
    assert k1.tolist() == np.flatnonzero(ks.sampling_mask.numpy()[0]).tolist()
    counts = table.flag_counts()
    for flag in (
        "ACQ_FIRST_IN_SLICE",
        "ACQ_LAST_IN_SLICE",
        "ACQ_FIRST_IN_ENCODE_STEP1",
        "ACQ_LAST_IN_ENCODE_STEP1",
        "ACQ_LAST_IN_MEASUREMENT",
    ):
        assert counts[flag] == 1
    rot = np.stack([h["read_dir"][0], h["phase_dir"][0], h["slice_dir"][0]], axis=1).astype(np.float64)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-6)
    assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-6)
    assert ks.header.encoded_matrix == (128, 64, 1)
    assert ks.header.recon_matrix == (64, 64, 1)
    assert ks.header.acceleration == (2, 1)
    assert ks.header.calibration_mode == "embedded"
    assert ks.geometry.fov_mm == (440.0, 220.0, 5.0)
    unsampled = ~ks.sampling_mask.numpy()[0]
    assert np.all(ks.data.numpy()[:, 0, unsampled] == 0)
    assert ks.calibration_mask.numpy()[0].sum() == 16


def test_simulation_without_noise_is_exact() -> None:
    img = shepp_logan(48).astype(np.complex64)
    maps = birdcage_sensitivities(3, (48, 48))
    ks = simulate_cartesian(img, maps, noise_std=0.0, n_noise_samples=0)
    coil_img = cifft(ks.data.numpy()[:, 0], 2)[:, :, 24:72]  # remove 2× oversampling
    np.testing.assert_allclose(coil_img, maps * img, atol=2e-6)
    assert ks.noise is None


def test_simulation_on_fine_grid_matches_analytic_kspace() -> None:
    ks = simulate_cartesian(
        shepp_logan(1024),
        np.ones((1, 1024, 1024), np.complex64),
        matrix=(128, 128),
        readout_oversampling=1,
        noise_std=0.0,
        n_noise_samples=0,
    )
    k = np.arange(128) - 64
    analytic = shepp_logan_kspace(k[None, :], k[:, None], 128)
    assert nrmse(ks.data.numpy()[0, 0], analytic) < 0.02  # same number as the FFT check


def test_noise_covariance_of_noise_scan_and_data() -> None:
    psi = noise_covariance(8)
    assert np.allclose(psi, psi.conj().T)
    assert np.linalg.eigvalsh(psi).min() > 0
    corr = np.abs(psi) / np.sqrt(np.outer(np.diag(psi).real, np.diag(psi).real))
    assert 0.2 < corr[0, 1] < 0.3  # neighbours are correlated
    zero = np.zeros((64, 64), np.float32)
    ks = simulate_cartesian(
        zero, birdcage_sensitivities(8, (64, 64)), noise_std=0.05, n_noise_samples=50_000, seed=5
    )
    true = ks.meta["noise_covariance"]
    assert isinstance(true, np.ndarray)
    np.testing.assert_allclose(true, 0.05**2 * psi, rtol=1e-6)
    noise = present(ks.noise).numpy().astype(np.complex128)
    est = noise @ noise.conj().T / noise.shape[1]
    assert nrmse(est, true) < 0.03  # measured 0.0093 (expected ~ sqrt(8 / 50 000) = 0.013)
    data = ks.data.numpy()[:, 0].reshape(8, -1).astype(np.complex128)  # all lines sampled, pure noise
    est_data = data @ data.conj().T / data.shape[1]
    assert nrmse(est_data, true) < 0.06  # 8192 samples: measured 0.026


def test_simulation_is_deterministic(small_r2: KSpace) -> None:
    img = shepp_logan(64)
    maps = birdcage_sensitivities(4, (64, 64))
    kwargs: dict[str, Any] = {
        "acceleration": 2,
        "calibration_lines": 16,
        "n_noise_samples": 512,
        "tr_ms": (100.0,),
    }
    again = simulate_cartesian(img, maps, seed=3, **kwargs)
    assert torch.equal(again.data, small_r2.data)
    assert torch.equal(present(again.noise), present(small_r2.noise))
    assert np.array_equal(again.acquisitions.headers, small_r2.acquisitions.headers)
    other = simulate_cartesian(img, maps, seed=4, **kwargs)
    assert not torch.equal(other.data, small_r2.data)


def test_simulation_3d() -> None:
    vol = shepp_logan_3d(32, 16)
    maps = birdcage_sensitivities(4, vol.shape)
    ks = simulate_cartesian(vol, maps, acceleration=2, calibration_lines=8, fov_mm=(200, 200, 80))
    assert ks.shape == (4, 16, 32, 64)
    assert ks.header.encoded_matrix == (64, 32, 16)
    assert int(ks.sampling_mask.sum()) == 16 * (16 + 4)
    assert ks.acquisitions.counter("kspace_encode_step_2").max() == 15


def test_simulation_rejects_bad_input() -> None:
    img = shepp_logan(32)
    with pytest.raises(ParameterError):
        simulate_cartesian(img, birdcage_sensitivities(2, (16, 16)))
    with pytest.raises(ParameterError):
        simulate_cartesian(img, birdcage_sensitivities(2, (32, 32)), read_dir=(1, 0, 0), phase_dir=(1, 1, 0))
    with pytest.raises(ParameterError):
        simulate_cartesian(img, birdcage_sensitivities(2, (32, 32)), matrix=(64, 64))


# --- sample data ---------------------------------------------------------------------


def test_samples_listed_and_small() -> None:
    assert set(SAMPLES) == {"phantom_full.h5", "phantom_R2.h5", "phantom_R4.h5"}
    with pytest.raises(ParameterError):
        sample_path("nope.h5")


def test_sample_data_regenerates_identically(tmp_path: Path) -> None:
    paths = make_sample_data(tmp_path / "a")
    again = make_sample_data(tmp_path / "b", ["phantom_R4.h5"])
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert hashlib.sha256(again[0].read_bytes()).hexdigest() == digest["phantom_R4.h5"]  # byte-identical
    committed = sample_module.repo_sample_dir()
    for p in paths:
        assert p.stat().st_size < 4e6
        ref = committed / p.name
        if not ref.is_file():
            pytest.skip("no committed sample_data/ in this checkout")
        new, old = read_ismrmrd(p), read_ismrmrd(ref)
        assert new.header.xml == old.header.xml
        assert np.array_equal(new.acquisitions.headers, old.acquisitions.headers)
        assert torch.equal(new.sampling_mask, old.sampling_mask)
        # same bits on this machine; allow float32 round-off of another FFT library
        scale = float(old.data.abs().max())
        np.testing.assert_allclose(new.data.numpy(), old.data.numpy(), rtol=0, atol=1e-6 * scale)
        np.testing.assert_array_equal(
            present(new.noise).numpy(), present(old.noise).numpy()
        )  # numpy RNG: exact


def test_sample_path_generates_into_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sample_module, "repo_sample_dir", lambda: tmp_path / "no_checkout")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    p = sample_path("phantom_R4.h5")
    assert p == tmp_path / "cache" / "napari-mrrecon" / "sample_data" / "phantom_R4.h5"
    assert p.is_file()
    mtime = p.stat().st_mtime_ns
    assert sample_path("phantom_R4.h5") == p
    assert p.stat().st_mtime_ns == mtime  # not regenerated
    ks = read_ismrmrd(p)
    assert ks.shape == (8, 1, 128, 256)


def test_sample_path_prefers_checkout() -> None:
    ref = sample_module.repo_sample_dir() / "phantom_full.h5"
    if not ref.is_file():
        pytest.skip("no committed sample_data/ in this checkout")
    assert sample_path("phantom_full.h5") == ref
