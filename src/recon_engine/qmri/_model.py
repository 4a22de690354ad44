"""The description of a signal model that the voxel-wise fit works with (private).

A model is *separable* (Golub & Pereyra): ``S(x) = B(θ; x) c``, with nonlinear parameters
``θ`` (``K``: T1, T2, B1 …), linear coefficients ``c`` (``L``: M0, b, offset …) and a
basis ``B (V, n, L)`` evaluated at the ``n`` sampling points ``x`` (times in ms, or flip
angles in degrees). The fit finds ``θ`` on a grid (closed-form ``c``), then refines
``(c, θ)`` together with Levenberg–Marquardt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from recon_engine.errors import ParameterError

__all__ = ["Basis", "Jacobian", "ModelInfo", "SignalModel", "check_tr_schedule", "signal_and_jacobian"]

Basis = Callable[[torch.Tensor, torch.Tensor, Mapping[str, object], Mapping[str, torch.Tensor]], torch.Tensor]
"""``(θ (V, K), x (n,), options, aux maps (V,)) -> B (V, n, L)``."""

Jacobian = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, Mapping[str, object], Mapping[str, torch.Tensor]],
    tuple[torch.Tensor, torch.Tensor],
]
"""``(θ (V, K), c (V, L), x, options, aux) -> (S (V, n), J (L + K, V, n))``: the signal
``S = B(θ)c`` and its derivatives, first by each ``c_l`` then by each ``θ_k``."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model fits and how to label it.

    Attributes
    ----------
    name
        Short name used by :func:`~recon_engine.qmri.fit` and ``mrrecon fit --model``.
    title
        Human-readable title with the signal equation.
    times_label
        Name of the sampling variable: ``"TI"``, ``"TE"``, ``"TS"`` or ``"flip angle"``.
    times_unit
        ``"ms"`` or ``"deg"``.
    parameters
        Names of the parameter maps the fit produces (before ``"r2"`` and ``"residual"``).
    units
        Map name → unit (``"ms"``, ``"a.u."``, ``""``).
    options
        Model keyword options and their defaults.
    main
        The map shown as preview (e.g. ``"t1"``).
    """

    name: str
    title: str
    times_label: str
    times_unit: str
    parameters: tuple[str, ...]
    units: dict[str, str]
    options: dict[str, object]
    main: str = ""


def check_tr_schedule(
    options: dict[str, object], x: torch.Tensor, *, missing_tr: str, too_few: str
) -> dict[str, object]:
    """``options`` of a model on a flip-angle schedule: a positive ``tr`` (ms) and two frames or more.

    Raises
    ------
    ParameterError
        ``missing_tr`` without ``tr``; ``too_few`` with fewer than two frames in ``x``.
    """
    tr = options.get("tr")
    if tr is None:
        raise ParameterError(missing_tr)
    if not float(tr) > 0:  # type: ignore[arg-type]
        raise ParameterError(f"the repetition time must be positive, got {tr} ms")
    if x.numel() < 2:
        raise ParameterError(too_few)
    return options


def _no_options(options: dict[str, object], abscissa: torch.Tensor) -> dict[str, object]:
    return options


@dataclass(frozen=True)
class SignalModel:
    """A separable signal model (private description used by the fit).

    Attributes
    ----------
    info
        Public description.
    linear, nonlinear
        Names of the linear coefficients ``c`` and nonlinear parameters ``θ``.
    lower, upper
        Bounds of each nonlinear parameter.
    basis
        ``B(θ; x)``.
    grid
        ``options -> (G, K)`` float64 grid of ``θ`` for the start values.
    jacobian
        Analytic signal and Jacobian; None uses forward-mode AD of ``basis``.
    abscissa
        ``"times"`` (ms) or ``"flip_angles"`` (deg): what the series' sampling axis holds.
    polarity
        True for inversion recovery: magnitude data are polarity-restored before the fit.
    derived
        ``(maps, options) -> extra maps`` (e.g. the Look-Locker corrected MOLLI T1).
    check
        ``(options, x) -> options``: validates and completes the options (ParameterError).
    dictionary_only
        True for MR fingerprinting: the dictionary match is the result (no LM).
    aux
        Names of optional per-voxel maps taken from the options (e.g. ``"b1"``).
    """

    info: ModelInfo
    linear: tuple[str, ...]
    nonlinear: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    basis: Basis
    grid: Callable[[Mapping[str, object]], torch.Tensor]
    jacobian: Jacobian | None = None
    abscissa: str = "times"
    polarity: bool = False
    derived: Callable[[dict[str, torch.Tensor], Mapping[str, object]], dict[str, torch.Tensor]] | None = None
    check: Callable[[dict[str, object], torch.Tensor], dict[str, object]] = _no_options
    dictionary_only: bool = False
    aux: tuple[str, ...] = field(default_factory=tuple)


def signal_and_jacobian(
    model: SignalModel,
    theta: torch.Tensor,
    coef: torch.Tensor,
    x: torch.Tensor,
    options: Mapping[str, object],
    aux: Mapping[str, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``S = B(θ)c (V, n)`` and ``J (L + K, V, n)``.

    Analytic when the model has a Jacobian; otherwise central differences of ``basis`` with a
    step of 1e-3 relative to each ``θ_k`` (for EPG models this costs 2K extra simulations and is
    ~5× faster than forward-mode AD through the EPG recursion; the models stay differentiable
    by autograd for other uses).
    """
    if model.jacobian is not None:
        return model.jacobian(theta, coef, x, options, aux)
    b = model.basis(theta, x, options, aux)
    grads = []
    for k in range(theta.shape[1]):
        h = 1e-3 * theta[:, k].abs().clamp_min(1e-3)
        step = torch.zeros_like(theta)
        step[:, k] = h
        db = (model.basis(theta + step, x, options, aux) - model.basis(theta - step, x, options, aux)) / (
            2 * h[:, None, None]
        )
        grads.append(torch.einsum("vnl,vl->vn", db, coef))
    s = torch.einsum("vnl,vl->vn", b, coef)
    return s, torch.stack((*b.permute(2, 0, 1), *grads))
