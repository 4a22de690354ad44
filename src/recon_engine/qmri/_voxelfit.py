"""Fit one batch of voxels: grid start (variable projection) + batched Levenberg–Marquardt (private)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from functools import partial

import torch

from recon_engine.qmri._model import SignalModel, signal_and_jacobian
from recon_engine.qmri._prepare import polarity_variants
from recon_engine.solvers.dictionary import variable_projection_search
from recon_engine.solvers.levenberg_marquardt import LMState, levenberg_marquardt_steps, solve_small

__all__ = ["VoxelFit", "fit_voxels_steps", "linear_names"]


def linear_names(model: SignalModel, options: Mapping[str, object]) -> tuple[str, ...]:
    """Names of the linear coefficients with the options applied (``offset`` adds one)."""
    return (*model.linear, "offset") if options.get("offset") else model.linear


@dataclass(frozen=True)
class VoxelFit:
    """Per-voxel results of :func:`fit_voxels_steps` (all ``(V,)`` float32 unless noted)."""

    values: dict[str, torch.Tensor]
    sd: dict[str, torch.Tensor]
    r2: torch.Tensor
    residual: torch.Tensor
    observed: torch.Tensor  # (V, n) the data the fit saw (polarity-restored)


def _sd(jac: torch.Tensor, cost: torch.Tensor, dof: int) -> torch.Tensor:
    """Cramér–Rao standard deviations ``sqrt(σ̂²·diag((JᵀJ)⁻¹))`` with ``σ̂² = ‖r‖²/dof``."""
    h = torch.einsum("pvn,qvn->vpq", jac, jac)
    n_par = h.shape[-1]
    eye = torch.eye(n_par, dtype=h.dtype, device=h.device)
    diag = torch.stack([solve_small(h, eye[i].expand(h.shape[0], n_par))[:, i] for i in range(n_par)], 1)
    return torch.sqrt((cost / dof)[:, None] * diag.clamp_min(0))


def current_values(
    model: SignalModel,
    options: Mapping[str, object],
    p: torch.Tensor,
    theta0: torch.Tensor,
    scale: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Physical parameter values from the normalized LM parameters ``p (V, L + K)``."""
    lin = linear_names(model, options)
    n_lin = len(lin)
    out = {name: p[:, i] * scale for i, name in enumerate(lin)}
    out.update({name: theta0[:, k] * p[:, n_lin + k] for k, name in enumerate(model.nonlinear)})
    if model.derived is not None:
        out.update(model.derived(out, options))
    return out


def fit_voxels_steps(
    model: SignalModel,
    y: torch.Tensor,
    x: torch.Tensor,
    options: Mapping[str, object],
    aux: Mapping[str, torch.Tensor],
    *,
    magnitude: bool,
    max_iterations: int,
    preview: list[Callable[[], dict[str, torch.Tensor]]] | None = None,
) -> Generator[LMState, None, VoxelFit]:
    """Fit ``model`` to real signals ``y (V, n)`` sampled at ``x (n,)``.

    1. Normalize each voxel by its largest absolute value.
    2. Variable projection on the model's grid of nonlinear parameters (both polarity
       restorations for magnitude IR data) gives ``θ₀`` and the closed-form coefficients.
    3. Levenberg–Marquardt on all parameters at once, ``θ = θ₀·u`` (``u`` starts at 1, so all
       unknowns are O(1)), within the model's bounds.

    ``preview`` (a list) receives, after each iteration, a callable returning the current values
    (evaluated only when a preview is due).
    """
    scale = y.abs().amax(1).clamp_min(torch.finfo(y.dtype).tiny)
    yn = y / scale[:, None]
    grid = model.grid(options).to(y.device)
    bases = model.basis(grid, x.to(grid.dtype), options, {}).to(y.dtype)
    if magnitude:
        variants = polarity_variants(yn, x)
        i0, c0, e0 = variable_projection_search(variants[0], bases)
        i1, c1, e1 = variable_projection_search(variants[1], bases)
        pick = e1 < e0
        yn = torch.where(pick[:, None], variants[1], variants[0])
        idx, coef = torch.where(pick, i1, i0), torch.where(pick[:, None], c1, c0)
    else:
        idx, coef, _ = variable_projection_search(yn, bases)
    theta0 = grid[idx].to(y.dtype)
    n_lin, n_nl = coef.shape[1], theta0.shape[1]
    p0 = torch.cat((coef, torch.ones_like(theta0)), 1)
    lo_nl = torch.tensor(model.lower, dtype=y.dtype, device=y.device) / theta0
    hi_nl = torch.tensor(model.upper, dtype=y.dtype, device=y.device) / theta0
    inf = torch.full_like(coef, torch.inf)
    lower, upper = torch.cat((-inf, lo_nl), 1), torch.cat((inf, hi_nl), 1)

    def residual_and_jacobian(
        p: torch.Tensor, index: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        th0, y_i = (theta0, yn) if index is None else (theta0[index], yn[index])
        aux_i = aux if index is None else {k: v[index] for k, v in aux.items()}
        s, jac = signal_and_jacobian(model, th0 * p[:, n_lin:], p[:, :n_lin], x, options, aux_i)
        jac[n_lin:] *= th0.T[:, :, None]  # chain rule for θ = θ₀·u
        return s - y_i, jac

    gen = levenberg_marquardt_steps(
        residual_and_jacobian, p0, lower=lower, upper=upper, max_iterations=max_iterations, tolerance=1e-4
    )
    while True:
        try:
            state = next(gen)
        except StopIteration as stop:
            res = stop.value
            break
        if preview is not None:
            params = state.parameters
            preview.append(partial(current_values, model, options, params, theta0, scale))
        yield state
    values = current_values(model, options, res.parameters, theta0, scale)
    n = y.shape[1]
    ss_tot = (yn - yn.mean(1, keepdim=True)).square().sum(1)
    r2 = 1.0 - res.cost / ss_tot.clamp_min(torch.finfo(y.dtype).tiny)
    sd: dict[str, torch.Tensor] = {}
    dof = n - n_lin - n_nl
    if dof > 0:
        sds = _sd(res.jacobian, res.cost, dof)
        for i, name in enumerate(linear_names(model, options)):
            sd[name] = sds[:, i] * scale
        for k, name in enumerate(model.nonlinear):
            sd[name] = sds[:, n_lin + k] * theta0[:, k]
    return VoxelFit(
        values=values,
        sd=sd,
        r2=r2,
        residual=torch.sqrt(res.cost / n) * scale,
        observed=yn * scale[:, None],
    )
