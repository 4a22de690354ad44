"""Dictionary matching (exact and SVD-compressed), variable projection search, MRF end to end.

Thresholds: exact and compressed (99.99 % energy) matching pick the same atom for ≥ 99 % of
noisy voxels; noiseless signals built from atoms are matched to that atom (100 %) with M0 to
1e-4; complex signals with a random phase are matched like real ones; the MRF fit of a
phantom whose T1/T2 lie on the dictionary grid recovers them exactly for ≥ 98 % of voxels at
SNR 200 (relative to the fingerprint's RMS).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon_engine.errors import DataError, ParameterError
from recon_engine.qmri import fit
from recon_engine.qmri.mrf import mrf_dictionary
from recon_engine.solvers.dictionary import match_dictionary, svd_compress, variable_projection_search

FA = 10 + 50 * np.abs(np.sin(np.arange(100) / 15.0))
TR = 10.0


@pytest.fixture(scope="module")
def dictionary() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return mrf_dictionary(
        FA, TR, inversion_time=20.0, t1_grid=np.geomspace(100, 3000, 24), t2_grid=np.geomspace(10, 1000, 20)
    )


def test_noiseless_atoms_match_themselves(dictionary: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    """Scaled atoms are matched to themselves with their scale (exact and compressed)."""
    atoms, params = dictionary
    rng = np.random.default_rng(0)
    pick = rng.choice(atoms.shape[0], 200, replace=False)
    scale = rng.uniform(0.5, 2.0, 200).astype(np.float32)
    sig = atoms[pick] * scale[:, None]
    for energy in (None, 0.99999):
        res = match_dictionary(sig, atoms, params, energy=energy, device="cpu")
        assert np.mean(res.index == pick) == 1.0
        np.testing.assert_allclose(res.m0, scale, rtol=1e-4 if energy is None else 2e-3)
        np.testing.assert_allclose(res.parameters["t1"], params["t1"][pick])
        assert res.correlation.min() > 0.999


def test_exact_and_compressed_agree(
    dictionary: tuple[np.ndarray, dict[str, np.ndarray]], rng: np.random.Generator
) -> None:
    """Noisy signals (SNR 30 relative to RMS): compressed and exact matches agree on ≥ 99 %."""
    atoms, params = dictionary
    pick = rng.choice(atoms.shape[0], 3000)
    clean = atoms[pick]
    rms = np.sqrt(np.mean(clean**2, axis=1, keepdims=True))
    sig = (clean + rng.normal(0, 1, clean.shape) * rms / 30).astype(np.float32)
    exact = match_dictionary(sig, atoms, params, rank=None, energy=None, device="cpu")
    comp = match_dictionary(sig, atoms, params, energy=0.9999, device="cpu")
    assert comp.rank < 40 < exact.rank == FA.size
    assert np.mean(comp.index == exact.index) >= 0.99
    assert np.mean(exact.index == pick) > 0.5  # and the noise is not trivial


def test_clustered_search_agrees_with_exact(rng: np.random.Generator) -> None:
    """Clustered (inverted-file) search of a 2,000-atom EPG dictionary: same atom as the exact
    search for ≥ 99 % of 4,000 noisy voxels (SNR 50), real and complex signals."""
    atoms, params = mrf_dictionary(
        FA, TR, inversion_time=20.0, t1_grid=np.geomspace(100, 4000, 50), t2_grid=np.geomspace(5, 2000, 50)
    )
    assert atoms.shape[0] > 1500
    pick = rng.choice(atoms.shape[0], 4000)
    rms = np.sqrt(np.mean(atoms[pick] ** 2, axis=1, keepdims=True))
    sig = (atoms[pick] + rng.normal(0, 1, (4000, FA.size)) * rms / 50).astype(np.float32)
    exact = match_dictionary(sig, atoms, params, search="exact", device="cpu")
    fast = match_dictionary(sig, atoms, params, search="clustered", device="cpu")
    assert np.mean(fast.index == exact.index) >= 0.99
    phase = np.exp(1j * rng.uniform(-np.pi, np.pi, (4000, 1)))
    fast_c = match_dictionary(
        (sig * phase).astype(np.complex64), atoms, params, search="clustered", device="cpu"
    )
    assert np.mean(fast_c.index == exact.index) >= 0.99
    with pytest.raises(ParameterError, match="search"):
        match_dictionary(sig, atoms, params, search="fast")


def test_complex_dictionary_clustered(rng: np.random.Generator) -> None:
    """Complex random low-rank dictionary (the benchmark's kind, 4,096 atoms × 200 frames) and
    complex signals with random phases: clustered and exact search agree on ≥ 99 % of 6,000
    voxels, and both find the generating atom with its complex scale."""
    t = np.linspace(0.0, 1.0, 200)
    k = np.arange(1, 9)
    coef = rng.standard_normal((4096, 8, 2)) / k[None, :, None]
    atoms = (coef[..., 0] + 1j * coef[..., 1]) @ np.cos(np.pi * k[:, None] * t[None, :])
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    truth = rng.integers(0, 4096, 6000)
    scale = rng.uniform(0.5, 2.0, 6000) * np.exp(1j * rng.uniform(-np.pi, np.pi, 6000))
    noise = rng.standard_normal((6000, 200)) + 1j * rng.standard_normal((6000, 200))
    sig = (scale[:, None] * atoms[truth] + 0.01 / np.sqrt(400) * noise).astype(np.complex64)
    params = {"atom": np.arange(4096, dtype=np.float32)}
    exact = match_dictionary(sig, atoms.astype(np.complex64), params, search="exact", device="cpu")
    fast = match_dictionary(sig, atoms.astype(np.complex64), params, device="cpu")  # auto → clustered
    assert np.mean(fast.index == exact.index) >= 0.99
    assert np.mean(exact.index == truth) >= 0.99
    ok = fast.index == truth
    np.testing.assert_allclose(fast.m0[ok], scale[ok], rtol=5e-3, atol=5e-3)


def test_complex_signals_and_spatial_layout(dictionary: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    """(n_frames, y, x) complex signals with a phase: same atoms, complex M0 with that phase."""
    atoms, params = dictionary
    pick = np.arange(0, 24 * 3, 3)[:24].reshape(4, 6)
    sig = np.moveaxis(atoms[pick], -1, 0) * (2.0 * np.exp(1j * 0.6))
    res = match_dictionary(sig.astype(np.complex64), atoms, params, device="cpu")
    assert res.index.shape == (4, 6)
    np.testing.assert_array_equal(res.index, pick)
    np.testing.assert_allclose(np.abs(res.m0), 2.0, rtol=2e-3)
    np.testing.assert_allclose(np.angle(res.m0), 0.6, atol=2e-3)


def test_svd_compress_energy() -> None:
    """The kept subspace reaches the requested energy with the fewest vectors."""
    d = torch.randn(300, 40, dtype=torch.float64) @ torch.diag(torch.logspace(0, -3, 40, dtype=torch.float64))
    v = svd_compress(d, energy=0.999)
    kept = torch.linalg.matrix_norm(d @ v) ** 2 / torch.linalg.matrix_norm(d) ** 2
    v_less = svd_compress(d, rank=v.shape[1] - 1)
    assert kept >= 0.999 > torch.linalg.matrix_norm(d @ v_less) ** 2 / torch.linalg.matrix_norm(d) ** 2
    with pytest.raises(ParameterError):
        svd_compress(d, rank=0)


def test_variable_projection_search_is_brute_force_optimum(rng: np.random.Generator) -> None:
    """For s ≈ B_g c, the search returns the grid point and c of the smallest LS residual."""
    x = torch.linspace(10, 1000, 9, dtype=torch.float64)
    t1 = torch.logspace(1, 3.5, 40, dtype=torch.float64)
    bases = torch.stack((torch.ones(40, 9, dtype=torch.float64), -torch.exp(-x / t1[:, None])), -1)
    y = torch.as_tensor(rng.normal(size=(50, 9)))
    idx, coef, cost = variable_projection_search(y, bases)
    sol = torch.linalg.lstsq(bases[None], y[:, None, :, None]).solution  # (50, 40, 2, 1)
    res = ((bases[None] @ sol)[..., 0] - y[:, None]).square().sum(-1)
    torch.testing.assert_close(idx, res.argmin(1))
    torch.testing.assert_close(cost, res.min(1).values, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(coef, sol[torch.arange(50), idx, :, 0], rtol=1e-6, atol=1e-8)


def test_mrf_fit_recovers_grid_maps(rng: np.random.Generator) -> None:
    """fit(model="mrf"): T1/T2 on the dictionary grid recovered for ≥ 98 % of voxels at SNR 200."""
    t1g, t2g = np.geomspace(200, 2500, 12), np.geomspace(20, 500, 10)
    i1, i2 = rng.integers(0, 12, (16, 16)), rng.integers(0, 10, (16, 16))
    t1, t2 = t1g[i1], t2g[i2]
    t2 = np.minimum(t2, t1 * 0.5)
    t2 = t2g[np.abs(t2g[None, None] - t2[..., None]).argmin(-1)]
    atoms, params = mrf_dictionary(FA, TR, inversion_time=20.0, t1_grid=t1g, t2_grid=t2g)
    lut = {(a, b): i for i, (a, b) in enumerate(zip(params["t1"], params["t2"], strict=True))}
    idx = np.vectorize(lambda a, b: lut[(np.float32(a), np.float32(b))])(t1, t2)
    sig = np.moveaxis(atoms[idx], -1, 0) * 3.0
    sig = sig + rng.normal(0, 3.0 * np.sqrt(np.mean(atoms**2)) / 200, sig.shape)
    res = fit(sig.astype(np.float32), "mrf", flip_angles=FA, tr=TR, inversion_time=20.0,
              t1_grid=t1g, t2_grid=t2g, mask_threshold=None, device="cpu")  # fmt: skip
    assert (
        np.mean(np.isclose(res.maps["t1"], t1, rtol=1e-5) & np.isclose(res.maps["t2"], t2, rtol=1e-5)) >= 0.98
    )
    assert np.median(np.abs(res.maps["m0"] - 3.0)) < 0.05
    assert np.nanmin(res.maps["r2"]) > 0.9
    t, s = res.curve((3, 4))
    np.testing.assert_allclose(s, sig[:, 3, 4], atol=0.1)
    assert t.shape == (FA.size,)


def test_match_errors() -> None:
    """Shape mismatches give DataError."""
    d = np.ones((5, 10), np.float32)
    with pytest.raises(DataError, match="frames"):
        match_dictionary(np.ones((7, 3)), d, {"t1": np.arange(5.0)})
    with pytest.raises(DataError, match="parameter"):
        match_dictionary(np.ones((10, 3)), d, {"t1": np.arange(4.0)})
