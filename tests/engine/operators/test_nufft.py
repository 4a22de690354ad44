"""NUFFT and Toeplitz normal operator: properties, accuracy against the NDFT, plan reuse, autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon_engine.errors import DataError, ParameterError
from recon_engine.metrics import nrmse
from recon_engine.operators.fft import centered_fft
from recon_engine.operators.nufft import NUFFTOp, ndft, ndft_adjoint
from recon_engine.operators.toeplitz import ToeplitzNormalOp
from tests.helpers import check_linear_operator, random_complex

#: measured NUFFT error against the NDFT at eps=1e-4, upsampfac=1.25: ≈ 1.2e-4
NDFT_RTOL = 3e-4


def random_trajectory(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    t = np.zeros((n, 3), dtype=np.float32)
    for d, m in enumerate(shape):
        t[:, 3 - len(shape) + d] = rng.uniform(-m / 2, m / 2, n)
    return t


def cartesian_trajectory(shape: tuple[int, ...]) -> np.ndarray:
    axes = [np.arange(n) - n // 2 for n in shape]
    g = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(shape))
    t = np.zeros((g.shape[0], 3), dtype=np.float32)
    t[:, 3 - len(shape) :] = g
    return t


def rel(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """NRMSE of two arrays or CPU tensors (:func:`recon_engine.metrics.nrmse`)."""
    return nrmse(np.asarray(a), np.asarray(b))


def test_nufft_2d_batched_properties(rng: np.random.Generator) -> None:
    op = NUFFTOp(random_trajectory(rng, 300, (16, 12)), (16, 12))
    check_linear_operator(op, (2, 3, 16, 12), (2, 3, 300))


def test_nufft_3d_with_point_sets_properties(rng: np.random.Generator) -> None:
    traj = np.stack([random_trajectory(rng, 200, (8, 10, 6)) for _ in range(2)])
    op = NUFFTOp(traj, (8, 10, 6))
    check_linear_operator(op, (2, 3, 8, 10, 6), (2, 3, 200))
    check_linear_operator(op, (2, 8, 10, 6), (2, 200))  # no batch axes


@pytest.mark.parametrize("shape", [(24, 20), (7, 9, 11)])
def test_nufft_matches_the_direct_ndft(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    traj = random_trajectory(rng, 400, shape)
    op = NUFFTOp(traj, shape)
    x = random_complex((2, *shape), torch.Generator().manual_seed(1))
    assert rel(op(x), ndft(x.numpy(), traj, len(shape))) < NDFT_RTOL
    y = random_complex((2, 400), torch.Generator().manual_seed(2))
    assert rel(op.adjoint(y), ndft_adjoint(y.numpy(), traj, shape)) < NDFT_RTOL


@pytest.mark.parametrize("shape", [(16, 12), (15, 9), (6, 8, 10), (5, 7, 9)])
def test_cartesian_trajectory_reproduces_the_centred_fft(shape: tuple[int, ...]) -> None:
    op = NUFFTOp(cartesian_trajectory(shape), shape)
    x = random_complex((2, *shape), torch.Generator().manual_seed(3))
    k = op(x).reshape(2, *shape)
    assert rel(k, centered_fft(x, len(shape))) < NDFT_RTOL
    assert rel(op.adjoint(k.reshape(2, -1)), x) < NDFT_RTOL  # unitary on the full grid


def test_plans_are_created_once_per_batch_size(rng: np.random.Generator) -> None:
    op = NUFFTOp(random_trajectory(rng, 100, (16, 16)), (16, 16))
    x = torch.ones(4, 16, 16, dtype=torch.complex64)
    y = op(x)
    op(x)
    op.adjoint(y)
    assert op.plans_created == 1
    op(x[:2])
    op(x)
    assert op.plans_created == 2


def test_autograd_gradients_are_the_adjoints(rng: np.random.Generator) -> None:
    op = NUFFTOp(random_trajectory(rng, 150, (12, 12)), (12, 12))
    g = torch.Generator().manual_seed(4)
    x, y = random_complex((2, 12, 12), g), random_complex((2, 150), g)
    xr = x.clone().requires_grad_(True)
    torch.vdot(y.flatten(), op(xr).flatten()).real.backward()
    assert xr.grad is not None
    torch.testing.assert_close(xr.grad, op.adjoint(y), rtol=1e-4, atol=1e-5)
    yr = y.clone().requires_grad_(True)
    torch.vdot(x.flatten(), op.adjoint(yr).flatten()).real.backward()
    assert yr.grad is not None
    torch.testing.assert_close(yr.grad, op(x), rtol=1e-4, atol=1e-5)
    # real input (e.g. a magnitude image) gets a real gradient
    m = torch.rand(12, 12, requires_grad=True)
    op(m).abs().pow(2).sum().backward()
    assert m.grad is not None and m.grad.dtype == torch.float32


def test_bad_trajectories_and_inputs() -> None:
    good = np.zeros((10, 3), dtype=np.float32)
    with pytest.raises(DataError, match="NaN"):
        NUFFTOp(np.full((10, 3), np.nan, dtype=np.float32), (8, 8))
    outside = good.copy()
    outside[0, 2] = 5.0
    with pytest.raises(DataError, match=r"beyond ±4.*cycles per recon FOV"):
        NUFFTOp(outside, (8, 8))
    with pytest.raises(DataError, match=r"\(\.\.\., 3\)"):
        NUFFTOp(np.zeros((10, 2), dtype=np.float32), (8, 8))
    with pytest.raises(ParameterError, match="image shape"):
        NUFFTOp(good, (8,))
    op = NUFFTOp(good, (8, 8))
    with pytest.raises(ParameterError, match="does not match"):
        op(torch.zeros(2, 8, 6, dtype=torch.complex64))
    with pytest.raises(ParameterError, match="does not match"):
        op.adjoint(torch.zeros(2, 9, dtype=torch.complex64))


@pytest.mark.parametrize("shape", [(20, 16), (6, 8, 10)])
def test_toeplitz_equals_the_nufft_normal_operator(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    traj = random_trajectory(rng, 500, shape)
    w = rng.uniform(0.2, 2.0, 500).astype(np.float32)
    a = NUFFTOp(traj, shape)
    x = random_complex((3, *shape), torch.Generator().manual_seed(5))
    for weights in (None, w):
        t = ToeplitzNormalOp(traj, shape, weights=weights)
        wt = torch.ones(500) if weights is None else torch.from_numpy(weights)
        assert rel(t(x), a.adjoint(wt * a(x))) < 1e-3
    check_linear_operator(ToeplitzNormalOp(traj, shape, weights=w), (3, *shape), (3, *shape))


def test_toeplitz_with_point_sets_and_complex_weights(rng: np.random.Generator) -> None:
    traj = np.stack([random_trajectory(rng, 300, (12, 10)) for _ in range(2)])
    w = (rng.uniform(0.5, 1.5, (2, 300)) * np.exp(1j * rng.uniform(0, 1, (2, 300)))).astype(np.complex64)
    a = NUFFTOp(traj, (12, 10))
    t = ToeplitzNormalOp(traj, (12, 10), weights=w)
    x = random_complex((2, 4, 12, 10), torch.Generator().manual_seed(6))
    assert rel(t(x), a.adjoint(torch.from_numpy(w)[:, None] * a(x))) < 1e-3
    check_linear_operator(t, (2, 4, 12, 10), (2, 4, 12, 10))
    with pytest.raises(ParameterError, match="broadcast"):
        ToeplitzNormalOp(traj, (12, 10), weights=np.ones(7))


@pytest.mark.cuda
def test_cuda_nufft_matches_cpu(rng: np.random.Generator) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    pytest.importorskip("cufinufft", reason="cufinufft not installed (pip install napari-mrrecon[gpu])")
    for shape in ((32, 24), (8, 12, 10)):
        traj = random_trajectory(rng, 700, shape)
        cpu, gpu = NUFFTOp(traj, shape), NUFFTOp(traj, shape, device="cuda")
        x = random_complex((3, *shape), torch.Generator().manual_seed(7))
        assert rel(gpu(x.cuda()).cpu(), cpu(x)) < 5e-4
        y = cpu(x)
        assert rel(gpu.adjoint(y.cuda()).cpu(), cpu.adjoint(y)) < 5e-4
        assert rel(gpu(x.cuda()).cpu(), ndft(x.numpy(), traj, len(shape))) < NDFT_RTOL
        assert gpu.plans_created == 1
        xr = x.cuda().requires_grad_(True)
        gpu(xr).abs().pow(2).sum().backward()
        assert xr.grad is not None
        t = ToeplitzNormalOp(traj, shape, device="cuda")
        assert rel(t(x.cuda()).cpu(), cpu.adjoint(cpu(x))) < 1e-3
