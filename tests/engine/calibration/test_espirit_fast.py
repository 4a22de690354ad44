"""ESPIRiT's coarse-grid eigen-solver against the per-voxel ``eigh`` and the true sensitivities.

The coarse path (:mod:`recon_engine.calibration._espirit_eigen`) must give the maps of the exact
per-voxel decomposition: the same crop mask, eigenvalues within 10⁻³, and eigenvectors with a
coil-vector similarity ``|⟨s, t⟩|`` ≥ 0.9999 on average where kept; where two eigenvalues are
nearly equal (aliased object) the eigenvector is not unique and it must lie in their span.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from recon_engine.calibration import _espirit_eigen as fast
from recon_engine.calibration.calibration_region import calibration_data
from recon_engine.calibration.espirit import _coefficients, _reference, _signal_kernels, espirit_maps
from recon_engine.cli.bench.quality import map_similarity
from recon_engine.operators.fft import centered_fft
from recon_engine.simulate import birdcage_sensitivities, shepp_logan, shepp_logan_3d, simulate_cartesian

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _block(images: np.ndarray, size: int) -> torch.Tensor:
    """Centred fully sampled calibration block ``(coils, n2, n1, n0)`` of coil images ``(coils, z, y, x)``."""
    k = centered_fft(torch.from_numpy(images.astype(np.complex64)), 3 if images.shape[1] > 1 else 2)
    idx = tuple(
        slice(n // 2 - size // 2, n // 2 - size // 2 + size) if n > 1 else slice(None) for n in k.shape[1:]
    )
    return k[(slice(None), *idx)].contiguous()


Pairs = tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _both(
    calib: torch.Tensor,
    zyx: tuple[int, int, int],
    kernel: int,
    threshold: float,
    crop: float,
    n_maps: int = 1,
) -> Pairs:
    """Coarse-path (``n_maps`` sets) and exact (2 sets) eigenpairs ``(values, vectors)`` of one ``G``."""
    k = tuple(kernel if n > 1 else 1 for n in calib.shape[1:])
    coeff = _coefficients(_signal_kernels(calib, (k[0], k[1], k[2]), threshold))
    assert fast.coarse_shape(zyx, coeff.shape[2:]) is not None  # the path espirit_maps takes
    ref = _reference(coeff, n_maps)
    return fast.coarse_eigen(coeff, zyx, ref, crop), fast.exact_eigen(coeff, zyx, 2)


def _similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``|⟨a, b⟩|`` per voxel of unit vectors ``(c, V)``."""
    return (a.conj() * b).sum(0).abs()


def test_coarse_path_matches_per_voxel_eigh_2d() -> None:
    n, c = 128, 8
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    rho = shepp_logan(n) * np.exp(1j * (0.8 * x + 0.5 * y))
    true = birdcage_sensitivities(c, (n, n))
    calib = calibration_data(
        simulate_cartesian(rho, true, readout_oversampling=1, noise_std=2e-3, seed=3), device="cpu"
    )[0]
    (lf, vf), (le, ve) = _both(calib, (1, n, n), 6, 0.02, 0.95)
    kept = le[0] >= 0.95
    sim = _similarity(vf[0], ve[0])
    # measured: mask identical, eigenvalue error 9e-6, similarity mean 0.9999999 (min 0.99992)
    assert torch.equal(lf[0] >= 0.95, kept) and int(kept.sum()) > 0.5 * n * n
    assert float((lf[0] - le[0])[kept].abs().max()) < 1e-3
    assert float(sim[kept].mean()) > 0.9999
    # end to end: unit-norm maps, the true sensitivities (measured 0.99999), phase referenced
    maps = espirit_maps(calib, (n, n))
    assert maps.shape == (1, c, n, n)
    inside = ndimage.binary_erosion(np.abs(rho) > 0, iterations=2)
    assert map_similarity(maps[0].numpy(), true, inside) > 0.9995
    norm = maps[0].abs().pow(2).sum(0).sqrt()
    assert torch.allclose(norm[norm > 0], torch.ones(()), atol=1e-4)
    k = _coefficients(_signal_kernels(calib, (1, 6, 6), 0.02))
    p = torch.einsum("c,cyx->yx", _reference(k)[:, 0].conj(), maps[0])[norm > 0]
    assert float(p.imag.abs().max()) < 1e-4 and float(p.real.min()) > 0


def test_coarse_path_3d() -> None:
    n, c = 32, 8
    rho = shepp_logan_3d(n)
    true = birdcage_sensitivities(c, (n, n, n), n_rings=2)
    calib = _block(true * rho, 12)
    (lf, vf), (le, ve) = _both(calib, (n, n, n), 3, 0.02, 0.9)
    kept = le[0] >= 0.9
    # measured: mask identical, similarity to the per-voxel eigh 0.9999998 (min 0.99997)
    assert int(((lf[0] >= 0.9) != kept).sum()) <= 1e-3 * kept.numel()
    assert float(_similarity(vf[0], ve[0])[kept].mean()) > 0.9999
    maps = espirit_maps(calib, (n, n, n), kernel_size=3, crop=0.9)
    inside = ndimage.binary_erosion(np.abs(rho) > 0, iterations=2)
    # measured 0.99994, as the per-voxel eigh (3³ kernel on a noise-free 12³ block)
    assert map_similarity(maps[0].numpy(), true, inside) > 0.999


@pytest.fixture(scope="module")
def aliased() -> torch.Tensor:
    """Calibration block (24²) of a 128² object folded into an 80-row FOV, 8 coils."""
    n, fov, c = 128, 80, 8
    rho = shepp_logan(n).astype(np.complex64)
    coil = birdcage_sensitivities(c, (n, n)) * rho
    folded = coil[:, :fov].copy()
    folded[:, : n - fov] += coil[:, fov:]
    return _block(folded[:, None], 24)


def test_aliased_object_one_set(aliased: torch.Tensor) -> None:
    # two eigenvalues ≈ 1 where the object aliases, the eigenvector is not unique there; the
    # coarse path's must lie in the top-2 eigenspace
    (lf, vf), (le, ve) = _both(aliased, (1, 80, 128), 6, 0.005, 0.95)
    kept = le[0] >= 0.95
    unique = kept & (le[1] < 0.9 * le[0])
    span = torch.sqrt(_similarity(vf[0], ve[0]) ** 2 + _similarity(vf[0], ve[1]) ** 2)
    # measured: 3,231 of 8,211 kept voxels near-degenerate; in span to 1 - 7e-7; elsewhere 1.0
    assert torch.equal(lf[0] >= 0.95, kept)
    assert int((kept & ~unique).sum()) > 1000
    assert float(span[kept].min()) > 0.9999
    assert float(_similarity(vf[0], ve[0])[unique].mean()) > 0.9999


def test_aliased_object_two_sets(aliased: torch.Tensor) -> None:
    # subspace iteration: where both sets are kept they span the exact top-2 eigenspace (the
    # split between the sets is arbitrary where λ₁ ≈ λ₂); elsewhere set 1 is the eigenvector
    (lf, vf), (le, ve) = _both(aliased, (1, 80, 128), 6, 0.005, 0.95, n_maps=2)
    assert lf.shape == (2, 80 * 128) and vf.shape == (2, 8, 80 * 128)
    kept = le >= 0.95
    assert torch.equal(lf >= 0.95, kept) and int(kept[1].sum()) > 2000
    assert float((lf - le)[kept].abs().max()) < 1e-3
    both = kept[1]
    for m in range(2):
        captured = torch.sqrt(_similarity(vf[0], ve[m]) ** 2 + _similarity(vf[1], ve[m]) ** 2)
        # measured: min 0.999999 over 2,824 voxels
        assert float(captured[both].min()) > 0.9999
    only_first = kept[0] & ~both
    # measured: 1.0000000 over 5,386 voxels
    assert float(_similarity(vf[0], ve[0])[only_first].mean()) > 0.9999
    # orthonormal sets
    gram = torch.einsum("mcv,ncv->vmn", vf.conj(), vf)
    assert torch.allclose(gram, torch.eye(2, dtype=gram.dtype).expand_as(gram), atol=1e-4)


@pytest.mark.parametrize(
    ("zyx", "points", "m"), [((1, 40, 56), (1, 10, 14), (1, 5, 7)), ((12, 10, 8), (4, 5, 8), (3, 5, 7))]
)
def test_g_in_row_blocks(
    zyx: tuple[int, int, int],
    points: tuple[int, int, int],
    m: tuple[int, int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # G(r) = Σ_d C_d exp(2πi d·(r - n//2)/n) in small row blocks, on the image grid and on a
    # coarse grid at r = j n / points, against the sum written out in numpy (2D and 3D)
    monkeypatch.setattr(fast, "_BLOCK_VALUES", 50)
    rng = np.random.default_rng(0)
    coeff = rng.standard_normal((3, 3, *m)) + 1j * rng.standard_normal((3, 3, *m))
    for pts in (zyx, points):
        grid = fast._Grid(torch.from_numpy(coeff.astype(np.complex64)), zyx, pts)
        blocks = grid.blocks(9)
        assert len(blocks) > 2 and blocks[-1][0].stop == math.prod(pts)
        got = torch.cat([grid.g(z, y0, y1) for _, z, y0, y1 in blocks]).reshape(*pts, 3, 3).numpy()
        e = []
        for n, k, p in zip(zyx, m, pts, strict=True):
            d = np.where(np.arange(k) <= (k - 1) / 2, np.arange(k), np.arange(k) - k)
            r = np.arange(p) * n / p - n // 2
            e.append(np.exp(2j * np.pi * np.outer(r, d) / n))
        want = np.einsum("abfgh,zf,yg,xh->zyxab", coeff, *e)
        assert np.abs(got - want).max() < 1e-5 * np.abs(want).max()


def test_coarse_shape() -> None:
    # 4 points per Fourier coefficient where that leaves ≥ 4× fewer voxels, else 3 or 2, else none
    assert fast.coarse_shape((1, 256, 256), (1, 11, 11)) == (1, 44, 44)
    assert fast.coarse_shape((1, 96, 192), (1, 11, 11)) == (1, 44, 44)
    assert fast.coarse_shape((64, 64, 64), (11, 11, 11)) == (33, 33, 33)
    assert fast.coarse_shape((32, 32, 32), (7, 7, 7)) == (14, 14, 14)
    assert fast.coarse_shape((1, 48, 48), (1, 11, 11)) == (1, 22, 22)
    assert fast.coarse_shape((1, 40, 40), (1, 11, 11)) is None


def test_interpolation_matrix() -> None:
    dev = torch.device("cpu")
    # periodic cubic interpolation: identity on the same grid, partition of unity, and a smooth
    # periodic profile sampled 4× coarser (8 and 16 points per period) to 1e-2 (measured 3.7e-3)
    assert torch.equal(fast._interpolation_matrix(16, 16, dev), torch.eye(16, dtype=torch.complex64))
    lmat = fast._interpolation_matrix(64, 16, dev)
    assert torch.allclose(lmat.sum(1), torch.ones(64, dtype=torch.complex64))
    t = torch.arange(64, dtype=torch.float64) / 64
    f = torch.exp(2j * math.pi * t) + 0.3 * torch.exp(-4j * math.pi * t)
    err = (lmat @ f[::4].to(torch.complex64) - f.to(torch.complex64)).abs().max()
    assert float(err) < 1e-2


def test_useless_start_falls_back_to_the_exact_eigh() -> None:
    # a zero reference makes every start vector 0: the safety net must then run the per-voxel
    # eigh wherever the interpolated coarse eigenvalue may reach the crop, giving its result
    n, c = 96, 4
    rho = shepp_logan(n)
    calib = _block((birdcage_sensitivities(c, (n, n)) * rho)[:, None], 20)
    coeff = _coefficients(_signal_kernels(calib, (1, 5, 5), 0.02))
    lf, vf = fast.coarse_eigen(coeff, (1, n, n), torch.zeros(c, 1, dtype=torch.complex64), 0.95)
    le, ve = fast.exact_eigen(coeff, (1, n, n), 1)
    kept = le[0] >= 0.95
    assert torch.equal(lf[0] >= 0.95, kept) and int(kept.sum()) > 0.4 * n * n
    assert torch.allclose(lf[0][kept], le[0][kept], atol=1e-5)
    assert float(_similarity(vf[0], ve[0])[kept].min()) > 0.9999


def test_small_image_takes_the_per_voxel_eigh(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40² with a 6-sample kernel has no coarse grid with 4× fewer voxels: exact eigh, true maps
    import recon_engine.calibration.espirit as espirit_module

    def no_coarse(*args: object) -> None:
        raise AssertionError("the coarse path ran")

    monkeypatch.setattr(espirit_module, "coarse_eigen", no_coarse)
    n, c = 40, 4
    rho = shepp_logan(n)
    true = birdcage_sensitivities(c, (n, n))
    maps = espirit_maps(_block((true * rho)[:, None], 20), (n, n), n_maps=2)
    assert maps.shape == (2, c, n, n)
    inside = ndimage.binary_erosion(np.abs(rho) > 0, iterations=2)
    # measured 0.99999
    assert map_similarity(maps[0].numpy(), true, inside) > 0.999
