"""Coil compression (SVD and geometric): kept energy, images, noise scan, maps, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import recon_engine as mr
from recon_engine.calibration.coil_compression import (
    apply_coil_compression,
    coil_compression_matrix,
    compress_coils,
    compression_energy,
)
from recon_engine.calibration.coil_maps import estimate_coil_maps
from recon_engine.calibration.noise import noise_covariance
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_ifft
from recon_engine.simulate import (
    birdcage_sensitivities,
    radial,
    shepp_logan,
    simulate_cartesian,
    simulate_noncartesian,
)
from tests.conftest import shared_data

#: Cima.X phantom, 16-channel local coil (PROVENANCE.txt: 2024-02-06-160052.dat)
CIMA_LOCAL = ("pulseq_mr_physics_course", "04_hardware_and_imprefections", "data", "2024-02-06-160052.dat")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rss(data: torch.Tensor) -> np.ndarray:
    """Root-sum-of-squares image ``(y, x)`` of 2D k-space ``(coils, 1, k1, k0)``."""
    return torch.sqrt((centered_ifft(data, 2).abs() ** 2).sum(0))[0].numpy()


@pytest.fixture(scope="module")
def cima() -> mr.KSpace:
    return mr.read(shared_data(*CIMA_LOCAL))


@pytest.mark.parametrize(
    ("method", "n_virtual", "min_energy", "max_nrmse"),
    [("svd", 10, 0.99, 0.01), ("geometric", 4, 0.99, 0.005)],
)
def test_compression_of_a_16_channel_coil_keeps_the_image(
    cima: mr.KSpace, method: str, n_virtual: int, min_energy: float, max_nrmse: float
) -> None:
    # measured energy kept (all samples): SVD 0.426, 0.697, ..., 0.9908 (9), 0.9945 (10);
    # geometric 0.723, 0.937, 0.987, 0.9952 (4): per-readout-position matrices need far fewer
    # virtual coils. RSS image NRMSE in the object: SVD 10 → 0.6 %, geometric 4 → 0.2 %.
    energy = compression_energy(cima, method=method, device="cpu")  # type: ignore[arg-type]
    assert energy.shape == (16,) and float(energy[-1]) == pytest.approx(1.0, abs=1e-5)
    assert bool((energy[1:] >= energy[:-1] - 1e-6).all())
    assert float(energy[n_virtual - 1]) >= min_energy
    out = compress_coils(cima, n_virtual, method=method, device="cpu")  # type: ignore[arg-type]
    assert out.shape == (n_virtual, 1, 128, 128) and out.n_coils == n_virtual
    assert out.header.receiver_channels == n_virtual
    record = out.meta["coil_compression"]
    assert isinstance(record, dict) and record["energy_kept"] >= min_energy
    assert record["energy_kept"] == pytest.approx(float(energy[n_virtual - 1]), abs=1e-3)
    ref = rss(cima.data)
    obj = ref > 0.2 * ref.max()
    err = np.linalg.norm((rss(out.data) - ref)[obj]) / np.linalg.norm(ref[obj])
    assert err < max_nrmse


def test_geometric_keeps_more_energy_than_svd(cima: mr.KSpace) -> None:
    svd = compression_energy(cima, device="cpu")
    gcc = compression_energy(cima, method="geometric", device="cpu")
    assert bool((gcc[:8] > svd[:8]).all())  # measured at 4 coils: 0.995 vs 0.882


def test_matrix_rows_are_orthonormal(cima: mr.KSpace) -> None:
    a = coil_compression_matrix(cima, 6, device="cpu")
    assert a.shape == (6, 16)
    assert torch.allclose(a @ a.conj().T, torch.eye(6, dtype=a.dtype), atol=1e-5)
    g = coil_compression_matrix(cima, 4, method="geometric", device="cpu")
    assert g.shape == (128, 4, 16)  # one matrix per readout position x
    eye = torch.eye(4, dtype=g.dtype).expand(128, 4, 4)
    assert torch.allclose(g @ g.conj().transpose(-1, -2), eye, atol=1e-5)
    # aligned: neighbouring positions hold nearly the same virtual coils. Unaligned per-x
    # eigenvectors (arbitrary phase and rotation) step 0.24 (median ‖A_x+1 - A_x‖_F), aligned 0.13
    hybrid = centered_ifft(cima.data[:, 0], 1)
    raw = torch.linalg.eigh(torch.einsum("anx,bnx->xab", hybrid, hybrid.conj()))[1][..., -4:]
    raw = raw.flip(-1).conj().transpose(-1, -2)

    def step(a: torch.Tensor) -> float:
        return float((a[1:] - a[:-1]).abs().pow(2).sum(dim=(-2, -1)).sqrt().median())

    assert step(g) < 0.7 * step(raw)


@pytest.fixture(scope="module")
def simulated() -> tuple[mr.KSpace, np.ndarray, np.ndarray]:
    """16 birdcage coils, 64², R = 2 with 24 ACS lines, 2× readout oversampling, correlated noise.

    Noise σ = 0.002 (phantom intensity ≤ 1).
    """
    n = 64
    maps = birdcage_sensitivities(16, (n, n))
    rho = shepp_logan(n)
    ks = simulate_cartesian(rho, maps, acceleration=2, calibration_lines=24, noise_std=0.002, seed=4)
    return ks, maps, rho


@pytest.mark.parametrize("method", ["svd", "geometric"])
def test_noise_scan_is_compressed_consistently(
    simulated: tuple[mr.KSpace, np.ndarray, np.ndarray], method: str
) -> None:
    ks = simulated[0]
    out = compress_coils(ks, 8, method=method, region="calibration", device="cpu")  # type: ignore[arg-type]
    assert out.noise is not None and out.noise.shape == (8, 2048)  # 2048 = 16 blocks of 128 samples
    a = coil_compression_matrix(ks, 8, method=method, region="calibration", device="cpu")  # type: ignore[arg-type]
    psi = torch.from_numpy(ks.meta["noise_covariance"])  # type: ignore[arg-type]
    expected = a @ psi @ a.conj().T if a.ndim == 2 else (a @ psi @ a.conj().transpose(-1, -2)).mean(0)
    measured = noise_covariance(out.noise)
    # measured: 5.2 % (SVD), 5.5 % (geometric) relative Frobenius error, the sampling error of a
    # covariance estimated from 2048 samples
    assert float(torch.linalg.norm(measured - expected) / torch.linalg.norm(expected)) < 0.08


def test_maps_after_geometric_compression(simulated: tuple[mr.KSpace, np.ndarray, np.ndarray]) -> None:
    # The compressed coils of readout position x are A_x S(x): ESPIRiT on the compressed data
    # must find exactly those (hybrid space x = image x), proof that the alignment keeps the
    # virtual coils smooth enough for k-space calibration.
    ks, maps, rho = simulated
    n = rho.shape[0]
    out = compress_coils(ks, 6, method="geometric", device="cpu")
    a = coil_compression_matrix(ks, 6, method="geometric", device="cpu").numpy()  # (x, 6, 16)
    pad = np.zeros((16, n, 2 * n), dtype=np.complex64)
    pad[:, :, n // 2 : n // 2 + n] = maps
    true = np.einsum("xvc,cyx->vyx", a, pad)
    true /= np.linalg.norm(true, axis=0, keepdims=True).clip(1e-12)
    est = estimate_coil_maps(out, device="cpu")[0, :, 0].numpy()
    obj = np.zeros((n, 2 * n), dtype=bool)
    obj[:, n // 2 : n // 2 + n] = shepp_logan(n) > 0.05
    err = np.sqrt(np.clip(2 - 2 * np.abs(np.sum(est.conj() * true, axis=0)), 0, None))[obj]
    # measured: median 0.0058 (ESPIRiT on the 16 uncompressed coils against the true maps: 0.0053)
    assert np.median(err) < 0.012


def test_noncartesian_svd_compression() -> None:
    n = 32
    ks = simulate_noncartesian(
        shepp_logan(2 * n).astype(np.complex64),
        radial(48, 2 * n, matrix=n),
        birdcage_sensitivities(8, (2 * n, 2 * n)),
        matrix=(n, n),
        noise_std=1e-3,
        n_noise_samples=256,
    )
    for region in ("all", "calibration"):
        out = compress_coils(ks, 4, region=region, device="cpu")  # type: ignore[arg-type]
        assert out.shape == (4, 1, 48, 64) and out.trajectory is not None
        assert out.noise is not None and out.noise.shape == (4, 256)
        assert out.meta["coil_compression"]["energy_kept"] > 0.99  # type: ignore[index]


def test_apply_is_linear_and_checks_the_readout(simulated: tuple[mr.KSpace, np.ndarray, np.ndarray]) -> None:
    ks = simulated[0]
    g = coil_compression_matrix(ks, 4, method="geometric", device="cpu")
    with pytest.raises(DataError, match="is for 128 readout samples, the k-space has 64"):
        apply_coil_compression(ks.data[..., :64], g)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"n_virtual": 17}, ParameterError, "between 1 and the 16 coils"),
        ({"n_virtual": 0}, ParameterError, "between 1 and the 16 coils"),
        ({"method": "pca"}, ParameterError, "unknown coil compression"),
        ({"region": "centre"}, ParameterError, "'all' or 'calibration'"),
    ],
)
def test_bad_parameters(
    simulated: tuple[mr.KSpace, np.ndarray, np.ndarray],
    options: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    kwargs: dict[str, object] = {"n_virtual": 4, **options}
    with pytest.raises(error, match=message):
        compress_coils(simulated[0], device="cpu", **kwargs)  # type: ignore[arg-type]


def test_geometric_needs_cartesian_data() -> None:
    n = 16
    ks = simulate_noncartesian(
        shepp_logan(n).astype(np.complex64), radial(8, n), birdcage_sensitivities(4, (n, n)), matrix=(n, n)
    )
    with pytest.raises(ParameterError, match="geometric coil compression needs a Cartesian"):
        compress_coils(ks, 2, method="geometric", device="cpu")
