"""Conjugate gradient on the normal equations, as a generator.

Problem
-------
For a Hermitian positive (semi-)definite ``H`` (e.g. ``AᴴA + λI``) and ``b`` (e.g. ``Aᴴy``),

    ``minimize_x  f(x) = ½ xᴴHx − Re(bᴴx) + c``   ⇔   ``H x = b``,

which for ``H = AᴴA + λI``, ``b = Aᴴy``, ``c = ½‖y‖²`` is ``½‖Ax − y‖² + (λ/2)‖x‖²``.

Steps (Hestenes & Stiefel 1952)
-------------------------------
0. ``x₀`` (default 0), ``r₀ = b − H x₀``, ``p₀ = r₀``.
1. ``α_k = ‖r_k‖² / Re(p_kᴴ H p_k)``.
2. ``x_{k+1} = x_k + α_k p_k``, ``r_{k+1} = r_k − α_k H p_k``.
3. Stop when ``‖r_{k+1}‖ / ‖b‖ ≤ tolerance`` or after ``max_iterations``.
4. ``β_k = ‖r_{k+1}‖² / ‖r_k‖²``, ``p_{k+1} = r_{k+1} + β_k p_k``.

The objective comes for free from the residual: ``Hx = b − r`` gives
``f(x) = −½ Re⟨x, b + r⟩ + c``. Per iteration: one application of ``H``, one new tensor (the
yielded ``x``; ``r`` and ``p`` are updated in place) and two device→host transfers
(``pᴴHp``, then ``‖r‖²`` and the objective's two dots together).

References
----------
M. R. Hestenes and E. Stiefel, "Methods of conjugate gradients for solving linear systems",
J. Res. Natl. Bur. Stand. 49:409–436 (1952), doi:10.6028/jres.049.044.
K. P. Pruessmann, M. Weiger, P. Börnert, P. Boesiger, "Advances in sensitivity encoding with
arbitrary k-space trajectories", Magn. Reson. Med. 46:638–651 (2001), doi:10.1002/mrm.1241.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import torch

from recon_engine.progress import run
from recon_engine.solvers.state import SolverState

__all__ = ["CGState", "conjugate_gradient_steps", "quadratic_prox"]


@dataclass(frozen=True)
class CGState(SolverState):
    """State after one CG iteration (:class:`~recon_engine.solvers.state.SolverState`).

    ``residual`` is the relative residual ``‖b − Hx‖ / ‖b‖``, ``objective``
    ``f(x) = ½xᴴHx − Re(bᴴx) + c`` and ``solution`` (alias ``x``) the current iterate.
    """


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.vdot(a.flatten(), b.flatten()).real)


def _dots(*pairs: tuple[torch.Tensor, torch.Tensor]) -> list[float]:
    """``Re⟨a, b⟩`` of several pairs with one device→host transfer (one sync on CUDA)."""
    vals = torch.stack([torch.vdot(a.flatten(), b.flatten()) for a, b in pairs]).real
    return [float(v) for v in vals.tolist()]


def conjugate_gradient_steps(
    normal_op: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    *,
    x0: torch.Tensor | None = None,
    max_iterations: int = 20,
    tolerance: float = 1e-6,
    constant: float = 0.0,
) -> Generator[CGState, None, torch.Tensor]:
    """Solve ``H x = b`` by conjugate gradients, yielding a :class:`CGState` per iteration.

    Parameters
    ----------
    normal_op
        ``x ↦ H x``, Hermitian positive (semi-)definite, shape-preserving.
    rhs
        ``b``, same shape as ``x``.
    x0
        Starting point (default zeros).
    max_iterations
        At most this many iterations (applications of ``H``).
    tolerance
        Stop when the relative residual ``‖b − Hx‖ / ‖b‖`` is at most this.
    constant
        ``c`` added to the reported objective (``½‖y‖²`` makes it ``½‖Ax − y‖² + …``).

    Returns
    -------
    torch.Tensor
        The last iterate (also the generator's ``StopIteration.value``). A zero ``b``
        returns ``x0`` (or zeros) without iterating; a breakdown (``pᴴHp ≤ 0``, i.e. ``H``
        not positive definite on the Krylov space) stops early.
    """
    x = torch.zeros_like(rhs) if x0 is None else x0.clone()
    r = rhs - normal_op(x) if x0 is not None else rhs.clone()
    b_norm = math.sqrt(_dot(rhs, rhs))
    if b_norm == 0.0:
        return x
    p = r.clone()
    rr = _dot(r, r)
    for k in range(1, int(max_iterations) + 1):
        hp = normal_op(p)
        php = _dot(p, hp)
        if php <= 0.0 or rr == 0.0:
            break
        alpha = rr / php
        x = torch.add(x, p, alpha=alpha)  # a new tensor: a yielded iterate is never modified
        r.sub_(hp, alpha=alpha)  # r and p are the solver's own: updated in place
        rr_new, x_rhs, x_r = _dots((r, r), (x, rhs), (x, r))
        residual = math.sqrt(rr_new) / b_norm
        objective = -0.5 * (x_rhs + x_r) + constant
        yield CGState(k, residual, objective, x)
        if residual <= tolerance:
            break
        p.mul_(rr_new / rr).add_(r)
        rr = rr_new
    return x


def quadratic_prox(
    normal_op: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    *,
    max_iterations: int = 10,
    tolerance: float = 1e-4,
) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """The proximal map of ``f(x) = ½xᴴNx − Re(bᴴx)`` (e.g. ``½‖Ax − y‖²``), solved by CG.

    ``prox_{τf}(v) = argmin_x f(x) + ‖x − v‖²/(2τ)`` solves ``(N + I/τ) x = b + v/τ``; CG starts
    at ``v`` (close to the answer for small ``τ``) and is well conditioned
    (``κ ≤ 1 + τλ_max(N)``), so a few iterations suffice.

    Parameters
    ----------
    normal_op
        ``x ↦ N x``.
    rhs
        ``b``.
    max_iterations, tolerance
        Of the inner CG (relative residual).

    Returns
    -------
    Callable
        ``(v, τ) ↦ prox_{τf}(v)``.
    """

    def prox(v: torch.Tensor, tau: float) -> torch.Tensor:
        steps = conjugate_gradient_steps(
            lambda x: normal_op(x) + x / tau,
            rhs + v / tau,
            x0=v,
            max_iterations=max_iterations,
            tolerance=tolerance,
        )
        return run(steps)

    return prox
