"""Solvers on small problems with known solutions: CG, FISTA, PDHG, power iteration."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest
import torch

from recon_engine.operators.finite_difference import FiniteDifferenceOp
from recon_engine.solvers import (
    CGState,
    conjugate_gradient_steps,
    fista_steps,
    l21_term,
    least_squares_term,
    pdhg_steps,
    power_iteration,
    soft_threshold,
)
from recon_engine.solvers.cg import quadratic_prox
from tests.helpers import random_complex


def drive(gen: Generator[Any, None, torch.Tensor]) -> tuple[list[Any], torch.Tensor]:
    """All yielded states and the returned value."""
    states = []
    while True:
        try:
            states.append(next(gen))
        except StopIteration as stop:
            return states, stop.value


def hermitian_pd(n: int, seed: int = 0) -> torch.Tensor:
    b = random_complex((n, n), torch.Generator().manual_seed(seed)).to(torch.complex128)
    return b.mH @ b / n + 0.1 * torch.eye(n, dtype=torch.complex128)


def matvec(m: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: m @ x


def test_cg_solves_a_random_hermitian_positive_definite_system() -> None:
    h = hermitian_pd(30)
    b = random_complex((30,), torch.Generator().manual_seed(1)).to(torch.complex128)
    states, x = drive(conjugate_gradient_steps(matvec(h), b, max_iterations=200, tolerance=1e-10))
    expected = torch.linalg.solve(h, b)
    assert float((x - expected).norm() / expected.norm()) < 1e-8
    assert all(isinstance(s, CGState) for s in states)
    assert [s.iteration for s in states] == list(range(1, len(states) + 1))
    assert states[-1].residual <= 1e-10 < states[0].residual
    assert len(states) <= 60  # exact arithmetic: ≤ 30; rounding costs a few more
    # the objective −½ bᴴH⁻¹b at the solution, from the residual (no extra operator call)
    assert states[-1].objective == pytest.approx(-0.5 * float(torch.vdot(b, expected).real), rel=1e-8)


def test_cg_stops_at_the_tolerance_or_the_iteration_count() -> None:
    h = hermitian_pd(40, seed=2)
    b = torch.ones(40, dtype=torch.complex128)
    loose, _ = drive(conjugate_gradient_steps(matvec(h), b, max_iterations=100, tolerance=1e-2))
    assert loose[-1].residual <= 1e-2 and len(loose) < 40
    capped, _ = drive(conjugate_gradient_steps(matvec(h), b, max_iterations=3, tolerance=0.0))
    assert len(capped) == 3
    none, x = drive(conjugate_gradient_steps(matvec(h), torch.zeros(40, dtype=torch.complex128)))
    assert none == [] and float(x.abs().max()) == 0.0
    warm, _ = drive(conjugate_gradient_steps(matvec(h), b, x0=torch.linalg.solve(h, b), tolerance=1e-8))
    assert len(warm) <= 1


def test_power_iteration_finds_the_largest_eigenvalue() -> None:
    d = torch.linspace(0.1, 3.0, 50, dtype=torch.float64)
    lam = power_iteration(lambda x: d * x, torch.ones(50, dtype=torch.float64), 200, tolerance=1e-9)
    assert lam == pytest.approx(3.0 * 1.02, rel=1e-3)  # with the safety margin
    assert power_iteration(lambda x: 0 * x, torch.ones(3)) == 0.0


def test_soft_threshold_shrinks_the_magnitude_and_keeps_the_phase() -> None:
    x = torch.tensor([3 + 4j, 0.3j, -2.0], dtype=torch.complex64)
    y = soft_threshold(x, 1.0)
    np.testing.assert_allclose(y.numpy(), [0.8 * (3 + 4j), 0, -1.0], atol=1e-6)


def test_fista_solves_a_weighted_lasso() -> None:
    """``min ½xᴴDx − Re bᴴx + λ‖x‖₁`` with diagonal ``D``: ``x = soft(b, λ)/D`` per entry."""
    g = torch.Generator().manual_seed(4)
    d = 0.5 + 1.5 * torch.rand(64, generator=g, dtype=torch.float64)
    b = random_complex((64,), g).to(torch.complex128)
    lam = 0.7
    states, x = drive(
        fista_steps(
            lambda v: d * v,
            b,
            lambda v, t: soft_threshold(v, lam * t),
            regularizer=lambda v: lam * float(v.abs().sum()),
            max_iterations=500,
            tolerance=1e-9,
        )
    )
    expected = soft_threshold(b, lam) / d
    assert float((x - expected).abs().max()) < 1e-6
    assert len(states) < 500  # stopped at the tolerance
    objectives = [s.objective for s in states]
    optimum = float(
        0.5 * (d * expected.abs() ** 2).sum() - torch.vdot(b, expected).real + lam * expected.abs().sum()
    )
    assert objectives[-1] == pytest.approx(optimum, rel=1e-9)
    assert min(objectives) >= optimum - 1e-9


def step_denoising_problem() -> tuple[torch.Tensor, torch.Tensor, float]:
    """1D TV denoising of a clean step: plateaus move by λ/n towards each other (known optimum)."""
    y = torch.cat([torch.zeros(10), torch.ones(15)]).to(torch.complex128)
    lam = 0.6
    expected = torch.cat([torch.full((10,), lam / 10), torch.full((15,), 1 - lam / 15)]).to(torch.complex128)
    return y, expected, lam


def test_pdhg_solves_tv_denoising_of_a_step() -> None:
    y, expected, lam = step_denoising_problem()
    d = FiniteDifferenceOp((-1,))
    ident = lambda v: v  # noqa: E731
    terms = [least_squares_term(ident, ident, y), l21_term(d, d.adjoint, lam)]
    states, x = drive(pdhg_steps(terms, torch.zeros_like(y), max_iterations=3000, tolerance=1e-10))
    assert float((x - expected).abs().max()) < 1e-6
    assert len(states) < 3000
    optimum = 0.5 * float((expected - y).abs().pow(2).sum()) + lam * float((expected[-1] - expected[0]).real)
    assert states[-1].objective == pytest.approx(optimum, rel=1e-6)


def test_pdhg_with_the_data_term_as_a_primal_prox() -> None:
    """The same problem with ``G = ½‖x − y‖²`` solved exactly by the CG prox (as TV-SENSE does)."""
    y, expected, lam = step_denoising_problem()
    d = FiniteDifferenceOp((-1,))
    prox = quadratic_prox(lambda v: v, y, max_iterations=5, tolerance=1e-12)
    states, x = drive(
        pdhg_steps(
            [l21_term(d, d.adjoint, lam)],
            y.clone(),
            primal_prox=prox,
            primal_value=lambda v: 0.5 * float((v - y).abs().pow(2).sum()),
            step_sizes=(2.0, 0.99 / (2.0 * 4.0)),
            max_iterations=3000,
            tolerance=1e-10,
        )
    )
    assert float((x - expected).abs().max()) < 1e-6
    assert len(states) < 3000


def test_l21_projection_is_isotropic() -> None:
    term = l21_term(lambda v: v, lambda v: v, 1.0, axis=0)
    p = term.prox_conjugate(torch.tensor([[3.0, 0.1], [4.0, 0.1]]), 0.5)
    np.testing.assert_allclose(p.numpy(), [[0.6, 0.1], [0.8, 0.1]], atol=1e-6)
    assert term.value is not None and term.value(torch.tensor([[3.0], [4.0]])) == pytest.approx(5.0)


def test_cg_leaves_its_inputs_and_yielded_iterates_untouched() -> None:
    """r and p are updated in place; b, x0 and every yielded x must not change afterwards."""
    h = hermitian_pd(20, seed=3)
    b = random_complex((20,), torch.Generator().manual_seed(4)).to(torch.complex128)
    x0 = torch.zeros(20, dtype=torch.complex128)
    b_copy, states, seen = b.clone(), [], []
    for state in conjugate_gradient_steps(matvec(h), b, x0=x0, max_iterations=8, tolerance=0.0):
        states.append(state)
        seen.append(state.x.clone())  # the iterate as yielded
    assert torch.equal(b, b_copy) and float(x0.abs().max()) == 0.0
    assert all(torch.equal(s.x, c) for s, c in zip(states, seen, strict=True))
