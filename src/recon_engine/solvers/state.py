"""What every iterative solver yields once per iteration: a :class:`SolverState`.

A solver is a generator: it yields a state after each iteration and *returns* its solution
(``StopIteration.value``). The state is small and read-only, so a reconstruction can turn it
into a :class:`~recon_engine.progress.ProgressEvent` (residual curve, preview of ``solution``)
and a script can ignore it (:func:`recon_engine.progress.run`). Solvers add their own fields
(e.g. :attr:`LMState.n_active`) and names that read like their paper (``x``, ``change``,
``cost``) as aliases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SolverState"]


@dataclass(frozen=True)
class SolverState:
    """State after one iteration of a solver.

    Attributes
    ----------
    iteration
        Iterations done (1-based).
    residual
        The convergence measure the solver stops on, dimensionless: the relative residual
        ``‖b − Hx‖ / ‖b‖`` (CG), the relative change ``‖x_k − x_{k−1}‖ / ‖x_k‖`` (FISTA,
        PDHG), the relative change of the eigenvalue estimate (power iteration), or the sum of
        squared residuals (Levenberg–Marquardt).
    objective
        The objective value at the current iterate (the solver's own cost function; NaN where
        the solver does not compute it).
    solution
        The current iterate, a tensor the solver does not modify later (a new tensor each
        iteration).
    """

    iteration: int
    residual: float
    objective: float
    solution: torch.Tensor

    @property
    def x(self) -> torch.Tensor:
        """The current iterate (alias of :attr:`solution`)."""
        return self.solution
