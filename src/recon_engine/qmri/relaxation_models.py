"""Closed-form models: IR, SR, MOLLI, T2, T2*, VFA (separable form with analytic derivatives)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from recon_engine.qmri._model import ModelInfo, SignalModel, check_tr_schedule
from recon_engine.qmri.signals import molli_t1

__all__ = ["CLOSED_FORM_MODELS"]


def _log_grid(lo: float, hi: float, n: int) -> torch.Tensor:
    return torch.logspace(math.log10(lo), math.log10(hi), n, dtype=torch.float64)[:, None]


# ---------------------------------------------------------------- inversion / saturation recovery
Aux = Mapping[str, torch.Tensor]


def _ir_basis(theta: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux) -> torch.Tensor:
    e = torch.exp(-x / theta[:, :1])
    return torch.stack((torch.ones_like(e), -e), -1)


def _ir_jac(
    theta: torch.Tensor, c: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux
) -> tuple[torch.Tensor, torch.Tensor]:
    t1, a, b = theta[:, :1], c[:, :1], c[:, 1:2]
    e = torch.exp(x * (-1.0 / t1))
    dt1 = (e * x) * (-b / t1.square())
    return a - b * e, torch.stack((torch.ones_like(e), -e, dt1))


def _sr_basis(theta: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux) -> torch.Tensor:
    return (1.0 - torch.exp(-x / theta[:, :1]))[..., None]


def _sr_jac(
    theta: torch.Tensor, c: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux
) -> tuple[torch.Tensor, torch.Tensor]:
    t1, m0 = theta[:, :1], c[:, :1]
    e = torch.exp(x * (-1.0 / t1))
    one_minus = 1.0 - e
    return m0 * one_minus, torch.stack((one_minus, (e * x) * (-m0 / t1.square())))


def _t1_grid(options: Mapping[str, object]) -> torch.Tensor:
    return _log_grid(5.0, 10000.0, 64)


def _molli_derived(maps: dict[str, torch.Tensor], options: Mapping[str, object]) -> dict[str, torch.Tensor]:
    return {"t1": molli_t1(maps["t1_star"], maps["a"], maps["b"])}


# ---------------------------------------------------------------- T2 / T2*
def _exp_basis(theta: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux) -> torch.Tensor:
    e = torch.exp(-x / theta[:, :1])
    return torch.stack((e, torch.ones_like(e)), -1) if options.get("offset") else e[..., None]


def _exp_jac(
    theta: torch.Tensor, c: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux
) -> tuple[torch.Tensor, torch.Tensor]:
    t2, m0 = theta[:, :1], c[:, :1]
    e = torch.exp(x * (-1.0 / t2))
    s = m0 * e
    dt2 = (e * x) * (m0 / t2.square())
    if options.get("offset"):
        return s + c[:, 1:2], torch.stack((e, torch.ones_like(e), dt2))
    return s, torch.stack((e, dt2))


def _t2_grid(options: Mapping[str, object]) -> torch.Tensor:
    return _log_grid(1.0, 5000.0, 64)


# ---------------------------------------------------------------- VFA (DESPOT1)
def _vfa_parts(
    theta: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux
) -> tuple[torch.Tensor, torch.Tensor]:
    t1 = theta[:, :1]
    tr = float(options["tr"])  # type: ignore[arg-type]
    alpha = x * (math.pi / 180.0)
    if "b1" in aux:
        alpha = aux["b1"][:, None] * alpha
    sa, ca = torch.sin(alpha), torch.cos(alpha)
    e1 = torch.exp(-tr / t1)
    den = 1.0 - e1 * ca
    b = sa * (1.0 - e1) / den
    db = sa * (ca - 1.0) / den.square() * (e1 * tr / t1.square())
    return b, db


def _vfa_basis(theta: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux) -> torch.Tensor:
    return _vfa_parts(theta, x, options, aux)[0][..., None]


def _vfa_jac(
    theta: torch.Tensor, c: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux
) -> tuple[torch.Tensor, torch.Tensor]:
    b, db = _vfa_parts(theta, x, options, aux)
    m0 = c[:, :1]
    return m0 * b, torch.stack((b, m0 * db))


def _vfa_check(options: dict[str, object], x: torch.Tensor) -> dict[str, object]:
    return check_tr_schedule(
        options,
        x,
        missing_tr="the VFA model needs the repetition time: give tr (ms), e.g. --tr 15",
        too_few="the VFA model needs at least two flip angles",
    )


def _model(
    name: str,
    title: str,
    label: str,
    linear: tuple[str, ...],
    nonlinear: tuple[str, ...],
    extra: dict[str, object],
    **kwargs: object,
) -> SignalModel:
    main = nonlinear[0] if name != "molli" else "t1"
    derived_names = ("t1",) if name == "molli" else ()
    params = (main, *[p for p in (*nonlinear, *linear, *derived_names) if p != main])
    units = {p: ("ms" if p.startswith("t") else "a.u.") for p in params}
    unit = "deg" if label == "flip angle" else "ms"
    info = ModelInfo(name, title, label, unit, params, units, extra, main=main)
    bounds = {"t1": (1.0, 20000.0), "t1_star": (1.0, 20000.0), "t2": (0.5, 10000.0), "t2star": (0.2, 10000.0)}
    lower = tuple(bounds[p][0] for p in nonlinear)
    upper = tuple(bounds[p][1] for p in nonlinear)
    return SignalModel(info=info, linear=linear, nonlinear=nonlinear, lower=lower, upper=upper, **kwargs)  # type: ignore[arg-type]


CLOSED_FORM_MODELS: dict[str, SignalModel] = {
    "ir": _model(
        "ir", "Inversion recovery  a − b·exp(−TI/T1)", "TI", ("m0", "b"), ("t1",), {"signed": None},
        basis=_ir_basis, jacobian=_ir_jac, grid=_t1_grid, polarity=True,
    ),
    "sr": _model(
        "sr", "Saturation recovery  M0·(1 − exp(−TS/T1))", "TS", ("m0",), ("t1",), {},
        basis=_sr_basis, jacobian=_sr_jac, grid=_t1_grid,
    ),
    "molli": _model(
        "molli", "MOLLI  a − b·exp(−TI/T1*),  T1 = T1*·(b/a − 1)", "TI", ("a", "b"), ("t1_star",),
        {"signed": None},
        basis=_ir_basis, jacobian=_ir_jac, grid=_t1_grid, polarity=True, derived=_molli_derived,
    ),
    "t2": _model(
        "t2", "T2 decay  M0·exp(−TE/T2) (+ c)", "TE", ("m0",), ("t2",), {"offset": False},
        basis=_exp_basis, jacobian=_exp_jac, grid=_t2_grid,
    ),
    "t2star": _model(
        "t2star", "T2* decay  M0·exp(−TE/T2*) (+ c)", "TE", ("m0",), ("t2star",), {"offset": False},
        basis=_exp_basis, jacobian=_exp_jac, grid=_t2_grid,
    ),
    "vfa": _model(
        "vfa", "Variable flip angle (DESPOT1)  M0·sin α·(1 − E1)/(1 − E1·cos α)", "flip angle",
        ("m0",), ("t1",),
        {"tr": None, "b1": None},
        basis=_vfa_basis, jacobian=_vfa_jac, grid=_t1_grid, abscissa="flip_angles", check=_vfa_check,
        aux=("b1",),
    ),
}  # fmt: skip
