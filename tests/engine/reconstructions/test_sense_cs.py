"""SENSE, TV and wavelet reconstructions; g-factor maps; the BART reader.

NRMSE is ``‖|x| − |ref|‖ / ‖ref‖`` over the whole recon FOV ("fitted": after the least-squares
intensity scale, for references of another scaling and for zero-filled images). Measured on
this machine (CPU, deterministic seeds); the thresholds in the tests leave a margin.

Synthetic: 8-coil birdcage, Shepp–Logan simulated on a 128² grid and reconstructed at 64² (no
inverse crime), 2× readout oversampling, correlated noise σ = 0.01 (phantom max 1), regular
undersampling without calibration lines, true maps; reference = SENSE of the fully sampled data.
SENSE 20 CG iterations, TV and wavelet 30 iterations at λ = 1e-3 (relative):

====  ===================  =============  ============  ===============
R     zero-filled fitted   SENSE (<)      TV (<)        wavelet (<)
====  ===================  =============  ============  ===============
2     0.463                0.059 (0.08)   0.051 (0.07)  0.051 (0.07)
3     0.580                0.167 (0.21)   0.089 (0.12)  0.103 (0.14)
4     0.624                0.313 (0.38)   0.214 (0.24)  0.262 (0.31)
====  ===================  =============  ============  ===============

Radial 64², 32 spokes (Nyquist ≈ 100), σ = 0.005, against 128-spoke SENSE: zero-filled (adaptive,
fitted) 0.250, SENSE with Pipe–Menon weights 0.060 (< 0.09), plain least squares 0.110 (< 0.15),
TV (15 iterations) 0.097 (< 0.15).

Real 32-coil Skyra spin echo (64², fully sampled, no noise scan), retrospectively undersampled
with 16 calibration lines, ESPIRiT maps from them; reference = SENSE of the full data with the
same maps. R = 2 (effective 1.60): zero-filled 0.063, SENSE 0.0066 (< 0.02), TV 0.0082,
wavelet 0.0065 (< 0.05); R = 3 (effective 2.00): 0.084, 0.0129 (< 0.03), 0.0125, 0.0083 (< 0.05).

BART brain (8 coils, 12.7 % variable-density samples, R ≈ 7.9), ESPIRiT maps, 10 iterations,
against BART's PICS of the full data (fitted): zero-filled 0.207, SENSE 0.076 (< 0.10),
TV 0.058 (< 0.07), wavelet 0.068 (< 0.08).

Wavelet figures are for the default db2 with random grid shifts (issue 7); the former
default (db4, fixed grid) measured 0.053, 0.107, 0.257 (synthetic), 0.0178 and 0.0184 (Skyra),
0.068 (BART brain).

TV figures are for 2 warm-started CG steps of the data prox per PDHG iteration (issue 7; 111
instead of 260 normal-operator applications for 50 iterations); with the former 4 restarted
steps R = 4 measured 0.212, radial 0.111, Skyra R = 2 0.0084.

g-factor (48², 8 coils, mean over the object, 32 replicas): R = 2 analytic 1.546 / pseudo-replica
1.540, R = 3 3.473 / 3.465, R = 4 9.159 / 9.093 (means within 0.8 %, < 3 % asserted; median
voxel difference 6 %, < 12 %; with 64 replicas 0.3 % and 4 % at twice the time);
R = 1: analytic 1 exactly, pseudo-replica mean within 2 % of 1.
SENSE's own g-factor output (``gfactor="auto"``) equals the analytic map for every R-th line with
or without ACS lines (cropped to the recon space) and falls back to pseudo-replica otherwise.

Durations: torch runs single-threaded here (fixture ``one_torch_thread``); the Skyra and BART
cases share their data and maps in module fixtures, one test per R / method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import recon_engine as mr
from recon_engine import metrics
from recon_engine.data.kspace import KSpace
from recon_engine.errors import DataError, FileFormatError, ParameterError
from recon_engine.io.cfl import read_cfl
from recon_engine.progress import ProgressEvent, run
from recon_engine.reconstructions import METHODS, sense_steps, tv_steps, wavelet_steps
from recon_engine.reconstructions.gfactor import gfactor_map, gfactor_steps, regular_acceleration
from recon_engine.reconstructions.nufft_direct import direct_nufft_steps
from recon_engine.simulate import (
    birdcage_sensitivities,
    radial,
    shepp_logan,
    simulate_cartesian,
    simulate_noncartesian,
)
from tests.conftest import shared_data

N = 64
COILS = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


#: Magnitude NRMSE; ``nrmse_fitted`` after the least-squares intensity scale (references of
#: another scaling).
nrmse = partial(metrics.nrmse, magnitude=True)
nrmse_fitted = partial(metrics.nrmse, magnitude=True, fit_scale=True)


def rss_maps(image: mr.ImageData) -> np.ndarray:
    """``(n_maps, z, y, x)`` → ``(z, y, x)`` magnitude (RSS over map sets)."""
    return np.sqrt((np.abs(image.numpy()) ** 2).sum(axis=-4))


def undersample(kspace: KSpace, acceleration: int, calibration: int = 0, offset: int = 0) -> KSpace:
    """Keep every R-th ``k1`` line (through ``N//2 + offset``) and a central calibration block."""
    n = kspace.shape[-2]
    k = np.arange(n)
    cal = np.abs(k - n // 2 + 0.5) < calibration / 2
    keep = ((k - n // 2 - offset) % acceleration == 0) | cal
    mask = torch.from_numpy(np.broadcast_to(keep, (kspace.shape[-3], n)).copy())
    return replace(
        kspace,
        data=kspace.data * mask[:, :, None],
        sampling_mask=mask,
        calibration_mask=torch.from_numpy(np.broadcast_to(cal, (kspace.shape[-3], n)).copy()),
    )


@pytest.fixture(scope="module")
def phantom() -> tuple[KSpace, np.ndarray]:
    """Fully sampled 8-coil k-space (64 × 128 encoded) and the true maps on the encoded grid."""
    ks = simulate_cartesian(
        shepp_logan(2 * N),
        birdcage_sensitivities(COILS, (2 * N, 2 * N)),
        matrix=(N, N),
        noise_std=0.01,
        seed=1,
    )
    maps = np.zeros((1, COILS, 1, N, 2 * N), np.complex64)
    maps[0, :, 0, :, N // 2 : N // 2 + N] = birdcage_sensitivities(COILS, (N, N))
    return ks, maps


@pytest.fixture(scope="module")
def reference(phantom: tuple[KSpace, np.ndarray]) -> np.ndarray:
    ks, maps = phantom
    return run(sense_steps(ks, maps=maps, iterations=10, device="cpu")).numpy()[0, 0]


def zero_filled(kspace: KSpace, maps: np.ndarray) -> np.ndarray:
    """The coil-combined zero-filled image ``Aᴴy`` up to scale (one CG step; compare after a fit)."""
    return run(sense_steps(kspace, maps=maps, iterations=1, device="cpu")).numpy()[0, 0]


@pytest.mark.parametrize(
    ("acceleration", "sense_max", "tv_max", "wavelet_max"),
    [(2, 0.08, 0.07, 0.07), (3, 0.21, 0.12, 0.14), (4, 0.38, 0.24, 0.31)],
)
def test_synthetic_sense_tv_wavelet(
    phantom: tuple[KSpace, np.ndarray],
    reference: np.ndarray,
    acceleration: int,
    sense_max: float,
    tv_max: float,
    wavelet_max: float,
) -> None:
    ks, maps = phantom
    k = undersample(ks, acceleration)
    zf = nrmse_fitted(zero_filled(k, maps), reference)
    sense = nrmse(run(sense_steps(k, maps=maps, iterations=20, device="cpu")).numpy()[0, 0], reference)
    tv = nrmse(run(tv_steps(k, maps=maps, iterations=30, device="cpu")).numpy()[0, 0], reference)
    wav = nrmse(run(wavelet_steps(k, maps=maps, iterations=30, device="cpu")).numpy()[0, 0], reference)
    print(f"R={acceleration}: zero-filled {zf:.3f} SENSE {sense:.3f} TV {tv:.3f} wavelet {wav:.3f}")
    assert sense < sense_max
    assert tv < tv_max
    assert wav < wavelet_max
    assert sense < zf
    assert max(tv, wav) < zf / 2
    if acceleration >= 3:  # regularization beats the noise amplification of plain SENSE
        assert max(tv, wav) < sense


def test_events_metrics_and_meta(phantom: tuple[KSpace, np.ndarray]) -> None:
    ks, maps = phantom
    k = undersample(ks, 2)
    gen = tv_steps(k, maps=maps, iterations=8, tolerance=0.0, device="cpu")
    events: list[ProgressEvent] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            image: mr.ImageData = stop.value
            break
    solver = [e for e in events if "residual" in e.metrics and "objective" in e.metrics]
    assert len(solver) >= 8
    assert all(0 <= e.iteration <= e.total for e in events)
    assert events[-1].iteration == events[-1].total == 8
    assert events[-1].preview is not None and events[-1].preview.shape == (N, N)
    assert events[-1].preview.dtype == np.float32
    assert any(e.stage.startswith("tv 1/1: step") or "warm start" in e.stage for e in events)
    assert image.shape == (1, 1, N, N)  # readout oversampling removed
    assert image.meta["method"] == "tv" and image.meta["transform"] == "fft"
    coil_maps = image.meta["coil_maps"]
    assert isinstance(coil_maps, np.ndarray) and coil_maps.dtype == np.complex64
    assert coil_maps.shape == (1, COILS, 1, N, 2 * N)
    assert image.meta["prewhitened"] is True  # the simulated noise scan
    residuals = image.meta["residuals"]
    assert isinstance(residuals, list) and len(residuals[0]) == 8


@pytest.mark.parametrize("steps", [sense_steps, tv_steps, wavelet_steps])
def test_keep_iterates_gives_every_iterate(phantom: tuple[KSpace, np.ndarray], steps: object) -> None:
    """keep_iterates: one recon-space image per iteration; the last is the result; iterate k
    equals a run stopped after k iterations (tolerance 0), to 1e-5 of the image maximum."""
    ks, maps = phantom
    k = undersample(ks, 3)
    make = steps  # type: ignore[assignment]
    image = run(make(k, maps=maps, iterations=5, tolerance=0.0, keep_iterates=True, device="cpu"))  # type: ignore[operator]
    it = image.meta["iterates"]
    assert isinstance(it, np.ndarray) and it.dtype == np.complex64
    assert it.shape == (5, 1, 1, N, N)
    top = np.abs(image.numpy()).max()
    assert np.abs(it[-1, 0, 0] - image.numpy()[0, 0]).max() < 1e-5 * top
    third = run(make(k, maps=maps, iterations=3, tolerance=0.0, device="cpu")).numpy()[0, 0]  # type: ignore[operator]
    assert np.abs(it[2, 0, 0] - third).max() < 1e-4 * top
    assert "iterates" not in run(make(k, maps=maps, iterations=2, device="cpu")).meta  # type: ignore[operator]


def test_sense_stops_at_the_tolerance(phantom: tuple[KSpace, np.ndarray]) -> None:
    ks, maps = phantom
    image = mr.reconstruct(undersample(ks, 2), method="sense", maps=maps, iterations=50, tolerance=1e-3)
    residuals = image.meta["residuals"][0]  # type: ignore[index]
    assert residuals[-1] <= 1e-3 < residuals[0]
    assert len(residuals) < 50


def test_tikhonov_shrinks_the_solution(phantom: tuple[KSpace, np.ndarray]) -> None:
    ks, maps = phantom
    k = undersample(ks, 4)
    plain = run(sense_steps(k, maps=maps, iterations=20, device="cpu")).numpy()
    damped = run(sense_steps(k, maps=maps, iterations=20, regularization_weight=0.5, device="cpu")).numpy()
    assert np.linalg.norm(damped) < np.linalg.norm(plain)


def test_temporal_tv_uses_the_other_frames(phantom: tuple[KSpace, np.ndarray]) -> None:
    """Three repetitions, each R = 3 with a shifted pattern: joint TV along them beats frame by frame."""
    ks, maps = phantom
    frames = [undersample(ks, 3, offset=i) for i in range(3)]
    multi = replace(
        ks,
        data=torch.stack([f.data for f in frames]),
        sampling_mask=torch.stack([f.sampling_mask for f in frames]),
        other_axes=("repetition",),
    )
    ref = run(sense_steps(ks, maps=maps, iterations=10, device="cpu")).numpy()[0, 0]
    separate = run(tv_steps(multi, maps=maps, iterations=20, device="cpu"))
    joint = run(tv_steps(multi, maps=maps, iterations=20, temporal_weight=1e-2, device="cpu"))
    assert joint.shape == separate.shape == (3, 1, 1, N, N)
    assert joint.other_axes == ("repetition",)
    e_sep = np.mean([nrmse(separate.numpy()[i, 0, 0], ref) for i in range(3)])
    e_joint = np.mean([nrmse(joint.numpy()[i, 0, 0], ref) for i in range(3)])
    print(f"temporal TV: frame by frame {e_sep:.3f}, joint {e_joint:.3f}")
    assert e_joint < 0.8 * e_sep


def test_warm_quadratic_prox_is_the_prox_and_keeps_n_x() -> None:
    """WarmQuadraticProx on ``½‖Ax − y‖²`` (A 40 × 12 complex): with 12 CG steps (the dimension)
    it is the exact prox ``(AᴴA + I/τ)⁻¹(Aᴴy + v/τ)`` to 1e-4; its value of the last answer is
    ``½‖Ax − y‖²`` to 1e-5 without applying ``N``; the first call costs steps + 1 applications,
    later ones ``steps``; repeated 2-step calls on the same ``v`` continue CG from the last
    answer and reach the exact prox to 1e-4 within 12 calls."""
    from recon_engine.solvers.pdhg import WarmQuadraticProx

    g = torch.Generator().manual_seed(3)
    a = torch.randn(40, 12, dtype=torch.complex64, generator=g)
    y = torch.randn(40, dtype=torch.complex64, generator=g)
    v = torch.randn(12, dtype=torch.complex64, generator=g)
    normal, b, tau = a.mH @ a, a.mH @ y, 0.05
    exact = torch.linalg.solve(normal + torch.eye(12) / tau, b + v / tau)
    calls = [0]

    def n_op(x: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return normal @ x

    half_y2 = 0.5 * float(torch.vdot(y, y).real)
    prox = WarmQuadraticProx(n_op, b, iterations=12, constant=half_y2)
    x = prox(v, tau)
    assert calls[0] == 13
    assert float((x - exact).abs().max()) < 1e-4 * float(exact.abs().max())
    direct = 0.5 * float(torch.linalg.vector_norm(a @ x - y)) ** 2
    assert prox.value(x) == pytest.approx(direct, rel=1e-5)
    assert calls[0] == 13  # the value of the last answer is free
    prox(v + 0.1, tau)
    assert calls[0] == 25
    short = WarmQuadraticProx(n_op, b, iterations=2)
    errors = [float((short(v, tau) - exact).abs().max()) for _ in range(12)]
    assert errors[-1] < 1e-4 * float(exact.abs().max()) < errors[0]


def test_tv_costs_two_normal_applications_per_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    """P1 quick (64², 8 coils, R = 4 + 16 lines, true maps), λ = 2e-3, 50 iterations: at most
    10 (warm start) + 1 + 2 × 50 applications of the Cartesian normal operator (was 260 with
    restarted inner CG), NRMSE against the phantom 0.0270 (< 0.03; the former solver 0.0275),
    and the reported objective (from the kept ``N x``) decreases overall."""
    from recon_engine.cli.bench.problems import cartesian_2d
    from recon_engine.cli.bench.quality import nrmse_magnitude
    from recon_engine.operators.cartesian_normal import CartesianNormalOp

    p = cartesian_2d(quick=True)
    calls = [0]
    forward = CartesianNormalOp.forward

    def counting(self: CartesianNormalOp, x: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return forward(self, x)

    monkeypatch.setattr(CartesianNormalOp, "forward", counting)
    image = run(
        tv_steps(
            p.kspace,
            maps=p.maps,
            prewhitening=False,
            iterations=50,
            tolerance=0.0,
            regularization_weight=2e-3,
            device="cpu",
        )
    )
    assert calls[0] <= 10 + 1 + 2 * 50
    error = nrmse_magnitude(image.numpy(), p.truth)
    print(f"TV P1 quick: NRMSE {error:.4f}, {calls[0]} normal-operator applications")
    assert error < 0.03
    objectives = image.meta["objectives"][0]  # type: ignore[index]
    assert len(objectives) == 50 and objectives[-1] < objectives[0]


def _radial_setup(n_noise_samples: int) -> tuple[np.ndarray, Callable[[int], KSpace]]:
    """True maps ``(1, coils, 1, N, N)`` and ``spokes ↦`` radial k-space of the 2N² phantom (σ = 0.005)."""
    obj = shepp_logan(2 * N)
    sens = birdcage_sensitivities(COILS, (2 * N, 2 * N))
    maps = birdcage_sensitivities(COILS, (N, N)).astype(np.complex64)[None, :, None]

    def acquire(spokes: int) -> KSpace:
        traj = radial(spokes, 2 * N, matrix=N)
        return simulate_noncartesian(
            obj, traj, sens, matrix=(N, N), noise_std=0.005, n_noise_samples=n_noise_samples, seed=2
        )

    return maps, acquire


def test_radial_sense_with_the_toeplitz_normal_operator() -> None:
    """64² radial, 8 coils: 32 spokes (Nyquist ≈ 100) against a 128-spoke SENSE reference."""
    maps, acquire = _radial_setup(n_noise_samples=1000)
    ref = run(sense_steps(acquire(128), maps=maps, iterations=20, device="cpu")).numpy()[0, 0]
    ks = acquire(32)
    zf = run(direct_nufft_steps(ks, combine="adaptive", device="cpu")).numpy()[0, 0]
    image = run(sense_steps(ks, maps=maps, iterations=20, device="cpu"))
    assert image.meta["transform"] == "nufft" and image.meta["density"] == "pipe"
    sense = nrmse(image.numpy()[0, 0], ref)
    plain = nrmse(
        run(sense_steps(ks, maps=maps, iterations=20, density="none", device="cpu")).numpy()[0, 0], ref
    )
    tv = nrmse(run(tv_steps(ks, maps=maps, iterations=15, device="cpu")).numpy()[0, 0], ref)
    print(
        f"radial 32 spokes: zero-filled {nrmse_fitted(zf, ref):.3f} SENSE {sense:.3f} "
        f"(plain {plain:.3f}) TV {tv:.3f}"
    )
    assert sense < 0.09
    assert plain < 0.15
    assert tv < 0.15
    assert sense < nrmse_fitted(zf, ref) / 3


def test_radial_frames_with_their_own_spokes_solved_jointly() -> None:
    """Three golden-angle frames of 16 spokes: temporal TV couples different point sets (NUFFT sets)."""
    obj = shepp_logan(2 * N)
    sens = birdcage_sensitivities(COILS, (2 * N, 2 * N))
    maps = birdcage_sensitivities(COILS, (N, N)).astype(np.complex64)[None, :, None]
    spokes = radial(48, 2 * N, matrix=N, golden_angle=True)
    frames = [
        simulate_noncartesian(
            obj, spokes[i::3], sens, matrix=(N, N), noise_std=0.005, n_noise_samples=500, seed=i
        )
        for i in range(3)
    ]
    multi = replace(
        frames[0],
        data=torch.stack([f.data for f in frames]),
        trajectory=torch.stack([f.trajectory for f in frames if f.trajectory is not None]),
        sampling_mask=torch.stack([f.sampling_mask for f in frames]),
        other_axes=("repetition",),
    )
    ref = run(sense_steps(frames[0], maps=maps, iterations=1, device="cpu"))  # for the shape only
    separate = run(tv_steps(multi, maps=maps, iterations=8, device="cpu"))
    joint = run(tv_steps(multi, maps=maps, iterations=8, temporal_weight=1e-2, device="cpu"))
    assert joint.shape == separate.shape == (3, *ref.shape)
    # all frames see the same object: joint frames differ less from their mean than separate ones
    spread = [float(np.abs(np.abs(r.numpy()) - np.abs(r.numpy()).mean(0)).mean()) for r in (separate, joint)]
    print(f"radial frames: spread separate {spread[0]:.4f}, joint {spread[1]:.4f}")
    assert spread[1] < 0.7 * spread[0]


def _object(n: int) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return ((yy - n / 2) / (0.45 * n)) ** 2 + ((xx - n / 2) / (0.38 * n)) ** 2 < 1


@pytest.mark.parametrize("acceleration", [2, 3, 4])
def test_gfactor_analytic_and_pseudo_replica_agree(acceleration: int) -> None:
    n = 48
    maps = birdcage_sensitivities(COILS, (n, n)).astype(np.complex64)[None, :, None]
    inside = _object(n)
    analytic = gfactor_map(maps, acceleration, device="cpu").numpy()[0]
    replica = gfactor_map(maps, acceleration, method="pseudo_replica", replicas=32, device="cpu").numpy()[0]
    mean_a, mean_r = analytic[inside].mean(), replica[inside].mean()
    voxel = np.median(np.abs(replica[inside] - analytic[inside]) / analytic[inside])
    print(
        f"R={acceleration}: mean g analytic {mean_a:.3f}, pseudo-replica {mean_r:.3f}, "
        f"median voxel difference {voxel:.3f}"
    )
    assert analytic[inside].min() >= 1 - 1e-4
    assert abs(mean_r - mean_a) / mean_a < 0.03
    assert voxel < 0.12


def test_exact_gfactor_matches_analytic_and_pseudo_replica() -> None:
    """Exact per-column g-factor: equals the analytic map on a regular lattice (to 1e-4), is 1
    without acceleration, and on random lines plus a calibration block (N = 40, not a lattice)
    agrees with a converged 64-replica pseudo-replica map (object mean within 3 %)."""
    n = 48
    maps = birdcage_sensitivities(COILS, (n, n)).astype(np.complex64)[None, :, None]
    lattice = ((np.arange(n) - n // 2) % 3 == 0)[None]
    exact = gfactor_map(maps, lattice, method="exact", device="cpu").numpy()[0]
    analytic = gfactor_map(maps, 3, device="cpu").numpy()[0]
    np.testing.assert_allclose(exact, analytic, atol=1e-4 * analytic.max())
    full = gfactor_map(maps, np.ones((1, n), bool), method="exact", device="cpu").numpy()
    np.testing.assert_allclose(full, 1.0, atol=1e-4)
    n = 40
    maps = birdcage_sensitivities(COILS, (n, n)).astype(np.complex64)[None, :, None]
    lines = np.random.default_rng(3).random(n) < 0.45
    lines[n // 2 - 4 : n // 2 + 4] = True
    exact = gfactor_map(maps, lines[None], method="exact", device="cpu").numpy()[0]
    replica = gfactor_map(
        maps, lines[None], method="pseudo_replica", replicas=64, iterations=200, tolerance=1e-8, device="cpu"
    ).numpy()[0]
    inside = _object(n)
    print(
        f"random lines: mean g exact {exact[inside].mean():.3f}, pseudo-replica {replica[inside].mean():.3f}"
    )
    assert exact[inside].min() >= 1 - 1e-3
    assert exact[inside].mean() == pytest.approx(replica[inside].mean(), rel=0.03)
    points = np.zeros((2, n), bool)
    points[0, ::2] = True
    points[1, 1::2] = True
    with pytest.raises(ParameterError, match="whole phase-encoding lines"):
        gfactor_map(np.repeat(maps, 2, axis=2), points, method="exact", device="cpu")


def test_gfactor_is_one_without_acceleration() -> None:
    n = 32
    maps = birdcage_sensitivities(COILS, (n, n)).astype(np.complex64)[None, :, None]
    np.testing.assert_allclose(gfactor_map(maps, 1, device="cpu").numpy(), 1.0, atol=1e-4)
    replica = gfactor_map(maps, 1, method="pseudo_replica", replicas=64, device="cpu").numpy()
    assert abs(replica.mean() - 1.0) < 0.02


def test_gfactor_options_and_errors() -> None:
    n = 32
    maps = birdcage_sensitivities(4, (n, n)).astype(np.complex64)[None, :, None]
    k = np.arange(n)
    regular = np.broadcast_to((k - n // 2) % 2 == 0, (1, n))
    torch.testing.assert_close(gfactor_map(maps, regular, device="cpu"), gfactor_map(maps, 2, device="cpu"))
    psi = np.diag([1.0, 2.0, 1.0, 0.5]).astype(np.complex64)
    g_white = gfactor_map(maps, 2, device="cpu")
    g_psi = gfactor_map(maps, 2, noise_covariance=psi, device="cpu")
    assert not torch.allclose(g_white, g_psi)
    events = list(_events(gfactor_steps(maps, 2, method="pseudo_replica", replicas=4, device="cpu")))
    assert events[-1].iteration == events[-1].total == 4
    irregular = regular.copy()
    irregular[0, n // 2 - 3 : n // 2 + 3] = True  # calibration block
    with pytest.raises(ParameterError, match="pseudo_replica"):
        gfactor_map(maps, irregular, device="cpu")
    assert gfactor_map(maps, irregular, method="pseudo_replica", replicas=4, device="cpu").shape == (1, n, n)
    with pytest.raises(ParameterError, match="divisible"):
        gfactor_map(maps, 3, device="cpu")
    with pytest.raises(ParameterError, match="unknown g-factor method"):
        gfactor_map(maps, 2, method="sense")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="sampling mask"):
        gfactor_map(maps, np.ones((2, n), bool), device="cpu")
    with pytest.raises(DataError, match="coil maps"):
        gfactor_map(maps[0, 0], 2, device="cpu")


def test_sense_returns_its_gfactor_map(phantom: tuple[KSpace, np.ndarray]) -> None:
    """``sense_steps(gfactor=...)``: analytic for every R-th line (+ ACS, ignored), else pseudo-replica."""
    ks, maps = phantom
    whitened = replace(ks, noise=None)  # maps given in the coil space of white noise
    for calibration in (0, 8):  # regular, and regular + central ACS block → analytic at R = 2
        img = run(sense_steps(undersample(whitened, 2, calibration), maps=maps, iterations=3, gfactor="auto"))
        assert img.meta["gfactor_method"] == "analytic"
        expected = gfactor_map(maps, 2, device="cpu").numpy()[:, :, N // 2 : N // 2 + N]  # recon space
        np.testing.assert_allclose(img.meta["gfactor"], expected, rtol=1e-5)
        assert img.meta["gfactor"].shape == (1, N, N)
    assert regular_acceleration(np.broadcast_to((np.arange(N) % 3) == 1, (1, N))) == 3
    irregular = undersample(whitened, 2, 8, offset=1)
    mask = irregular.sampling_mask.clone()
    mask[0, 2] = True  # one extra line outside the calibration block: not R-th line + ACS
    irregular = replace(irregular, sampling_mask=mask)
    assert regular_acceleration(mask) is None
    img = run(sense_steps(irregular, maps=maps, iterations=3, gfactor="auto", gfactor_replicas=4))
    assert img.meta["gfactor_method"] == "pseudo_replica"
    g = img.meta["gfactor"][0]
    assert np.median(g[g > 0]) > 1.0
    assert "gfactor" not in run(sense_steps(undersample(ks, 2), maps=maps, iterations=1)).meta
    with pytest.raises(ParameterError, match="g-factor"):
        run(sense_steps(undersample(ks, 2), maps=maps, gfactor="grappa"))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="pseudo_replica"):
        run(sense_steps(undersample(ks, 2, 8), maps=maps, iterations=1, gfactor="analytic"))


def _events(gen):  # type: ignore[no-untyped-def]
    while True:
        try:
            yield next(gen)
        except StopIteration:
            return


def test_bad_input_gives_clear_errors(phantom: tuple[KSpace, np.ndarray]) -> None:
    ks, maps = phantom
    k = undersample(ks, 2)
    for steps in (sense_steps, tv_steps, wavelet_steps):
        with pytest.raises(ParameterError, match="λ ≥ 0"):
            run(steps(k, maps=maps, regularization_weight=-1e-3))
        with pytest.raises(ParameterError, match="iterations"):
            run(steps(k, maps=maps, iterations=0))
        with pytest.raises(ParameterError, match="tolerance"):
            run(steps(k, maps=maps, tolerance=-1.0))
        with pytest.raises(DataError, match="encoded grid"):
            run(steps(k, maps=maps[:, :, :, :, :N], device="cpu"))  # recon grid, not the encoded one
        with pytest.raises(DataError, match="coils"):
            run(steps(k, maps=maps[:, :4], device="cpu"))
        with pytest.raises(ParameterError, match="unknown coil map method"):
            run(steps(k, coil_maps="sense"))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="temporal_weight"):
        run(tv_steps(k, maps=maps, temporal_weight=-1.0))
    with pytest.raises(ParameterError, match="unknown wavelet"):
        run(wavelet_steps(k, maps=maps, wavelet="coif1"))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="density"):
        run(sense_steps(k, maps=maps, density="fast"))  # type: ignore[arg-type]
    bad = replace(k, data=k.data.clone())
    bad.data[0, 0, 0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        run(sense_steps(bad, maps=maps, device="cpu"))


def test_bad_input_end_to_end(
    phantom: tuple[KSpace, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's bad inputs through ``mrrecon recon`` (one line, exit 2) and the Python API."""
    from recon_engine.cli import main
    from recon_engine.io.ismrmrd_write import write_ismrmrd

    few_acs = simulate_cartesian(
        shepp_logan(N), birdcage_sensitivities(COILS, (N, N)), acceleration=2, calibration_lines=4, seed=2
    )
    raw = write_ismrmrd(few_acs, tmp_path / "few_acs.h5")
    out = str(tmp_path / "x.npy")
    cases = {  # arguments → words the one-line message must hold
        ("--method", "sense", "--coil-maps", "espirit"): "smaller than the 6-sample ESPIRiT kernel",
        ("--method", "grappa"): "calibration region",
        ("--method", "tv", "--lambda", "-0.01"): "λ ≥ 0",
        ("--method", "wavelet", "--iterations", "0"): "iterations",
    }
    for args, words in cases.items():
        assert main(["recon", str(raw), "-o", out, "--device", "cpu", "-q", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("mrrecon: error:") and words in err[0], err
    ks, maps = phantom
    k = undersample(ks, 2)
    with pytest.raises(DataError, match="leading axes"):  # maps for 3 volumes, data with none
        run(sense_steps(k, maps=np.broadcast_to(maps, (3, *maps.shape)), device="cpu"))
    with pytest.raises(ParameterError, match="acceleration"):  # GRAPPA told R = 3 for R = 2 data
        mr.reconstruct(undersample(ks, 2, calibration=24), method="grappa", acceleration=3, device="cpu")


def test_methods_are_registered() -> None:
    assert {"sense", "tv", "wavelet"} <= set(METHODS)


def _bench_wavelet_error(p: Any, wavelet: str, cycle_spinning: bool, iterations: int) -> float:
    """NRMSE of wavelet CS (true maps, λ = 2e-3, no tolerance stop) on a benchmark problem ``p``."""
    from recon_engine.cli.bench.quality import nrmse_magnitude

    image = run(
        wavelet_steps(
            p.kspace,
            maps=p.maps,
            prewhitening=False,
            iterations=iterations,
            tolerance=0.0,
            regularization_weight=2e-3,
            wavelet=wavelet,  # type: ignore[arg-type]
            cycle_spinning=cycle_spinning,
            device="cpu",
        )
    )
    assert image.meta["cycle_spinning"] is cycle_spinning and image.meta["wavelet"] == wavelet
    return nrmse_magnitude(image.numpy(), p.truth)


def test_wavelet_cycle_spinning_beats_the_fixed_grid() -> None:
    """Benchmark P1 quick (64², 8 coils, R = 4 + 16 lines, σ = 0.005), true maps, λ = 2e-3,
    50 iterations, NRMSE against the truth. Measured: db2 shifted 0.062 (< 0.07), fixed 0.092;
    db4 shifted 0.083, fixed 0.103 (the former default); random grid shifts win for both
    wavelets, and the default (db2, shifted) is < 0.65 × the former default."""
    from recon_engine.cli.bench import problems

    p = problems.cartesian_2d(quick=True)

    def error(wavelet: str, cycle_spinning: bool) -> float:
        return _bench_wavelet_error(p, wavelet, cycle_spinning, iterations=50)

    db2, db2_fixed = error("db2", True), error("db2", False)
    db4, db4_fixed = error("db4", True), error("db4", False)
    print(f"P1 quick: db2 {db2:.4f} (fixed {db2_fixed:.4f}), db4 {db4:.4f} (fixed {db4_fixed:.4f})")
    assert db2 < 0.07
    assert db2 < 0.8 * db2_fixed
    assert db4 < 0.9 * db4_fixed
    assert db2 < 0.65 * db4_fixed


def test_wavelet_3d_shifts_every_axis() -> None:
    """Benchmark 3D quick (32³, 8 coils, R = 2 along k1 + 8 lines, σ = 0.005), true maps,
    λ = 2e-3, 30 iterations, NRMSE against the truth. Measured: db2 shifted over (z, y, x)
    0.032 (< 0.036), db2 fixed grid 0.037, db4 fixed grid (the former default) 0.043."""
    from recon_engine.cli.bench import problems

    p = problems.cartesian_3d(quick=True)

    def error(wavelet: str, cycle_spinning: bool) -> float:
        return _bench_wavelet_error(p, wavelet, cycle_spinning, iterations=30)

    shifted, fixed, former = error("db2", True), error("db2", False), error("db4", False)
    print(f"3D quick: db2 shifted {shifted:.4f}, fixed {fixed:.4f}; db4 fixed {former:.4f}")
    assert shifted < 0.036
    assert shifted < 0.92 * fixed
    assert shifted < 0.8 * former


def test_wavelet_runs_are_reproducible_without_power_iterations(phantom: tuple[KSpace, np.ndarray]) -> None:
    """The seeded grid shifts give bit-identical runs; Cartesian data take the step from the
    coil-map bound (no power-iteration events), and the result differs from the fixed grid."""
    ks, maps = phantom
    k = undersample(ks, 3)

    def events_and_image(**options: object) -> tuple[list[ProgressEvent], np.ndarray]:
        gen = wavelet_steps(k, maps=maps, iterations=8, tolerance=0.0, device="cpu", **options)  # type: ignore[arg-type]
        events: list[ProgressEvent] = []
        while True:
            try:
                events.append(next(gen))
            except StopIteration as stop:
                return events, stop.value.numpy()

    events, first = events_and_image()
    _, second = events_and_image()
    _, fixed = events_and_image(cycle_spinning=False)
    assert np.array_equal(first, second)
    assert not any("power iteration" in e.stage for e in events)
    assert np.abs(first - fixed).max() > 1e-3 * np.abs(fixed).max()


@pytest.mark.parametrize(("shape", "wavelet"), [((8, 512), "db2"), ((4, 1024), "db4"), ((1, 512, 40), "db3")])
def test_wavelet_banded_levels_equal_polyphase(
    shape: tuple[int, ...], wavelet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Axes ≥ 512 samples go through banded window products (the real view with a transposed
    last axis; axes ≤ 128 in the data's dtype): equal to the polyphase loop to 1e-6
    (relative) forwards and backwards, complex and real, still an isometry, and differentiable."""
    from recon_engine.operators import wavelet as module

    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, *shape, dtype=torch.complex64, generator=g)
    fast = module.WaveletOp(shape, wavelet=wavelet)
    c_fast, real_fast = fast(x), fast(x.real.contiguous())
    monkeypatch.setattr(module, "_MATRIX_MAX", 0)
    monkeypatch.setattr(module, "_BAND_MIN", 1 << 30)
    slow = module.WaveletOp(shape, wavelet=wavelet)
    c_slow = slow(x)
    assert float((c_fast - c_slow).norm() / c_slow.norm()) < 1e-6
    real_slow = slow(x.real.contiguous())
    assert float((real_fast - real_slow).norm() / real_slow.norm()) < 1e-6
    back_fast, back_slow = fast.adjoint(c_fast), slow.adjoint(c_fast)
    assert float((back_fast - back_slow).norm() / back_slow.norm()) < 1e-6
    assert float((back_fast - x).norm() / x.norm()) < 1e-6
    leaf = x.real.clone().requires_grad_(True)  # gradients pass: ∇‖Wx‖² = 2WᴴWx = 2x
    monkeypatch.undo()
    (module.WaveletOp(shape, wavelet=wavelet)(leaf) ** 2).sum().backward()
    assert leaf.grad is not None
    assert float((leaf.grad - 2 * leaf.detach()).norm() / leaf.detach().norm()) < 1e-5


def test_cartesian_lipschitz_bound_is_an_upper_bound() -> None:
    """The step bound ``max_r λ_max(S(r)ᴴS(r))`` ≥ ``λ_max(AᴴA)`` (power iteration, 60 steps, its
    2 % margin removed) for random maps (2 sets) and random masks, equals the per-voxel
    eigenvalues computed in float64 (below the sum over sets), and is tight (within 1 %) for
    normalised maps with a fully sampled k-space centre."""
    from recon_engine.operators.cartesian_normal import CartesianNormalOp
    from recon_engine.reconstructions.cs_wavelet import cartesian_lipschitz_bound
    from recon_engine.solvers import power_iteration, seeded_like
    from recon_engine.solvers._power import SAFETY

    g = torch.Generator().manual_seed(3)
    maps = torch.complex(torch.randn(2, 4, 1, 24, 20, generator=g), torch.randn(2, 4, 1, 24, 20, generator=g))
    bound = cartesian_lipschitz_bound(maps)
    s = maps.numpy().astype(np.complex128).transpose(2, 3, 4, 1, 0)  # (z, y, x, coils, sets)
    exact = np.linalg.eigvalsh(np.conj(s).swapaxes(-1, -2) @ s).max()
    assert bound == pytest.approx(exact, rel=1e-5)
    assert bound < 0.9 * float((maps.abs() ** 2).sum(dim=(0, 1)).max())
    for keep in (0.3, 0.7, 1.0):
        mask = torch.rand(1, 1, 24, 1, generator=g) < keep  # (coils, k2, k1, k0)
        x = seeded_like(torch.zeros(2, 1, 24, 20, dtype=torch.complex64))
        lam = power_iteration(CartesianNormalOp(maps, mask), x, 60) / SAFETY
        assert lam <= bound * (1 + 1e-5)
    unit = birdcage_sensitivities(COILS, (N, N)).astype(np.complex64)[None, :, None]
    unit_maps = torch.from_numpy(unit)
    centre = torch.zeros(1, 1, N, 1, dtype=torch.bool)
    centre[..., N // 2 - 8 : N // 2 + 8, :] = True
    x = seeded_like(torch.zeros(1, 1, N, N, dtype=torch.complex64))
    lam = power_iteration(CartesianNormalOp(unit_maps, centre), x, 60)
    bound = cartesian_lipschitz_bound(unit_maps)
    assert bound == pytest.approx(1.0, abs=1e-5)  # Σ_c |S_c|² = 1
    assert lam / SAFETY <= bound * (1 + 1e-5)
    assert lam / SAFETY > 0.99 * bound


def test_radial_wavelet_takes_its_step_from_power_iterations() -> None:
    """64² radial, 8 coils, 32 spokes, σ = 0.005: wavelet (db2, shifted, 15 iterations) against a
    128-spoke SENSE reference. Measured NRMSE 0.065 (< 0.10); ``L`` by power iteration."""
    maps, acquire = _radial_setup(n_noise_samples=0)
    ref = run(sense_steps(acquire(128), maps=maps, iterations=20, device="cpu")).numpy()[0, 0]
    ks = acquire(32)
    gen = wavelet_steps(ks, maps=maps, iterations=15, device="cpu")
    stages: list[str] = []
    while True:
        try:
            stages.append(next(gen).stage)
        except StopIteration as stop:
            image: mr.ImageData = stop.value
            break
    error = nrmse(image.numpy()[0, 0], ref)
    print(f"radial 32 spokes: wavelet {error:.3f}")
    assert any("power iteration" in s for s in stages)
    assert image.meta["transform"] == "nufft"
    assert error < 0.10


@pytest.fixture(scope="module")
def skyra() -> tuple[KSpace, np.ndarray]:
    """The 32-coil Skyra spin echo and ESPIRiT maps from its 16 central lines (the ACS block of every R)."""
    data = shared_data("pulseq_mr_physics_course", "02_rf_pulses", "data")
    ks = mr.read(data / "meas_MID00243_FID33257_pulseq.dat", seq=data / "se_2D_sinc_img.seq")
    assert ks.n_coils == 32
    sense = run(
        sense_steps(undersample(ks, 2, calibration=16), coil_maps="espirit", iterations=1, device="cpu")
    )
    return ks, sense.meta["coil_maps"]  # type: ignore[return-value]


@pytest.mark.parametrize(("acceleration", "sense_max", "cs_max"), [(2, 0.02, 0.05), (3, 0.03, 0.05)])
def test_real_32_coil_skyra_retrospective(
    skyra: tuple[KSpace, np.ndarray], acceleration: int, sense_max: float, cs_max: float
) -> None:
    ks, maps = skyra
    k = undersample(ks, acceleration, calibration=16)
    ref = run(sense_steps(ks, maps=maps, iterations=20, device="cpu")).numpy()[0, 0]
    zf = nrmse_fitted(zero_filled(k, maps), ref)
    e_sense = nrmse(run(sense_steps(k, maps=maps, iterations=20, device="cpu")).numpy()[0, 0], ref)
    e_tv = nrmse(run(tv_steps(k, maps=maps, iterations=20, device="cpu")).numpy()[0, 0], ref)
    e_wav = nrmse(run(wavelet_steps(k, maps=maps, iterations=20, device="cpu")).numpy()[0, 0], ref)
    print(
        f"Skyra R={acceleration} (effective {k.acceleration:.2f}): zero-filled {zf:.3f} "
        f"SENSE {e_sense:.4f} TV {e_tv:.4f} wavelet {e_wav:.4f}"
    )
    assert e_sense < sense_max
    assert max(e_tv, e_wav) < cs_max
    assert max(e_sense, e_tv, e_wav) < zf / 3


def bart_kspace(folder: Path) -> tuple[KSpace, np.ndarray]:
    """BART's ``(1, y, z, coils)`` k-space as ``(coils, k2 = z, k1 = y, k0 = 1)``; reference ``(z, y, 1)``."""
    ksp = read_cfl(folder / "ksp")[0]  # (180, 230, 8)
    img = read_cfl(folder / "img")[0, :, :, 0, :]  # (180, 230, 2 map sets)
    ref = np.sqrt((np.abs(img) ** 2).sum(-1)).T[:, :, None]
    data = np.ascontiguousarray(ksp.transpose(2, 1, 0)[..., None])
    c, nz, ny, nx = data.shape
    template = simulate_cartesian(
        np.zeros((nz, ny, nx), np.float32),
        np.ones((c, nz, ny, nx), np.complex64),
        readout_oversampling=1,
        noise_std=0.0,
        n_noise_samples=0,
    )
    mask = torch.from_numpy(np.abs(data).sum(axis=(0, 3)) > 0)
    return replace(template, data=torch.from_numpy(data), sampling_mask=mask), ref


@pytest.fixture(scope="module")
def bart_brain() -> tuple[KSpace, np.ndarray, np.ndarray, float, float]:
    """k-space, reference, ESPIRiT maps, and the zero-filled and SENSE (10 iterations) NRMSE."""
    ks, ref = bart_kspace(shared_data("bart_pics_brain"))
    assert ks.shape == (8, 230, 180, 1)
    sense = run(sense_steps(ks, coil_maps="espirit", iterations=10, device="cpu"))
    maps = sense.meta["coil_maps"]
    e_zf = nrmse_fitted(rss_maps(run(sense_steps(ks, maps=maps, iterations=1, device="cpu"))), ref)
    return ks, ref, maps, e_zf, nrmse_fitted(rss_maps(sense), ref)  # type: ignore[return-value]


@pytest.mark.parametrize(("method", "limit"), [("tv", 0.07), ("wavelet", 0.08)])
def test_bart_pics_brain_sense_and_cs(
    bart_brain: tuple[KSpace, np.ndarray, np.ndarray, float, float], method: str, limit: float
) -> None:
    """12.7 % variable-density samples (R ≈ 7.9); the reference is BART's PICS of the full data."""
    ks, ref, maps, e_zf, e_sense = bart_brain
    steps = tv_steps if method == "tv" else wavelet_steps
    e_cs = nrmse_fitted(rss_maps(run(steps(ks, maps=maps, iterations=10, device="cpu"))), ref)
    print(f"BART brain: zero-filled {e_zf:.3f} SENSE {e_sense:.3f} {method} {e_cs:.3f}")
    assert e_sense < 0.10
    assert e_cs < limit
    assert e_cs < e_sense < e_zf


def test_read_cfl_and_its_errors(tmp_path: Path) -> None:
    a = (np.arange(24) + 1j * np.arange(24)).astype(np.complex64).reshape(2, 3, 4, order="F")
    (tmp_path / "x.hdr").write_text("# Dimensions\n2 3 4 1 1 1 1 1 1 1 1 1 1 1 1 1\n")
    a.ravel(order="F").tofile(tmp_path / "x.cfl")
    np.testing.assert_array_equal(read_cfl(tmp_path / "x"), a)
    np.testing.assert_array_equal(read_cfl(tmp_path / "x.cfl"), a)
    with pytest.raises(FileFormatError, match="not found"):
        read_cfl(tmp_path / "missing")
    (tmp_path / "t.hdr").write_text("# Dimensions\n2 3 5\n")
    a.ravel(order="F").tofile(tmp_path / "t.cfl")
    with pytest.raises(FileFormatError, match="truncated"):
        read_cfl(tmp_path / "t")
    (tmp_path / "h.hdr").write_text("# Command\npics\n")
    a.ravel(order="F").tofile(tmp_path / "h.cfl")
    with pytest.raises(FileFormatError, match="Dimensions"):
        read_cfl(tmp_path / "h")
    (tmp_path / "m.hdr").write_text("# Dimensions\n2 x 4\n")
    a.ravel(order="F").tofile(tmp_path / "m.cfl")
    with pytest.raises(FileFormatError, match="malformed"):
        read_cfl(tmp_path / "m")
