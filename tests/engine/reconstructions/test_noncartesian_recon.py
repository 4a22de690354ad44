"""Trajectories and the direct non-Cartesian reconstruction against analytic k-space.

Single-coil data are the analytic k-space of the Shepp–Logan phantom at the trajectory
(no inverse crime). At 64² the phantom's one-pixel skull gives strong Gibbs ringing, so
images are compared with the Cartesian FFT of the same analytic k-space restricted to the
disc ``|k| ≤ N/2`` that radial and spiral trajectories cover ("disc reference"; its own
NRMSE against the phantom is 0.36, that of the full Cartesian FFT 0.34).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

import recon_engine.reconstructions.nufft_direct as nd
from recon_engine.data.kspace import KSpace
from recon_engine.errors import DataError, ParameterError
from recon_engine.metrics import nrmse
from recon_engine.operators.fft import centered_ifft
from recon_engine.progress import ProgressEvent, run
from recon_engine.reconstructions.nufft_direct import direct_nufft_steps
from recon_engine.simulate import birdcage_sensitivities, shepp_logan, shepp_logan_kspace
from recon_engine.simulate.phantom import shepp_logan_kspace_3d
from recon_engine.simulate.trajectories import GOLDEN_ANGLE_RAD, epi, radial, simulate_noncartesian, spiral

N = 64


def cartesian_reference(disc: bool) -> np.ndarray:
    k = np.arange(N) - N // 2
    ky, kx = np.meshgrid(k, k, indexing="ij")
    data = shepp_logan_kspace(kx, ky, N) * ((np.hypot(kx, ky) <= N / 2) if disc else 1)
    return centered_ifft(torch.from_numpy(data), 2).real.numpy()


def recon(kspace: KSpace, **options: object) -> np.ndarray:
    img = run(direct_nufft_steps(kspace, device="cpu", **options))  # type: ignore[arg-type]
    assert img.shape[-3:] == (1, N, N)
    return img.data[0, 0].numpy()


# --- trajectories -----------------------------------------------------------------------


def test_radial_trajectories() -> None:
    t = radial(8, 32, matrix=16)
    assert t.shape == (8, 32, 3) and t.dtype == np.float32
    assert np.all(t[..., 0] == 0) and np.abs(t[..., 1:]).max() <= 8
    np.testing.assert_allclose(t[:, 16, 1:], 0.0)  # sample n//2 is the centre
    np.testing.assert_allclose(np.diff(t[0, :, 2]), 0.5)  # 2× oversampled readout
    g = radial(5, 16, golden_angle=True)
    angles = np.arctan2(g[:, -1, 1], g[:, -1, 2])
    assert math.degrees(GOLDEN_ANGLE_RAD) == pytest.approx(111.246, abs=1e-3)
    np.testing.assert_allclose(np.mod(np.diff(angles), math.pi), GOLDEN_ANGLE_RAD % math.pi, atol=1e-5)


def test_spiral_stays_inside_the_grid_with_the_requested_ring_spacing() -> None:
    t = spiral(4, 3000, 32, undersampling=1.0)
    r = np.hypot(t[..., 1], t[..., 2])
    assert t.shape == (4, 3000, 3) and r.max() <= 16 + 1e-4 and r[:, 0].max() == 0
    assert r[0, -1] == pytest.approx(16, abs=1e-4)
    # adjacent interleaves are 1 grid unit apart (Nyquist): 4 arms → 4 units per turn
    np.testing.assert_allclose(
        np.hypot(*(t[0, -1, 1:] - t[1, -1, 1:])), 2 * 16 * math.sin(math.pi / 4), rtol=1e-4
    )
    vd = spiral(4, 3000, 32, density_power=2.0)
    assert np.hypot(vd[..., 1], vd[..., 2]).max() <= 16 + 1e-4
    with pytest.raises(ParameterError):
        spiral(0, 100, 32)


def test_epi_ramp_sampling_and_reversed_lines() -> None:
    t, rev = epi(32, 16, ramp_fraction=0.3)
    assert t.shape[:2] == (16, t.shape[1]) and t.shape[1] > 32  # extra samples on the ramps
    assert rev.tolist() == [i % 2 == 1 for i in range(16)]
    kx = t[0, :, 2]
    assert kx[t.shape[1] // 2] == pytest.approx(0.0, abs=1e-6) and np.abs(kx).max() <= 16
    steps = np.diff(kx)
    assert steps.max() == pytest.approx(1.0) and steps.min() < 0.5  # crowded on the ramps
    np.testing.assert_array_equal(t[1, :, 2], kx[::-1])
    np.testing.assert_array_equal(t[:, 0, 1], np.arange(16) - 8)
    flat, _ = epi(32, 16, ramp_fraction=0.0)  # no ramps: the Cartesian grid
    np.testing.assert_array_equal(flat[0, :, 2], np.arange(32) - 16)


# --- reconstructions --------------------------------------------------------------------

# measured NRMSE against the disc reference (Cartesian reference for EPI), ~20 % margin
CASES = {
    # name: (trajectory, ISMRMRD name, {density: (bound, measured)})
    "radial": (radial(101, 2 * N, matrix=N), "radial", {"pipe": (0.065, 0.053), "voronoi": (0.055, 0.046)}),
    "golden": (
        radial(101, 2 * N, matrix=N, golden_angle=True),
        "goldenangle",
        {"pipe": (0.08, 0.065), "voronoi": (0.08, 0.066)},
    ),
    "spiral": (
        spiral(8, 1500, N, undersampling=0.75),
        "spiral",
        {"pipe": (0.095, 0.078), "voronoi": (0.07, 0.056)},
    ),
    "epi": (epi(N, N, ramp_fraction=0.3)[0], "epi", {"pipe": (0.03, 0.019), "voronoi": (0.05, 0.042)}),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("density", ["pipe", "voronoi"])
def test_single_coil_analytic_phantom(case: str, density: str) -> None:
    traj, name, bounds = CASES[case]
    kspace = simulate_noncartesian("shepp_logan", traj, matrix=(N, N), trajectory_name=name)
    image = recon(kspace, density=density, combine="none")
    reference = cartesian_reference(disc=case != "epi")
    assert nrmse(image.real, reference) < bounds[density][0]
    assert nrmse(image.real, shepp_logan(N)) < 0.37  # orientation and scale (Gibbs-limited)
    assert np.abs(image.imag).max() < 0.05


def test_multi_coil_radial_with_adaptive_combination() -> None:
    fine = 2 * N  # object on a 2× finer grid: the NUFFT of it is no inverse crime at N
    maps = birdcage_sensitivities(8, (fine, fine))  # Σ|S|² = 1
    traj = radial(101, 2 * N, matrix=N)
    kspace = simulate_noncartesian(shepp_logan(fine), traj, maps, matrix=(N, N), trajectory_name="radial")
    assert kspace.shape == (8, 1, 101, 2 * N)
    image = np.abs(recon(kspace, combine="adaptive"))
    # measured 0.107 (adaptive) and 0.107 (rss) against |disc reference|
    assert nrmse(image, np.abs(cartesian_reference(disc=True))) < 0.13
    noisy = simulate_noncartesian(
        shepp_logan(fine), traj, maps, matrix=(N, N), noise_std=0.002, n_noise_samples=1000, seed=3
    )
    img = run(direct_nufft_steps(noisy, combine="adaptive", device="cpu"))
    assert img.meta["prewhitened"] is True
    # prewhitening mixes the coils, so compare the shape: measured correlation 0.997
    assert np.corrcoef(np.abs(img.data[0, 0].numpy()).ravel(), image.ravel())[0, 1] > 0.99


def test_progress_volumes_averages_and_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    traj = radial(60, 2 * N, matrix=N, golden_angle=True)
    full = simulate_noncartesian("shepp_logan", traj, matrix=(N, N))
    calls: list[int] = []
    original = nd.density_compensation

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(nd, "density_compensation", counting)
    # two slices sharing the trajectory: one density computation, one event per volume
    two = replace(
        full,
        data=torch.stack([full.data, 2 * full.data]),
        other_axes=("slice",),
        sampling_mask=full.sampling_mask.expand(2, 1, 60),
    )
    events: list[ProgressEvent] = []
    img = run(direct_nufft_steps(two, device="cpu"), events.append)
    assert img.shape == (2, 1, 1, N, N) and img.other_axes == ("slice",)
    assert len(calls) == 1
    assert [e.iteration for e in events if e.stage.startswith("volume")] == [1, 2]
    assert events[-1].preview is not None and events[-1].preview.shape == (N, N)
    np.testing.assert_allclose(img.data[1].abs(), 2 * img.data[0].abs(), rtol=1e-4, atol=1e-5)
    # averages with different spokes are merged into one set of 60 spokes
    halves = replace(
        full,
        data=full.data.reshape(1, 1, 2, 30, 2 * N).permute(2, 0, 1, 3, 4),
        trajectory=full.trajectory.reshape(1, 2, 30, 2 * N, 3).permute(1, 0, 2, 3, 4),  # type: ignore[union-attr]
        other_axes=("average",),
        sampling_mask=torch.ones(2, 1, 30, dtype=torch.bool),
    )
    merged = run(direct_nufft_steps(halves, device="cpu"))
    assert merged.shape == (1, 1, N, N) and merged.other_axes == ()
    np.testing.assert_allclose(merged.data.abs(), img.data[0].abs(), atol=1e-4)


def test_stack_of_stars_3d() -> None:
    n, nz = 24, 8
    spokes = radial(41, 2 * n, matrix=n)
    traj = np.repeat(spokes[None], nz, axis=0)
    traj[..., 0] = (np.arange(nz) - nz // 2)[:, None, None]
    kspace = simulate_noncartesian("shepp_logan", traj, matrix=(nz, n, n))
    assert kspace.shape == (1, nz, 41, 2 * n)
    for density in ("pipe", "voronoi"):
        img = run(direct_nufft_steps(kspace, density=density, combine="none", device="cpu"))  # type: ignore[arg-type]
        assert img.shape == (1, nz, n, n)
        kz, ky, kx = np.meshgrid(*(np.arange(m) - m // 2 for m in (nz, n, n)), indexing="ij")
        ref = centered_ifft(
            torch.from_numpy(shepp_logan_kspace_3d(kx, ky, kz, n, nz) * (np.hypot(kx, ky) <= n / 2)), 3
        ).real.numpy()
        assert nrmse(img.data[0].real.numpy(), ref) < 0.1  # measured 0.085 (pipe), 0.070 (voronoi)


def test_bad_non_cartesian_input() -> None:
    kspace = simulate_noncartesian("shepp_logan", radial(16, 32, matrix=16), matrix=(16, 16))
    traj = kspace.trajectory
    assert traj is not None
    with pytest.raises(ParameterError, match="no trajectory"):
        run(direct_nufft_steps(replace(kspace, trajectory=None)))
    nan = traj.clone()
    nan[0, 3, 5, 2] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        run(direct_nufft_steps(replace(kspace, trajectory=nan), device="cpu"))
    with pytest.raises(DataError, match="does not match"):
        run(direct_nufft_steps(replace(kspace, trajectory=traj[:, :, :20]), device="cpu"))
    with pytest.raises(DataError, match="beyond"):
        run(direct_nufft_steps(replace(kspace, trajectory=traj * 1.5), device="cpu"))
    tilted = traj.clone()
    tilted[..., 0] = 1.0
    with pytest.raises(DataError, match="single partition"):
        run(direct_nufft_steps(replace(kspace, trajectory=tilted), device="cpu"))
    with pytest.raises(ParameterError, match="unknown density"):
        run(direct_nufft_steps(kspace, density="jackson"))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="coil sensitivities"):
        simulate_noncartesian("shepp_logan", radial(4, 16), np.ones((2, 16, 16)), matrix=(16, 16))


@pytest.mark.cuda
def test_cuda_recon_matches_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    pytest.importorskip("cufinufft", reason="cufinufft not installed (pip install napari-mrrecon[gpu])")
    fine = 2 * N
    maps = birdcage_sensitivities(4, (fine, fine))
    kspace = simulate_noncartesian(shepp_logan(fine), radial(64, 2 * N, matrix=N), maps, matrix=(N, N))
    a = run(direct_nufft_steps(kspace, combine="adaptive", device="cpu")).magnitude()
    b = run(direct_nufft_steps(kspace, combine="adaptive", device="cuda")).magnitude()
    assert nrmse(b, a) < 2e-3
