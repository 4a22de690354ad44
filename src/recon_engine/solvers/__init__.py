"""Iterative solvers as generators that take callables (not operator classes).

- :func:`conjugate_gradient_steps`: ``H x = b`` for Hermitian positive definite ``H`` (CG-SENSE);
- :func:`fista_steps`: ``½‖Ax − y‖² + g(x)`` with a proximal map of ``g`` (wavelet-ℓ1);
- :func:`pdhg_steps`: ``G(x) + Σᵢ Fᵢ(Kᵢx)`` by Chambolle–Pock (total variation);
- :func:`power_iteration`: ``λ_max`` of ``AᴴA`` for automatic step sizes;
- :func:`levenberg_marquardt_steps`: many small nonlinear least-squares problems at once (voxel fits);
- :func:`match_dictionary`: best-correlated dictionary atom per voxel (MR fingerprinting).

Each yields a small state (iteration, residual or change, objective, current ``x``) every
iteration and returns the final ``x``, so a GUI can show and stop it and a script can drive it
with :func:`recon_engine.progress.run`-like loops.
"""

from recon_engine.solvers._power import power_iteration, power_iteration_steps, seeded_like
from recon_engine.solvers.cg import CGState, conjugate_gradient_steps
from recon_engine.solvers.dictionary import (
    MatchResult,
    match_dictionary,
    svd_compress,
    variable_projection_search,
)
from recon_engine.solvers.fista import FISTAState, fista_steps, soft_threshold
from recon_engine.solvers.levenberg_marquardt import LMResult, LMState, levenberg_marquardt_steps
from recon_engine.solvers.pdhg import DualTerm, PDHGState, l21_term, least_squares_term, pdhg_steps

__all__ = [
    "CGState",
    "DualTerm",
    "FISTAState",
    "LMResult",
    "LMState",
    "MatchResult",
    "PDHGState",
    "conjugate_gradient_steps",
    "fista_steps",
    "l21_term",
    "least_squares_term",
    "levenberg_marquardt_steps",
    "match_dictionary",
    "pdhg_steps",
    "power_iteration",
    "power_iteration_steps",
    "seeded_like",
    "soft_threshold",
    "svd_compress",
    "variable_projection_search",
]
