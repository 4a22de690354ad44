"""The fused Cartesian SENSE normal operator equals the composed gram ``(M F S)ᴴ(M F S)``."""

from __future__ import annotations

import pytest
import torch

from recon_engine.operators.cartesian_normal import CartesianNormalOp
from recon_engine.operators.coils import SensitivityOp
from recon_engine.operators.fft import FFTOp
from recon_engine.operators.sampling import CartesianSamplingOp


@pytest.mark.parametrize(("shape", "ndim"), [((1, 24, 20), 2), ((6, 8, 10), 3), ((1, 25, 21), 2)])
def test_fused_cartesian_normal_equals_composed_gram(shape: tuple[int, int, int], ndim: int) -> None:
    """CartesianNormalOp = (M F S)ᴴ(M F S) to float32 rounding (rel. diff < 1e-5), odd sizes too."""
    g = torch.Generator().manual_seed(3)
    maps = torch.randn(1, 2, 4, *shape, dtype=torch.complex64, generator=g)  # two sets of maps
    mask = torch.rand(1, 1, shape[0], shape[1], 1, generator=g) > 0.5
    composed = (CartesianSamplingOp(mask) @ FFTOp(ndim) @ SensitivityOp(maps)).gram
    fused = CartesianNormalOp(maps, mask, ndim)
    x = torch.randn(1, 2, *shape, dtype=torch.complex64, generator=g)
    a, b = composed(x), fused(x)
    assert float((a - b).norm() / a.norm()) < 1e-5
    one = CartesianNormalOp(maps[:, :1], mask, ndim)  # one set: the no-sum branch
    ref = (CartesianSamplingOp(mask) @ FFTOp(ndim) @ SensitivityOp(maps[:, :1])).gram(x[:, :1])
    assert float((one(x[:, :1]) - ref).norm() / ref.norm()) < 1e-5


@pytest.mark.parametrize(("shape", "ndim", "coil_mask"), [((1, 24, 20), 2, False), ((6, 8, 10), 3, True)])
def test_fused_cartesian_normal_coil_loop_equals_composed_gram(
    shape: tuple[int, int, int], ndim: int, coil_mask: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CPU coil-chunk loop (forced by MIN_LOOP_VOXELS = 1; 5 coils, so a partial last chunk;
    one and two map sets; a per-coil mask) = (M F S)ᴴ(M F S) to float32 rounding (< 1e-5)."""
    from recon_engine.operators import cartesian_normal

    monkeypatch.setattr(cartesian_normal, "MIN_LOOP_VOXELS", 1)
    g = torch.Generator().manual_seed(4)
    maps = torch.randn(1, 2, 5, *shape, dtype=torch.complex64, generator=g)
    mask = torch.rand(1, 5 if coil_mask else 1, shape[0], shape[1], 1, generator=g) > 0.5
    x = torch.randn(1, 2, *shape, dtype=torch.complex64, generator=g)
    for sets in (maps, maps[:, :1]):
        op = CartesianNormalOp(sets, mask, ndim)
        assert op._loops(x)
        xs = x[:, : sets.shape[1]]
        ref = (CartesianSamplingOp(mask) @ FFTOp(ndim) @ SensitivityOp(sets)).gram(xs)
        assert float((op(xs) - ref).norm() / ref.norm()) < 1e-5
