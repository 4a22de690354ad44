"""MR fingerprinting: FISP dictionary by EPG, then SVD-compressed dictionary matching.

The dictionary holds one EPG FISP signal per (T1, T2) pair of the grid (see
:func:`~recon_engine.qmri.epg_models.mrf_grid`) for the flip-angle schedule and TR of the series.
Each voxel gets the best-correlated atom's T1 and T2, the scale M0, the correlation, R² and the
RMS residual (Ma et al. 2013, Jiang et al. 2015; compression McGivney et al. 2014).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.qmri._model import SignalModel
from recon_engine.qmri._prepare import make_mask
from recon_engine.qmri.epg_models import mrf_grid
from recon_engine.qmri.result import FitResult
from recon_engine.qmri.series import QMRISeries
from recon_engine.solvers._threads import torch_threads
from recon_engine.solvers.dictionary import match_dictionary

__all__ = ["mrf_dictionary", "mrf_dictionary_steps", "mrf_fit_steps"]

_ATOMS_PER_STEP = 1024


def mrf_dictionary_steps(
    model: SignalModel, flip_angles: np.ndarray, options: dict[str, object], device: DeviceLike = "cpu"
) -> Steps[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Simulate the dictionary in chunks of atoms (generator; returns ``(atoms (G, n), {"t1", "t2"})``)."""
    dev = resolve_device(device)
    grid = mrf_grid(options)
    if grid.shape[0] == 0:
        raise DataError("the MRF dictionary grid is empty (every T2 ≥ T1)")
    x = torch.as_tensor(flip_angles, dtype=torch.float32, device=dev)
    theta = grid.to(dev, torch.float32)
    chunks = []
    total = -(-theta.shape[0] // _ATOMS_PER_STEP)
    for i in range(total):
        part = theta[i * _ATOMS_PER_STEP : (i + 1) * _ATOMS_PER_STEP]
        with torch_threads(1 if dev.type == "cpu" else None):  # a long chain of small EPG operations
            chunks.append(model.basis(part, x, options, {})[..., 0].cpu())
        yield ProgressEvent("dictionary", i + 1, total)
    atoms = torch.cat(chunks).numpy()
    return atoms, {"t1": grid[:, 0].numpy().astype(np.float32), "t2": grid[:, 1].numpy().astype(np.float32)}


def mrf_dictionary(
    flip_angles: Sequence[float] | np.ndarray,
    tr: float,
    *,
    te: float = 0.0,
    inversion_time: float | None = None,
    t1_grid: Sequence[float] | np.ndarray | None = None,
    t2_grid: Sequence[float] | np.ndarray | None = None,
    n_states: int | None = 64,
    device: DeviceLike = "cpu",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """FISP dictionary for a flip-angle schedule.

    Parameters
    ----------
    flip_angles
        ``(n,)`` schedule in degrees.
    tr, te
        Repetition and echo time in ms.
    inversion_time
        Delay (ms) after an initial inversion, or None for no inversion.
    t1_grid, t2_grid
        Grid values in ms (defaults: 60 T1 in 50–5000 ms, 50 T2 in 5–2000 ms, pairs with T2 < T1).
    n_states
        EPG states kept (None: all).
    device
        Where to simulate.

    Returns
    -------
    atoms : np.ndarray
        float32 ``(G, n)``.
    parameters : dict[str, np.ndarray]
        ``"t1"``, ``"t2"``: ``(G,)`` in ms.
    """
    from recon_engine.progress import run
    from recon_engine.qmri.models import get_model

    opts: dict[str, object] = {
        **get_model("mrf").info.options,
        "tr": tr, "te": te, "inversion_time": inversion_time, "t1_grid": t1_grid, "t2_grid": t2_grid,
        "n_states": n_states,
    }  # fmt: skip
    return run(mrf_dictionary_steps(get_model("mrf"), np.asarray(flip_angles, np.float64), opts, device))


def mrf_fit_steps(
    series: QMRISeries,
    model: SignalModel,
    flip_angles: np.ndarray,
    options: dict[str, object],
    mask: np.ndarray | None,
    mask_threshold: float | None,
    device: DeviceLike,
) -> Steps[FitResult]:
    """Dictionary simulation and matching of a fingerprinting series (used by :func:`fit_steps`)."""
    spatial = series.spatial_shape
    flat = series.data.reshape(series.n, -1)
    keep = make_mask(flat, spatial, mask, mask_threshold)
    if not keep.any():
        raise DataError(
            "no voxel to match: every voxel is NaN, zero, outside the mask or below the threshold"
        )
    atoms, params = yield from mrf_dictionary_steps(model, flip_angles, options, device)
    signals = flat[:, keep].T
    yield ProgressEvent("matching", 0, 1)
    match = match_dictionary(
        signals, atoms, params, rank=options.get("rank"), energy=options.get("energy"), device=device,  # type: ignore[arg-type]
    )  # fmt: skip
    m0 = match.m0
    s = signals.astype(np.complex128 if np.iscomplexobj(signals) else np.float64)
    if np.iscomplexobj(m0):
        s = (s * np.exp(-1j * np.angle(m0))[:, None]).real
        m0 = np.abs(m0)
    ss = np.sum(np.abs(signals) ** 2, axis=1)
    ss_tot = np.sum(np.abs(signals - signals.mean(1, keepdims=True)) ** 2, axis=1)
    ss_res = ss * (1.0 - match.correlation.astype(np.float64) ** 2)
    values = {
        "t1": match.parameters["t1"],
        "t2": match.parameters["t2"],
        "m0": m0.astype(np.float32),
        "correlation": match.correlation,
        "r2": (1.0 - ss_res / np.maximum(ss_tot, 1e-30)).astype(np.float32),
        "residual": np.sqrt(ss_res / series.n).astype(np.float32),
    }
    maps = {}
    for k, v in values.items():
        out = np.full(keep.shape, np.nan, np.float32)
        out[keep] = v
        maps[k] = out.reshape(spatial)
    observed = np.full((series.n, keep.size), np.nan, np.float32)
    observed[:, keep] = s.T
    units = {k: model.info.units.get(k, "") for k in maps}
    units.update({"r2": "", "residual": "a.u."})
    preview = maps["t1"][0] if len(spatial) == 3 else maps["t1"]
    yield ProgressEvent("matching", 1, 1, preview=preview.copy(), metrics={"rank": float(match.rank)})
    return FitResult(
        model=model.info.name,
        maps=maps,
        units=units,
        sd={},
        mask=keep.reshape(spatial),
        times=flip_angles.copy(),
        options={**options, "rank": match.rank},
        observed_data=observed.reshape((series.n, *spatial)),
        magnitude=False,
    )
