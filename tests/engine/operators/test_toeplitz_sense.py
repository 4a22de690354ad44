"""Fused SENSE–Toeplitz normal operator against the composition ``Sᴴ (AᴴWA) S``.

Both compute the same sums in float32; they differ only in order (coil chunks vs one batch),
so they agree to float32 rounding: the tests ask for a relative ℓ2 difference < 1e-6
(measured ≈ 1e-7).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from recon_engine.errors import DataError
from recon_engine.operators.coils import SensitivityOp
from recon_engine.operators.toeplitz import ToeplitzNormalOp
from recon_engine.operators.toeplitz_sense import ToeplitzSenseOp
from tests.engine.operators.test_nufft import random_trajectory, rel
from tests.helpers import check_linear_operator, random_complex

#: fused vs composed, float32 rounding (measured ≈ 1e-7)
FUSED_RTOL = 1e-6


def composed(t: ToeplitzNormalOp, maps: torch.Tensor, x: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
    """``Sᴴ T S x`` (or ``Sᴴ Tᴴ S x``) from the separate operators."""
    s = SensitivityOp(maps)
    two_d = len(t.image_shape) == 2
    coil = s(x)
    y = (t.adjoint if adjoint else t.forward)(coil.squeeze(-3) if two_d else coil)
    return s.adjoint(y.unsqueeze(-3) if two_d else y)


def maps_like(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return random_complex(shape, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_2d_point_sets_two_map_sets_complex_weights(rng: np.random.Generator, chunk: int) -> None:
    """Per-frame trajectories and kernels, per-frame maps, n_maps = 2, 5 coils (chunks of 1-3)."""
    shape = (36, 32)
    traj = np.stack([random_trajectory(rng, 400, shape) for _ in range(2)])
    w = (rng.uniform(0.5, 1.5, (2, 400)) * np.exp(1j * rng.uniform(0, 1, (2, 400)))).astype(np.complex64)
    t = ToeplitzNormalOp(traj, shape, weights=w)
    maps = maps_like((2, 2, 5, 1, *shape), 1)
    op = ToeplitzSenseOp(t, maps, loop=True, chunk=chunk)
    x = random_complex((2, 2, 1, *shape), torch.Generator().manual_seed(2))
    assert op.loop and not t.hermitian
    first = op(x)
    assert rel(first, composed(t, maps, x)) < FUSED_RTOL
    assert rel(op.adjoint(x), composed(t, maps, x, adjoint=True)) < FUSED_RTOL
    assert rel(op.adjoint(x), first) > 1e-3  # complex weights: not Hermitian
    assert torch.equal(op(x), first)  # the reused buffers keep their zero padding
    y = random_complex(x.shape, torch.Generator().manual_seed(3))  # same buffers, new data
    assert rel(op(y), composed(t, maps, y)) < FUSED_RTOL


def test_3d_shared_trajectory_maps_per_frame(rng: np.random.Generator) -> None:
    """One trajectory, maps per frame broadcast over (frames, n_maps = 1), 3 coils, real weights."""
    shape = (6, 10, 8)
    traj = random_trajectory(rng, 600, shape)
    t = ToeplitzNormalOp(traj, shape, weights=rng.uniform(0.2, 2.0, 600).astype(np.float32))
    maps = maps_like((3, 1, 3, *shape), 3)
    x = random_complex((3, 1, *shape), torch.Generator().manual_seed(4))
    op = ToeplitzSenseOp(t, maps, loop=True)
    assert rel(op(x), composed(t, maps, x)) < FUSED_RTOL
    assert torch.equal(op.adjoint(x), op(x))  # real kernel: Hermitian
    shared = ToeplitzSenseOp(t, maps[:1], loop=True)  # one map set for every frame
    assert rel(shared(x), composed(t, maps[:1], x)) < FUSED_RTOL


def test_loop_equals_batched_and_passes_the_operator_checks(rng: np.random.Generator) -> None:
    """The two code paths agree; adjoint, linearity, gram and autograd (batched under autograd)."""
    shape = (24, 20)
    traj = random_trajectory(rng, 500, shape)
    t = ToeplitzNormalOp(traj, shape, weights=rng.uniform(0.2, 2.0, 500).astype(np.float32))
    maps = maps_like((1, 4, 1, *shape), 5)
    x = random_complex((1, 1, 1, *shape), torch.Generator().manual_seed(6))
    looped, batched = ToeplitzSenseOp(t, maps, loop=True), ToeplitzSenseOp(t, maps, loop=False)
    assert rel(looped(x), batched(x)) < FUSED_RTOL
    check_linear_operator(looped, (1, 1, 1, *shape), (1, 1, 1, *shape))
    with ThreadPoolExecutor(2) as pool:  # each thread has its own buffers
        results = list(pool.map(lambda _: looped(x), range(4)))
    assert all(torch.equal(r, results[0]) for r in results)
    assert rel(results[0], batched(x)) < FUSED_RTOL
    # the default picks the loop on the CPU only for grids worth it
    assert not ToeplitzSenseOp(t, maps).loop
    big = ToeplitzNormalOp(random_trajectory(rng, 50, (64, 64)), (64, 64))
    assert ToeplitzSenseOp(big, maps_like((1, 2, 1, 64, 64), 7)).loop


def test_shape_errors(rng: np.random.Generator) -> None:
    shape = (12, 10)
    t = ToeplitzNormalOp(random_trajectory(rng, 100, shape), shape)
    with pytest.raises(DataError, match="do not fit the Toeplitz image shape"):
        ToeplitzSenseOp(t, maps_like((1, 2, 1, 12, 12), 8))
    with pytest.raises(DataError, match="n_maps, coils"):
        ToeplitzSenseOp(t, maps_like((2, 12, 10), 8))
    op = ToeplitzSenseOp(t, maps_like((1, 2, 1, *shape), 8), loop=True)
    with pytest.raises(DataError, match="does not fit coil maps"):
        op(torch.zeros(1, 2, 1, *shape, dtype=torch.complex64))


@pytest.mark.cuda
def test_cuda_uses_the_batched_composition_and_matches_the_cpu(rng: np.random.Generator) -> None:
    """On CUDA the default is the batched path; it equals the CPU loop to the NUFFT tolerance."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    pytest.importorskip("cufinufft", reason="cufinufft not installed (pip install napari-mrrecon[gpu])")
    shape = (48, 40)
    traj = random_trajectory(rng, 900, shape)
    w = rng.uniform(0.2, 2.0, 900).astype(np.float32)
    maps = maps_like((1, 1, 4, 1, *shape), 9)
    x = random_complex((1, 1, 1, *shape), torch.Generator().manual_seed(10))
    cpu = ToeplitzSenseOp(ToeplitzNormalOp(traj, shape, weights=w), maps, loop=True)
    gpu = ToeplitzSenseOp(ToeplitzNormalOp(traj, shape, weights=w, device="cuda"), maps.cuda())
    assert not gpu.loop
    assert rel(gpu(x.cuda()).cpu(), cpu(x)) < 1e-3  # two NUFFT libraries' kernels (eps 1e-4)
