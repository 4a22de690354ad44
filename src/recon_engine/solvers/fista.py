"""FISTA for ``½‖Ax − y‖² + g(x)`` with a proximal map of ``g``, as a generator.

Problem
-------
For a Hermitian positive semi-definite ``N`` (``AᴴA``), ``b`` (``Aᴴy``) and a convex ``g``
with an easy proximal map,

    ``minimize_x  f(x) + g(x)``,   ``f(x) = ½ xᴴNx − Re(bᴴx) + c``   (``= ½‖Ax − y‖²`` for ``c = ½‖y‖²``),

``∇f(x) = Nx − b`` is Lipschitz with ``L = λ_max(N)``.

Steps (Beck & Teboulle 2009)
----------------------------
0. ``L`` by power iteration (unless a step size is given), ``τ = 1/L``;
   ``z₁ = x₀``, ``t₁ = 1``.
1. ``x_k = prox_{τg}(z_k − τ(N z_k − b))``.
2. ``t_{k+1} = (1 + √(1 + 4t_k²)) / 2``.
3. ``z_{k+1} = x_k + ((t_k − 1)/t_{k+1}) (x_k − x_{k−1})``.
4. Stop when ``‖x_k − x_{k−1}‖ / ‖x_k‖ ≤ tolerance`` or after ``max_iterations``.

``∇f`` is affine, so ``N z_{k+1} = N x_k + β(N x_k − N x_{k−1})``: one application of ``N``
per iteration (to ``x_k``) gives both the next gradient and the objective
``f(x_k) = ½Re⟨x_k, N x_k⟩ − Re⟨b, x_k⟩ + c``.

References
----------
A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear inverse
problems", SIAM J. Imaging Sci. 2:183–202 (2009), doi:10.1137/080716542.
M. Lustig, D. Donoho, J. M. Pauly, "Sparse MRI: the application of compressed sensing for rapid
MR imaging", Magn. Reson. Med. 58:1182–1195 (2007), doi:10.1002/mrm.21391.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import torch

from recon_engine.solvers._power import power_iteration, seeded_like
from recon_engine.solvers.state import SolverState

__all__ = ["FISTAState", "fista_steps", "soft_threshold"]


@dataclass(frozen=True)
class FISTAState(SolverState):
    """State after one FISTA iteration.

    Attributes
    ----------
    iteration
        Iterations done (1-based).
    residual
        Relative change ``‖x_k − x_{k−1}‖ / ‖x_k‖`` (alias ``change``).
    objective
        ``f(x_k) + g(x_k)`` (``g`` only when a ``regularizer`` value is given).
    solution
        The current iterate ``x_k`` (alias ``x``; a new tensor each iteration).
    """

    @property
    def change(self) -> float:
        """Relative change of the iterate (alias of :attr:`residual`)."""
        return self.residual


def soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """``prox`` of ``threshold·‖·‖₁``: shrink magnitudes by ``threshold``, keep the phase (complex safe)."""
    mag = x.abs()
    return x * (1.0 - threshold / mag.clamp_min(1e-30)).clamp_min(0.0)


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.vdot(a.flatten(), b.flatten()).real)


def fista_steps(
    normal_op: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    prox: Callable[[torch.Tensor, float], torch.Tensor],
    *,
    x0: torch.Tensor | None = None,
    regularizer: Callable[[torch.Tensor], float] | None = None,
    step_size: float | None = None,
    max_iterations: int = 50,
    tolerance: float = 1e-6,
    constant: float = 0.0,
    power_iterations: int = 20,
) -> Generator[FISTAState, None, torch.Tensor]:
    """Minimise ``½xᴴNx − Re(bᴴx) + c + g(x)`` by FISTA, yielding a :class:`FISTAState` per iteration.

    Parameters
    ----------
    normal_op
        ``x ↦ N x`` (``AᴴA``), Hermitian positive semi-definite.
    rhs
        ``b`` (``Aᴴy``), the shape of ``x``.
    prox
        ``(v, τ) ↦ prox_{τg}(v) = argmin_x g(x) + ‖x − v‖²/(2τ)`` (e.g.
        ``lambda v, t: soft_threshold(v, λ t)``).
    x0
        Starting point (default zeros).
    regularizer
        ``x ↦ g(x)``, only for the reported objective.
    step_size
        ``τ``; default ``1/L`` with ``L = λ_max(N)`` from :func:`power_iteration`.
    max_iterations, tolerance
        Stop after this many iterations or when the relative change is at most ``tolerance``.
    constant
        ``c`` of the objective (``½‖y‖²`` makes ``f`` the data residual).
    power_iterations
        Iterations of the power method for ``L``.

    Returns
    -------
    torch.Tensor
        The last iterate.
    """
    x = torch.zeros_like(rhs) if x0 is None else x0.clone()
    if step_size is None:
        lipschitz = power_iteration(normal_op, seeded_like(rhs), power_iterations)
        if lipschitz <= 0.0:
            return x
        step_size = 1.0 / lipschitz
    tau = float(step_size)
    nx = normal_op(x)
    nz = nx
    z = x
    t = 1.0
    for k in range(1, int(max_iterations) + 1):
        x_new = prox(torch.add(z, nz - rhs, alpha=-tau), tau)
        nx_new = normal_op(x_new)
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        beta = (t - 1.0) / t_new
        diff = x_new - x
        z = torch.add(x_new, diff, alpha=beta)
        nz = torch.lerp(nx_new, nx, -beta)  # = nx_new + β(nx_new − nx), one pass
        norm = math.sqrt(_dot(x_new, x_new))
        change = math.sqrt(_dot(diff, diff)) / norm if norm > 0 else 0.0
        objective = 0.5 * _dot(x_new, nx_new) - _dot(rhs, x_new) + constant
        if regularizer is not None:
            objective += regularizer(x_new)
        x, nx, t = x_new, nx_new, t_new
        yield FISTAState(k, change, objective, x)
        if change <= tolerance:
            break
    return x
