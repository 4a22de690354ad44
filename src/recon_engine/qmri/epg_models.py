"""EPG-based models: multi-echo spin echo (T2 with stimulated echoes and B1) and MR fingerprinting (FISP)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from recon_engine.errors import ParameterError
from recon_engine.qmri._model import ModelInfo, SignalModel, check_tr_schedule
from recon_engine.qmri.epg import epg_cpmg, epg_fisp

__all__ = ["EPG_MODELS", "mrf_grid"]

Aux = Mapping[str, torch.Tensor]


# ---------------------------------------------------------------- multi-echo spin echo
def _echo_index(x: torch.Tensor, esp: float) -> torch.Tensor:
    return torch.round(x / esp).to(torch.int64) - 1


def _mese_basis(
    theta: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux
) -> torch.Tensor:
    esp = float(options["echo_spacing"])  # type: ignore[arg-type]
    idx = _echo_index(x, esp)
    echoes = epg_cpmg(
        theta[:, 0],
        n_echoes=int(idx.max()) + 1,
        echo_spacing=esp,
        t1=float(options["t1"]),  # type: ignore[arg-type]
        b1=theta[:, 1],
        refocusing_angle=float(options["refocusing_angle"]),  # type: ignore[arg-type]
        excitation_angle=float(options["excitation_angle"]),  # type: ignore[arg-type]
    )
    return echoes[:, idx.to(echoes.device)].unsqueeze(-1)


def _mese_grid(options: Mapping[str, object]) -> torch.Tensor:
    t2 = torch.logspace(math.log10(5.0), math.log10(3000.0), 48, dtype=torch.float64)
    b1 = torch.linspace(0.4, 1.0, 13, dtype=torch.float64)
    return torch.cartesian_prod(t2, b1)


def _mese_check(options: dict[str, object], x: torch.Tensor) -> dict[str, object]:
    esp = options.get("echo_spacing")
    esp_f = float(x.min()) if esp is None else float(esp)  # type: ignore[arg-type]
    if not esp_f > 0:
        raise ParameterError(f"the echo spacing must be positive, got {esp_f} ms")
    k = x.double() / esp_f
    if torch.any((k - torch.round(k)).abs() > 0.01) or torch.any(torch.round(k) < 1):
        raise ParameterError(
            f"multi-echo spin echo needs echo times at multiples of the echo spacing ({esp_f:g} ms); "
            f"got {x.tolist()} (set echo_spacing)"
        )
    for key in ("t1", "refocusing_angle", "excitation_angle"):
        if not float(options[key]) > 0:  # type: ignore[arg-type]
            raise ParameterError(f"{key} must be positive, got {options[key]}")
    return {**options, "echo_spacing": esp_f}


# ---------------------------------------------------------------- MR fingerprinting (FISP)
def _mrf_basis(theta: torch.Tensor, x: torch.Tensor, options: Mapping[str, object], aux: Aux) -> torch.Tensor:
    ti = options.get("inversion_time")
    n_states = options.get("n_states")
    sig = epg_fisp(
        theta[:, 0],
        theta[:, 1],
        flip_angles=x,
        tr=float(options["tr"]),  # type: ignore[arg-type]
        te=float(options["te"]),  # type: ignore[arg-type]
        inversion_time=None if ti is None else float(ti),  # type: ignore[arg-type]
        n_states=None if n_states is None else int(n_states),  # type: ignore[call-overload]
    )
    return sig.unsqueeze(-1)


def mrf_grid(options: Mapping[str, object]) -> torch.Tensor:
    """``(G, 2)`` (T1, T2) pairs in ms of the MRF dictionary, T2 < T1.

    ``options["t1_grid"]`` / ``["t2_grid"]`` (sequences in ms) replace the defaults: 60 T1 values
    log-spaced in 50–5000 ms and 50 T2 values in 5–2000 ms.
    """
    t1 = options.get("t1_grid")
    t2 = options.get("t2_grid")
    t1v = (
        torch.as_tensor(np.asarray(t1, np.float64))
        if t1 is not None
        else torch.logspace(math.log10(50.0), math.log10(5000.0), 60, dtype=torch.float64)
    )
    t2v = (
        torch.as_tensor(np.asarray(t2, np.float64))
        if t2 is not None
        else torch.logspace(math.log10(5.0), math.log10(2000.0), 50, dtype=torch.float64)
    )
    pairs = torch.cartesian_prod(t1v.reshape(-1), t2v.reshape(-1))
    return pairs[pairs[:, 1] < pairs[:, 0]]


def _mrf_check(options: dict[str, object], x: torch.Tensor) -> dict[str, object]:
    return check_tr_schedule(
        options,
        x,
        missing_tr="MR fingerprinting needs the repetition time of the schedule: give tr (ms)",
        too_few="MR fingerprinting needs a flip-angle schedule of several frames",
    )


EPG_MODELS: dict[str, SignalModel] = {
    "mese": SignalModel(
        info=ModelInfo(
            name="mese",
            title="Multi-echo spin echo (EPG: stimulated echoes, B1)  M0·EPG(T2, B1; TE)",
            times_label="TE",
            times_unit="ms",
            parameters=("t2", "m0", "b1"),
            units={"t2": "ms", "m0": "a.u.", "b1": ""},
            options={"t1": 1000.0, "echo_spacing": None, "refocusing_angle": 180.0, "excitation_angle": 90.0},
            main="t2",
        ),
        linear=("m0",),
        nonlinear=("t2", "b1"),
        lower=(0.5, 0.3),
        upper=(10000.0, 1.0),
        basis=_mese_basis,
        grid=_mese_grid,
        check=_mese_check,
    ),
    "mrf": SignalModel(
        info=ModelInfo(
            name="mrf",
            title="MR fingerprinting (FISP, EPG dictionary)  M0·FISP(T1, T2; α, TR)",
            times_label="flip angle",
            times_unit="deg",
            parameters=("t1", "t2", "m0"),
            units={"t1": "ms", "t2": "ms", "m0": "a.u.", "correlation": ""},
            options={
                "tr": None,
                "te": 0.0,
                "inversion_time": None,
                "n_states": 64,
                "t1_grid": None,
                "t2_grid": None,
                "rank": None,
                "energy": 0.9999,
            },
            main="t1",
        ),
        linear=("m0",),
        nonlinear=("t1", "t2"),
        lower=(1.0, 0.5),
        upper=(20000.0, 10000.0),
        basis=_mrf_basis,
        grid=mrf_grid,
        abscissa="flip_angles",
        check=_mrf_check,
        dictionary_only=True,
    ),
}
