"""Batched Levenberg–Marquardt: agrees with scipy on independent problems, honours bounds, small solves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares

from recon_engine.progress import run
from recon_engine.solvers.levenberg_marquardt import LMState, levenberg_marquardt_steps, solve_small

X = torch.linspace(0.0, 4.0, 12, dtype=torch.float64)


def _biexp(p: torch.Tensor, index: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Residual of ``a·exp(−k x) + c`` against data ``Y`` (closure over the module globals)."""
    y = Y if index is None else Y[index]
    a, k, c = p[:, :1], p[:, 1:2], p[:, 2:3]
    e = torch.exp(-k * X)
    return a * e + c - y, torch.stack((e, -a * X * e, torch.ones_like(e)))


Y = torch.empty(0)


def test_matches_scipy(rng: np.random.Generator) -> None:
    """200 noisy exponentials from a poor start: cost within 1e-8 (relative) of scipy's LM, params to 1e-5."""
    global Y
    n = 200
    truth = np.stack([rng.uniform(0.5, 2, n), rng.uniform(0.3, 3, n), rng.uniform(-0.2, 0.2, n)], 1)
    x = X.numpy()
    y = truth[:, :1] * np.exp(-truth[:, 1:2] * x) + truth[:, 2:3] + rng.normal(0, 0.02, (n, x.size))
    Y = torch.as_tensor(y)
    start = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64).expand(n, 3)
    states: list[LMState] = []
    gen = levenberg_marquardt_steps(_biexp, start, max_iterations=100, tolerance=1e-10)
    res = run(gen, callback=states.append)  # type: ignore[arg-type]
    assert states and states[-1].n_active == 0
    assert all(b.cost <= a.cost + 1e-12 for a, b in itertools.pairwise(states))
    for v in range(0, n, 10):
        ref = least_squares(
            lambda p, v=v: p[0] * np.exp(-p[1] * x) + p[2] - y[v], [1.0, 1.0, 0.0], method="lm", xtol=1e-14
        )
        ours = res.parameters[v].numpy()
        assert res.cost[v].item() <= 2 * ref.cost * (1 + 1e-8) + 1e-14
        np.testing.assert_allclose(ours, ref.x, rtol=1e-5, atol=1e-7)


def test_bounds_are_respected() -> None:
    """With an upper bound below the unconstrained optimum, the solution sits on the bound."""
    global Y
    Y = (2.0 * torch.exp(-1.5 * X))[None].repeat(4, 1)
    start = torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64).repeat(4, 1)
    upper = torch.tensor([10.0, 1.0, 0.0], dtype=torch.float64)
    lower = torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64)
    res = run(levenberg_marquardt_steps(_biexp, start, lower=lower, upper=upper, max_iterations=200))
    assert torch.all(res.parameters[:, 1] <= 1.0) and torch.allclose(
        res.parameters[:, 1], torch.ones(4, dtype=torch.float64)
    )
    assert torch.all(res.parameters[:, 2] == 0.0)


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_solve_small(p: int) -> None:
    """Closed-form (P ≤ 3) and LU solves agree with torch.linalg.solve on SPD systems."""
    a = torch.randn(50, p + 4, p, dtype=torch.float64)
    h = a.mT @ a
    g = torch.randn(50, p, dtype=torch.float64)
    torch.testing.assert_close(solve_small(h, g), torch.linalg.solve(h, g))
