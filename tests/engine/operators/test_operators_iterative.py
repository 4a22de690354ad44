"""Operators of the iterative reconstructions: coils, sampling, finite differences, wavelets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recon_engine.errors import DataError, ParameterError
from recon_engine.operators import FFTOp
from recon_engine.operators.coils import SensitivityOp
from recon_engine.operators.finite_difference import FiniteDifferenceOp
from recon_engine.operators.sampling import CartesianSamplingOp
from recon_engine.operators.wavelet import WAVELETS, WaveletOp
from tests.helpers import check_linear_operator, random_complex


def _maps(shape: tuple[int, ...], seed: int = 3) -> torch.Tensor:
    return random_complex(shape, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("maps_shape", "domain", "range_"),
    [
        ((1, 4, 1, 6, 5), (1, 1, 6, 5), (4, 1, 6, 5)),
        ((2, 4, 1, 6, 5), (3, 2, 1, 6, 5), (3, 4, 1, 6, 5)),
        ((3, 2, 4, 2, 3, 5), (3, 2, 2, 3, 5), (3, 4, 2, 3, 5)),  # one map set per frame
    ],
)
def test_sensitivity_operator(
    maps_shape: tuple[int, ...], domain: tuple[int, ...], range_: tuple[int, ...]
) -> None:
    check_linear_operator(SensitivityOp(_maps(maps_shape)), domain, range_)


def test_sensitivity_operator_combines_with_conjugate_maps() -> None:
    maps = _maps((1, 3, 1, 2, 2))
    y = torch.ones(3, 1, 2, 2, dtype=torch.complex64)
    got = SensitivityOp(maps).adjoint(y)[0].numpy()
    # a complex64 sum of 3 terms in any order: error ≤ 3·eps·Σ|term| (not relative to the sum,
    # which may cancel)
    bound = 3 * np.finfo(np.float32).eps * np.abs(maps[0].numpy()).sum(0)
    assert np.all(np.abs(got - maps[0].conj().sum(0).numpy()) <= bound)


def test_sensitivity_operator_shape_errors() -> None:
    with pytest.raises(DataError, match=r"\(n_maps, coils, z, y, x\)"):
        SensitivityOp(_maps((4, 6, 5)))
    op = SensitivityOp(_maps((1, 4, 1, 6, 5)))
    with pytest.raises(DataError, match="does not fit coil maps"):
        op(torch.zeros(1, 1, 6, 6, dtype=torch.complex64))
    with pytest.raises(DataError, match="does not fit coil maps"):
        op.adjoint(torch.zeros(3, 1, 6, 5, dtype=torch.complex64))


def test_sampling_operator() -> None:
    mask = torch.tensor([True, False, True, True, False, False])[None, :, None]
    op = CartesianSamplingOp(mask)
    check_linear_operator(op, (2, 4, 1, 6, 5), (2, 4, 1, 6, 5))
    k = torch.ones(4, 1, 6, 5, dtype=torch.complex64)
    assert float(op(k).abs().sum()) == 4 * 3 * 5
    assert torch.equal(op(op(k)), op(k))  # a projection
    with pytest.raises(DataError, match="does not broadcast"):
        op(torch.ones(4, 1, 7, 5, dtype=torch.complex64))


def test_sense_encoding_composes() -> None:
    maps = _maps((1, 4, 1, 8, 6))
    mask = (torch.arange(8) % 2 == 0)[None, :, None]
    a = CartesianSamplingOp(mask) @ FFTOp(2) @ SensitivityOp(maps)
    check_linear_operator(a, (1, 1, 8, 6), (4, 1, 8, 6))


@pytest.mark.parametrize(
    ("dims", "shape"),
    [((-2, -1), (2, 1, 7, 6)), ((-3, -2, -1), (1, 4, 5, 6)), ((0,), (3, 1, 1, 4, 5)), ((0, -1), (3, 2, 5))],
)
def test_finite_difference_operator(dims: tuple[int, ...], shape: tuple[int, ...]) -> None:
    check_linear_operator(FiniteDifferenceOp(dims), shape, (len(dims), *shape))


def test_finite_differences_of_a_ramp_and_the_boundary() -> None:
    x = torch.arange(5, dtype=torch.float32)[None, :].expand(3, 5).to(torch.complex64)
    d = FiniteDifferenceOp((-2, -1), weights=(1.0, 2.0))(x)
    assert d.shape == (2, 3, 5)
    assert float(d[0].abs().max()) == 0.0  # constant along y
    np.testing.assert_allclose(d[1].real.numpy(), np.array([[2, 2, 2, 2, 0]] * 3))  # Neumann: 0 at the edge
    assert float(FiniteDifferenceOp((-1,))(torch.ones(2, 1)).abs().max()) == 0.0  # length-1 axis


def test_finite_difference_errors() -> None:
    with pytest.raises(ParameterError, match="distinct"):
        FiniteDifferenceOp((-1, -1))
    with pytest.raises(ParameterError, match="weights"):
        FiniteDifferenceOp((-2, -1), weights=(1.0,))
    with pytest.raises(ParameterError, match="directions"):
        FiniteDifferenceOp((-2, -1)).adjoint(torch.zeros(3, 4, 4))


@pytest.mark.parametrize("name", ["db1", "db2", "db3", "db4"])
def test_daubechies_filters_are_orthonormal_with_vanishing_moments(name: str) -> None:
    h = np.asarray(WAVELETS[name])
    n = h.size
    assert h.sum() == pytest.approx(math.sqrt(2), abs=1e-12)
    for m in range(n // 2):
        assert float(h[: n - 2 * m] @ h[2 * m :]) == pytest.approx(1.0 if m == 0 else 0.0, abs=1e-10)
    g = np.array([(-1) ** j * h[n - 1 - j] for j in range(n)])
    for p in range(n // 2):  # db(N) has N vanishing moments
        assert float(g @ np.arange(n) ** p) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("shape", "wavelet", "levels", "domain", "range_"),
    [
        ((16, 16), "db4", None, (2, 16, 16), (2, 16, 16)),
        ((1, 30, 20), "db2", 2, (3, 1, 30, 20), (3, 1, 32, 20)),  # padded to 2^levels
        ((8, 16, 12), "haar", 2, (8, 16, 12), (8, 16, 12)),
    ],
)
def test_wavelet_operator(
    shape: tuple[int, ...], wavelet: str, levels: int | None, domain: tuple[int, ...], range_: tuple[int, ...]
) -> None:
    op = WaveletOp(shape, wavelet=wavelet, levels=levels)
    assert op.padded == range_[-len(shape) :]
    check_linear_operator(op, domain, range_)
    x = random_complex(domain, torch.Generator().manual_seed(5))
    torch.testing.assert_close(op.adjoint(op(x)), x, atol=2e-5, rtol=0)  # WᴴW = I
    if op.padded == tuple(shape):
        c = random_complex(range_, torch.Generator().manual_seed(6))
        torch.testing.assert_close(op(op.adjoint(c)), c, atol=2e-5, rtol=0)  # orthonormal


def test_haar_of_a_constant_is_one_coefficient() -> None:
    c = WaveletOp((8, 8), wavelet="haar", levels=3)(torch.ones(8, 8))
    assert float(c[0, 0]) == pytest.approx(8.0)
    assert float(c.abs().sum()) == pytest.approx(8.0)


def test_wavelet_default_levels_and_errors() -> None:
    assert WaveletOp((1, 64, 64)).levels == 4
    assert WaveletOp((1, 12, 64)).levels == 1
    with pytest.raises(ParameterError, match="unknown wavelet"):
        WaveletOp((8, 8), wavelet="sym8")
    with pytest.raises(ParameterError, match="nothing to transform"):
        WaveletOp((1, 1))
    with pytest.raises(ParameterError, match="does not end in"):
        WaveletOp((8, 8))(torch.zeros(8, 9))
