"""Coil sensitivity maps: ESPIRiT / Walsh / Inati against true and measured sensitivities, bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import ndimage

import recon_engine as mr
from recon_engine.calibration.coil_compression import coil_compression_matrix
from recon_engine.calibration.coil_maps import (
    CoilMapMethod,
    calibration_data,
    check_coil_maps,
    espirit_maps,
    estimate_coil_maps,
    inati_maps,
)
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_fft, centered_ifft
from recon_engine.simulate import (
    birdcage_sensitivities,
    radial,
    shepp_logan,
    shepp_logan_3d,
    simulate_cartesian,
    simulate_noncartesian,
)
from tests.conftest import shared_data

CIMA = ("pulseq_mr_physics_course", "04_hardware_and_imprefections", "data")
#: PROVENANCE.txt: phantom local coil 160052 (16 ch) / body coil 160115 (2 ch);
#: in vivo local 164128 / body 164120.
CIMA_PAIRS = {
    "phantom": ("2024-02-06-160052.dat", "2024-02-06-160115.dat"),
    "in_vivo": ("2024-02-06-164128.dat", "2024-02-06-164120.dat"),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def map_error(est: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``min_φ ‖e^{iφ} S_est - S_true‖`` per voxel for unit-norm ``(coils, ...)`` maps."""
    corr = np.abs(np.sum(est.conj() * true, axis=0))
    return np.sqrt(np.clip(2.0 - 2.0 * corr, 0.0, None))


def smooth_phase(n: int) -> np.ndarray:
    y = np.linspace(-1, 1, n)[:, None]
    x = np.linspace(-1, 1, n)[None]
    return np.exp(1j * (0.8 * x + 0.5 * y + 0.6 * (x**2 + y**2)))


def object_mask(rho: np.ndarray, erode: int = 2) -> np.ndarray:
    """Inside the phantom (holes filled), ``erode`` voxels away from its edge."""
    return ndimage.binary_erosion(ndimage.binary_fill_holes(np.abs(rho) > 0), iterations=erode)


@pytest.fixture(scope="module")
def accelerated() -> tuple[mr.KSpace, np.ndarray, np.ndarray]:
    """96² phantom with a smooth phase, 8 birdcage coils, R = 2 with 24 ACS lines, 2× readout OS."""
    n = 96
    rho = shepp_logan(n) * smooth_phase(n)
    maps = birdcage_sensitivities(8, (n, n))
    ks = simulate_cartesian(rho, maps, acceleration=2, calibration_lines=24, noise_std=2e-3, seed=1)
    return ks, maps, rho


def test_espirit_matches_true_birdcage_maps(accelerated: tuple[mr.KSpace, np.ndarray, np.ndarray]) -> None:
    ks, true, rho = accelerated
    n = rho.shape[0]
    maps = estimate_coil_maps(ks, device="cpu")
    # encoded grid: (n_maps, coils, k2, k1, k0) with the 2× oversampled readout kept
    assert maps.shape == (1, 8, 1, n, 2 * n)
    assert maps.dtype == torch.complex64
    est = maps[0, :, 0].numpy()
    norm = np.linalg.norm(est, axis=0)
    assert np.allclose(norm[norm > 0], 1.0, atol=1e-4)  # unit norm where kept, 0 after crop
    inside = est[:, :, n // 2 : n // 2 + n]
    obj = object_mask(rho)
    err = map_error(inside, true)[obj]
    # measured: mean 0.0053, 99th percentile 0.012, max 0.014 (relative error up to a phase per voxel)
    assert err.mean() < 0.01
    assert np.percentile(err, 99) < 0.03
    assert norm[:, n // 2 : n // 2 + n][obj].min() > 0.99  # nothing cropped inside the object
    # the oversampled margins of the encoded FOV hold no object: cropped to 0
    assert (norm[:, : n // 4] == 0).all() and (norm[:, -n // 4 :] == 0).all()


@pytest.mark.parametrize("method", ["walsh", "inati"])
def test_walsh_and_inati_match_true_maps_where_there_is_signal(
    accelerated: tuple[mr.KSpace, np.ndarray, np.ndarray], method: CoilMapMethod
) -> None:
    ks, true, rho = accelerated
    n = rho.shape[0]
    est = estimate_coil_maps(ks, method=method, device="cpu")[0, :, 0, :, n // 2 : n // 2 + n].numpy()
    signal = ndimage.binary_erosion(np.abs(rho) > 0.05, iterations=2)
    err = map_error(est, true)[signal]
    # measured: mean 0.017 (Walsh and Inati alike): low-resolution images from 24 × 48
    # calibration samples blur the sensitivity at edges; ESPIRiT is 3× closer
    assert err.mean() < 0.035
    assert np.allclose(np.linalg.norm(est, axis=0), 1.0, atol=1e-3)


def test_phase_is_relative_to_a_virtual_body_coil(
    accelerated: tuple[mr.KSpace, np.ndarray, np.ndarray],
) -> None:
    ks = accelerated[0]
    maps = {m: estimate_coil_maps(ks, method=m, device="cpu")[0, :, 0] for m in ("espirit", "walsh")}
    calib = calibration_data(ks, device="cpu")[0].reshape(8, -1)
    w = torch.linalg.eigh(calib @ calib.conj().T)[1][:, -1]
    for m in maps.values():
        p = torch.einsum("c,cyx->yx", w.conj(), m)
        kept = p.abs() > 1e-3
        assert float(p[kept].imag.abs().max()) < 1e-4 and float(p[kept].real.min()) > 0
    # same phase convention, so the methods agree without a per-voxel phase
    inside = maps["espirit"].abs().sum(0) > 0
    diff = (maps["espirit"] - maps["walsh"]).abs().pow(2).sum(0).sqrt()[inside]
    assert float(diff.median()) < 0.05


def test_two_sets_when_the_fov_is_smaller_than_the_object() -> None:
    # 128² object folded into an 80-row FOV: rows 0..47 hold two overlapping parts of it
    n, fov, c = 128, 80, 8
    rho = shepp_logan(n).astype(np.complex64)
    true = birdcage_sensitivities(c, (n, n))
    coil = true * rho
    folded = coil[:, :fov].copy()
    folded[:, : n - fov] += coil[:, fov:]
    ks = simulate_cartesian(np.ones((fov, n)), folded, readout_oversampling=1, noise_std=1e-3, seed=2)
    obj = object_mask(rho, erode=3)
    w = n - fov
    overlap = obj[:w] & obj[fov:]  # (w, n): voxels where two parts of the object alias
    # the larger signal subspace of aliased data needs a lower threshold than the default 0.02
    # (measured: with 0.02 the second eigenvalue stays below the crop in the overlap)
    results = {}
    for n_maps in (1, 2):
        e = estimate_coil_maps(ks, n_maps=n_maps, threshold=0.005, device="cpu")[:, :, 0].numpy()
        assert e.shape == (n_maps, c, fov, n)

        def captured(s: np.ndarray, e: np.ndarray = e) -> np.ndarray:
            """|P s| for unit s: the part of a true sensitivity inside the span of the sets."""
            return np.sqrt(sum(np.abs(np.sum(e[m, :, :w].conj() * s, axis=0)) ** 2 for m in range(len(e))))

        worst = np.minimum(captured(true[:, :w]), captured(true[:, fov:]))[overlap]
        proj = sum(e[m] * np.sum(e[m].conj() * folded, axis=0) for m in range(n_maps))
        residual = np.linalg.norm(folded - proj, axis=0) / np.linalg.norm(folded, axis=0).clip(1e-12)
        results[n_maps] = (worst, residual[:w][overlap])
    # measured: two sets capture both aliased sensitivities to 0.9999 (min 0.9998) and leave
    # 0.13 % of the aliased coil signal unexplained (max 0.35 %); one set captures only
    # 0.90 on average (min 0.78) and leaves 3.4 % (max 23 %)
    worst2, res2 = results[2]
    worst1, res1 = results[1]
    assert worst2.min() > 0.999 and res2.max() < 0.01
    assert worst1.mean() < 0.95 and res1.max() > 0.1


def test_noncartesian_espirit_from_the_gridded_centre() -> None:
    # radial, 96 spokes × 256 samples for 128², object simulated on a 256² grid (no inverse crime)
    n = 128
    fine = shepp_logan(2 * n).astype(np.complex64)
    traj = radial(96, 2 * n, matrix=n)
    ks = simulate_noncartesian(
        fine, traj, birdcage_sensitivities(8, (2 * n, 2 * n)), matrix=(n, n), noise_std=1e-3
    )
    maps = estimate_coil_maps(ks, device="cpu")
    assert maps.shape == (1, 8, 1, n, n)  # the NUFFT grid (recon matrix)
    err = map_error(maps[0, :, 0].numpy(), birdcage_sensitivities(8, (n, n)))[object_mask(shepp_logan(n))]
    # measured: mean 0.0105, 99th percentile 0.032
    assert err.mean() < 0.02
    assert np.percentile(err, 99) < 0.06


def test_3d_espirit() -> None:
    n = 32
    rho = shepp_logan_3d(n)
    true = birdcage_sensitivities(8, (n, n, n), n_rings=2)
    ks = simulate_cartesian(rho, true, readout_oversampling=1, noise_std=1e-3, calibration_lines=16)
    maps = estimate_coil_maps(ks, kernel_size=4, calibration_size=12, device="cpu")
    assert maps.shape == (1, 8, n, n, n)
    err = map_error(maps[0].numpy(), true)[object_mask(rho, erode=1)]
    # measured: mean 0.0076, 99th percentile 0.019 (6³ kernel on 16³: 0.0061 / 0.012)
    assert err.mean() < 0.015


def test_other_axes_and_averages() -> None:
    n = 32
    rho = shepp_logan(n)
    maps_a, maps_b = birdcage_sensitivities(4, (n, n)), birdcage_sensitivities(4, (n, n), relative_radius=2.0)
    k1 = simulate_cartesian(rho, maps_a, readout_oversampling=1, noise_std=1e-3, seed=1)
    k2 = simulate_cartesian(rho, maps_b, readout_oversampling=1, noise_std=1e-3, seed=2)
    two = replace(
        k1,
        data=torch.stack([k1.data, k2.data]),
        sampling_mask=torch.stack([k1.sampling_mask, k2.sampling_mask]),
        other_axes=("slice",),
    )
    est = estimate_coil_maps(two, kernel_size=4, calibration_size=16, device="cpu")
    assert est.shape == (2, 1, 4, 1, n, n)  # (*other, n_maps, coils, z, y, x): one set per slice
    obj = object_mask(rho)
    for s, true in enumerate((maps_a, maps_b)):
        assert map_error(est[s, 0, :, 0].numpy(), true)[obj].mean() < 0.02
    averages = replace(two, data=torch.stack([k1.data, k1.data]), other_axes=("average",))
    assert estimate_coil_maps(averages, kernel_size=4, calibration_size=16, device="cpu").shape == (
        1,
        4,
        1,
        n,
        n,
    )


def test_espirit_maps_on_a_calibration_block() -> None:
    n = 48
    true = birdcage_sensitivities(4, (n, n))
    rho = shepp_logan(n)
    k = centered_fft(torch.from_numpy((true * rho).astype(np.complex64)), 2)
    block = k[:, n // 2 - 10 : n // 2 + 10, n // 2 - 10 : n // 2 + 10][:, None]
    maps = espirit_maps(block, (n, n), kernel_size=5, n_maps=2)
    assert maps.shape == (2, 4, n, n)
    # first set: the sensitivities; the second is cropped where the object does not alias
    assert map_error(maps[0].numpy(), true)[object_mask(rho)].mean() < 0.02
    assert float(maps[1].abs().sum(0).mean()) < 0.2
    with pytest.raises(ParameterError, match="image_shape"):
        espirit_maps(block, (n,))


def test_inati_maps_on_images() -> None:
    n = 48
    true = birdcage_sensitivities(4, (n, n))
    rho = shepp_logan(n)
    maps = inati_maps(torch.from_numpy(true * rho)[:, None], kernel_size=5, iterations=5)
    assert maps.shape == (4, 1, n, n)
    signal = ndimage.binary_erosion(rho > 0.05, iterations=2)
    assert map_error(maps[:, 0].numpy(), true)[signal].mean() < 0.02
    with pytest.raises(DataError, match="coils, z, y, x"):
        inati_maps(torch.zeros(4, n, n, dtype=torch.complex64))
    with pytest.raises(ParameterError, match="iterations"):
        inati_maps(torch.zeros(4, 1, n, n, dtype=torch.complex64), iterations=0)


# ------------------------------------------------------------------ Cima.X: local / body coil
def _cima(which: str) -> tuple[mr.KSpace, np.ndarray, np.ndarray]:
    """Local-coil k-space, local coil images (16, y, x) and the body coil image (y, x)."""
    local_name, body_name = CIMA_PAIRS[which]
    local = mr.read(shared_data(*CIMA, local_name))
    body = mr.read(shared_data(*CIMA, body_name))
    images = centered_ifft(local.data, 2)[:, 0].numpy()
    # the two body channels (BC0/BC1) combined by their dominant principal component: one
    # global linear combination, so the body coil's own phase and profile survive
    a = coil_compression_matrix(body, 1, device="cpu")
    body_image = np.tensordot(a[0].numpy(), centered_ifft(body.data, 2)[:, 0].numpy(), axes=1)
    return local, images, body_image


@pytest.mark.parametrize(
    ("which", "methods", "min_corr"),
    [("phantom", ("espirit", "inati"), 0.995), ("in_vivo", ("espirit",), 0.98)],
)
def test_cima_x_maps_against_local_over_body_ratio(
    which: str, methods: tuple[str, ...], min_corr: float
) -> None:
    # The sensitivity of local coil c relative to the (nearly homogeneous) body coil is the
    # ratio of the two images, I_c / I_body (Pruessmann 1999). Normalised over coils it is
    # compared with maps estimated from the central 24 × 24 samples only, per voxel up to a
    # phase (the per-voxel common phase is arbitrary: SENSE puts it into the image), inside the
    # object (body-coil magnitude above 20 % of its 99th percentile) where ESPIRiT kept the map.
    local, images, body = _cima(which)
    ratio = images / body
    ratio /= np.linalg.norm(ratio, axis=0, keepdims=True)
    obj = np.abs(body) > 0.2 * np.percentile(np.abs(body), 99)
    corr = {}
    for method in methods:  # (Walsh, 2 s for 16 coils on a CPU, is left out for time)
        est = estimate_coil_maps(local, method=method, device="cpu")[0, :, 0].numpy()  # type: ignore[arg-type]
        kept = obj & (np.linalg.norm(est, axis=0) > 0.5)
        assert kept.sum() > 0.95 * obj.sum()
        corr[method] = float(np.abs(np.sum(est.conj() * ratio, axis=0))[kept].mean())
    # measured |<S, ratio>| mean: phantom 0.998 (ESPIRiT, Walsh, Inati alike: noise of the body
    # coil image limits it); in vivo 0.991 (ESPIRiT, 97.5 % of the object kept), 0.979 (Walsh,
    # Inati)
    assert min(corr.values()) > min_corr, corr


# ------------------------------------------------------------------ bad input
def test_calibration_region_smaller_than_the_kernel() -> None:
    n = 32
    ks = simulate_cartesian(
        shepp_logan(n), birdcage_sensitivities(4, (n, n)), acceleration=2, calibration_lines=4, seed=3
    )
    with pytest.raises(
        DataError, match=r"calibration region is 4 × 48 \(k1 × k0\).*smaller than the 6-sample"
    ):
        estimate_coil_maps(ks, device="cpu")
    with pytest.raises(ParameterError, match="calibration_size 4 is smaller than the ESPIRiT kernel"):
        estimate_coil_maps(ks, calibration_size=4, device="cpu")


def test_centre_not_acquired() -> None:
    n = 32
    ks = simulate_cartesian(shepp_logan(n), birdcage_sensitivities(4, (n, n)), seed=3)
    mask = ks.sampling_mask.clone()
    mask[:, n // 2 - 2 : n // 2 + 2] = False
    with pytest.raises(DataError, match=r"k-space centre .* was not acquired"):
        estimate_coil_maps(replace(ks, sampling_mask=mask), device="cpu")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "sense"}, "unknown coil sensitivity method"),
        ({"method": "walsh", "n_maps": 2}, "n_maps = 2 needs method='espirit'"),
        ({"n_maps": 3}, "n_maps must be 1 or 2"),
        ({"threshold": 1.5}, "threshold is relative"),
        ({"crop": -0.1}, "crop is an eigenvalue threshold"),
        ({"kernel_size": 1}, "kernel_size must be an integer ≥ 2"),
    ],
)
def test_impossible_parameters(options: dict[str, object], message: str) -> None:
    n = 32
    ks = simulate_cartesian(shepp_logan(n), birdcage_sensitivities(4, (n, n)), seed=3)
    with pytest.raises(ParameterError, match=message):
        estimate_coil_maps(ks, device="cpu", **options)  # type: ignore[arg-type]


def test_maps_of_the_wrong_shape(accelerated: tuple[mr.KSpace, np.ndarray, np.ndarray]) -> None:
    ks = accelerated[0]
    n = accelerated[2].shape[0]
    good = torch.ones(8, 1, n, 2 * n, dtype=torch.complex64)
    assert check_coil_maps(good, ks).shape == (1, 8, 1, n, 2 * n)
    with pytest.raises(DataError, match="the coil maps have 4 coils but the k-space has 8"):
        check_coil_maps(good[:4], ks)
    with pytest.raises(DataError, match=r"1 × 96 × 96 \(z × y × x\) but the encoded grid .* 1 × 96 × 192"):
        check_coil_maps(good[..., :n], ks)  # maps on the recon grid: oversampling removed
    with pytest.raises(DataError, match="must be \\(n_maps, coils, z, y, x\\)"):
        check_coil_maps(good[:, 0], ks)
    with pytest.raises(DataError, match="NaN"):
        check_coil_maps(good * float("nan"), ks)


@pytest.mark.cuda
def test_cuda_espirit_matches_cpu(accelerated: tuple[mr.KSpace, np.ndarray, np.ndarray]) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    ks = accelerated[0]
    cpu = estimate_coil_maps(ks, device="cpu")
    gpu = estimate_coil_maps(ks, device="cuda")
    assert gpu.device.type == "cuda"
    err = map_error(gpu[0].cpu().numpy(), cpu[0].numpy())
    kept = (cpu[0].abs().sum(0) > 0).numpy()
    assert np.median(err[kept]) < 1e-3
