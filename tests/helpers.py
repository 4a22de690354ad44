"""One property-test helper for all linear operators."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from recon_engine.operators.base import LinearOperator


def random_complex(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Seeded complex64 standard normal tensor."""
    re = torch.randn(*shape, generator=generator)
    im = torch.randn(*shape, generator=generator)
    return torch.complex(re, im)


def check_linear_operator(
    op: LinearOperator,
    domain_shape: Sequence[int],
    range_shape: Sequence[int],
    *,
    seed: int = 0,
    rtol: float = 1e-4,
) -> None:
    """Assert the adjoint dot-product test, linearity, gram = AᴴA and autograd through A."""
    g = torch.Generator().manual_seed(seed)
    x, x2 = random_complex(domain_shape, g), random_complex(domain_shape, g)
    y = random_complex(range_shape, g)
    ax = op(x)
    assert tuple(ax.shape) == tuple(range_shape)
    lhs = torch.vdot(ax.flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), op.adjoint(y).flatten())
    assert abs(lhs - rhs) <= rtol * abs(lhs), f"adjoint test failed: {lhs} vs {rhs}"
    a, b = 0.7 - 0.2j, -1.3 + 0.5j
    lin = op(a * x + b * x2) - (a * op(x) + b * op(x2))
    assert float(lin.abs().max()) <= rtol * float(ax.abs().max()) * 10, "not linear"
    gram = op.gram(x) - op.adjoint(op(x))
    assert float(gram.abs().max()) <= rtol * float(op.adjoint(ax).abs().max()) * 10, "gram != AᴴA"
    xr = x.clone().requires_grad_(True)
    loss = op(xr).abs().pow(2).sum()
    loss.backward()
    assert xr.grad is not None
    expected = 2 * op.adjoint(op(x))  # d/dx* |Ax|² (torch's conjugate Wirtinger convention)
    assert torch.allclose(xr.grad, expected, rtol=1e-3, atol=1e-3 * float(expected.abs().max()))
