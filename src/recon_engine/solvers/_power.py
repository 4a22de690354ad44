"""Largest eigenvalue of a Hermitian positive semi-definite operator by power iteration.

Used for automatic step sizes: ``L = λ_max(AᴴA)`` is the Lipschitz constant of the gradient of
``½‖Ax − y‖²`` (FISTA's step ``1/L``) and ``‖K‖² = λ_max(KᴴK)`` bounds the primal–dual steps
(PDHG's ``τσ‖K‖² < 1``).

References
----------
R. von Mises and H. Pollaczek-Geiringer, "Praktische Verfahren der Gleichungsauflösung",
Z. Angew. Math. Mech. 9:152–164 (1929), doi:10.1002/zamm.19290090206.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import torch

from recon_engine.progress import run
from recon_engine.solvers.state import SolverState

__all__ = ["SAFETY", "PowerState", "power_iteration", "power_iteration_steps", "seeded_like"]

#: Safety factor on the estimate (power iteration approaches ``λ_max`` from below).
SAFETY = 1.02


@dataclass(frozen=True)
class PowerState(SolverState):
    """State after one power-iteration step (:class:`~recon_engine.solvers.state.SolverState`).

    ``residual`` is the relative change of the eigenvalue estimate, ``objective`` the
    estimate ``SAFETY · vᴴNv`` (alias ``estimate``) and ``solution`` the unit vector ``v``.
    """

    @property
    def estimate(self) -> float:
        """``SAFETY · λ_k``, the current estimate of ``λ_max`` (alias of :attr:`objective`)."""
        return self.objective


def seeded_like(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A reproducible standard-normal tensor with the shape, dtype and device of ``x``.

    Drawn on the CPU with its own generator (the global RNG is left alone), then moved.
    """
    g = torch.Generator().manual_seed(seed)
    if x.is_complex():
        v = torch.complex(torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g))
    else:
        v = torch.randn(x.shape, generator=g)
    return v.to(device=x.device, dtype=x.dtype)


def power_iteration_steps(
    normal_op: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    iterations: int = 20,
    *,
    tolerance: float = 1e-3,
) -> Generator[PowerState, None, float]:
    """Estimate ``λ_max`` of a Hermitian positive semi-definite ``N``, yielding a :class:`PowerState`.

    Steps: ``v ← x0 / ‖x0‖``; repeat ``w = N v``, ``λ = Re⟨v, w⟩``, ``v ← w / ‖w‖`` until
    ``λ`` changes by less than ``tolerance`` (relative) or after ``iterations``.

    Parameters
    ----------
    normal_op
        ``v ↦ N v`` (e.g. ``AᴴA``), any tensor shape.
    x0
        Starting vector (use a random one, e.g. :func:`seeded_like`, so that it is not
        orthogonal to the top eigenvector).
    iterations
        Maximum number of applications of ``N``.
    tolerance
        Relative change of the estimate at which to stop early.

    Returns
    -------
    float
        The Rayleigh quotient of the last iterate times :data:`SAFETY` (power iteration
        converges from below; the margin keeps step sizes ``1/L`` on the safe side).
        0 for the zero operator.
    """
    v = x0 / torch.linalg.vector_norm(x0).clamp_min(1e-30)
    lam = 0.0
    for k in range(1, max(1, int(iterations)) + 1):
        w = normal_op(v)
        new = float(torch.vdot(v.flatten(), w.flatten()).real)
        # √⟨w, w⟩ by vdot: torch.linalg.vector_norm of a complex tensor is ~70x slower on the CPU
        norm = math.sqrt(max(float(torch.vdot(w.flatten(), w.flatten()).real), 0.0))
        if norm == 0.0:
            return 0.0
        v = w / norm
        change = abs(new - lam) / max(abs(new), 1e-30)
        lam = new
        yield PowerState(k, change, SAFETY * lam, v)
        if change <= tolerance:
            break
    return SAFETY * lam


def power_iteration(
    normal_op: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    iterations: int = 20,
    *,
    tolerance: float = 1e-3,
) -> float:
    """:func:`power_iteration_steps` run to the end: ``SAFETY · λ_max(N)`` (0 for ``N = 0``)."""
    return float(run(power_iteration_steps(normal_op, x0, iterations, tolerance=tolerance)))
