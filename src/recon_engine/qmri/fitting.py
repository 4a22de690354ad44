"""Voxel-wise fitting of a signal model to an image series: maps, R², residual, CRLB SD.

Method (all voxels at once, CPU or GPU): normalize each voxel, start from the best point of
a grid of the nonlinear parameters with closed-form linear coefficients (variable
projection), then refine all parameters with batched Levenberg–Marquardt within bounds.
Magnitude inversion-recovery data are polarity-restored (two candidates around the signal
minimum, the better one kept). MR fingerprinting is matched to a dictionary instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.progress import PreviewThrottle, ProgressCallback, ProgressEvent, Steps, run
from recon_engine.qmri._prepare import abscissa, make_mask, real_signals, resolve_options
from recon_engine.qmri._voxelfit import VoxelFit, fit_voxels_steps
from recon_engine.qmri.models import get_model
from recon_engine.qmri.result import FitResult, assemble
from recon_engine.qmri.series import QMRISeries, as_values
from recon_engine.solvers._threads import torch_threads

__all__ = ["FitResult", "fit", "fit_steps"]

_CHUNK = 262144


def _as_series(
    series: QMRISeries | np.ndarray, times: object, flip_angles: object, tr: float | None
) -> QMRISeries:
    if isinstance(series, QMRISeries):
        s = QMRISeries(series.data, series.times, series.flip_angles, series.tr, series.affine, series.source)
    else:
        arr = np.asarray(series)
        if arr.ndim not in (3, 4):
            raise DataError(f"a qMRI series must be (n, y, x) or (n, z, y, x), got shape {arr.shape}")
        s = QMRISeries(data=arr, source="array")
    t = as_values(times, "times")  # type: ignore[arg-type]
    fa = as_values(flip_angles, "flip angles")  # type: ignore[arg-type]
    s.times = t if t is not None else s.times
    s.flip_angles = fa if fa is not None else s.flip_angles
    s.tr = float(tr) if tr is not None else s.tr
    return s


def _aux_maps(
    spec_aux: Sequence[str], options: dict[str, object], spatial: tuple[int, ...], keep: np.ndarray
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in spec_aux:
        value = options.get(name)
        if value is None:
            continue
        arr = np.asarray(value, dtype=np.float32)
        if arr.ndim == 0:
            arr = np.full(spatial, float(arr), np.float32)
        if arr.shape != spatial:
            raise DataError(f"the {name} map has shape {arr.shape} but the images are {spatial}")
        out[name] = arr
        keep &= np.isfinite(arr.reshape(-1))
        options[name] = "map"
    return out


def fit_steps(
    series: QMRISeries | np.ndarray,
    model: str,
    *,
    times: Sequence[float] | np.ndarray | str | None = None,
    flip_angles: Sequence[float] | np.ndarray | str | None = None,
    tr: float | None = None,
    mask: np.ndarray | None = None,
    mask_threshold: float | None = 0.05,
    max_iterations: int = 30,
    device: DeviceLike = "auto",
    cpu_threads: int | None = 1,
    **model_options: object,
) -> Steps[FitResult]:
    """Fit a signal model voxel by voxel (generator with progress and map previews).

    Parameters
    ----------
    series
        :class:`QMRISeries` or an array ``(n, [z,] y, x)`` (real or complex).
    model
        One of :data:`~recon_engine.qmri.MODEL_NAMES`.
    times
        ``(n,)`` TI/TE/saturation delays in ms (override the series').
    flip_angles
        ``(n,)`` flip angles in degrees (VFA, MRF schedule).
    tr
        Repetition time in ms (VFA, MRF).
    mask
        bool spatial mask of voxels to fit (combined with the threshold).
    mask_threshold
        Keep voxels whose largest absolute signal over the contrasts is at least this
        fraction of the image's largest; None fits every finite voxel. Voxels with NaN or
        infinite values are always left out (NaN in the maps).
    max_iterations
        Levenberg–Marquardt iterations.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    cpu_threads
        torch intra-op threads while the fit computes on the CPU (restored at every yield);
        None keeps torch's setting. The default 1: the fit is a long chain of small
        memory-bound tensor operations, which a second thread speeds up little on an idle
        machine but slows down 5-20x when the cores are shared (OpenMP barriers).
    **model_options
        Model options (see :func:`~recon_engine.qmri.model_info`), e.g. ``signed=True``,
        ``offset=True``, ``b1=map``.

    Yields
    ------
    ProgressEvent
        ``preview``: float32 map of the main parameter (first spatial slice);
        ``metrics``: ``{"cost": Σ‖r‖², "active": voxels not yet converged}``.

    Returns
    -------
    FitResult

    Raises
    ------
    ParameterError
        Unknown model or option, missing or non-positive times.
    DataError
        Number of times ≠ number of images, wrong shapes, no voxel to fit.
    """
    spec = get_model(model)
    s = _as_series(series, times, flip_angles, tr)
    opts = resolve_options(spec, dict(model_options))
    if "tr" in opts and opts["tr"] is None:
        opts["tr"] = s.tr
    x_np = abscissa(spec, s)
    opts = spec.check(opts, torch.as_tensor(x_np))
    _check_enough_samples(spec, x_np)
    if spec.dictionary_only:
        from recon_engine.qmri.mrf import mrf_fit_steps

        return (yield from mrf_fit_steps(s, spec, x_np, opts, mask, mask_threshold, device))
    dev = resolve_device(device)
    spatial = s.spatial_shape
    flat = s.data.reshape(s.n, -1)
    keep = make_mask(flat, spatial, mask, mask_threshold)
    aux_np = _aux_maps(spec.aux, opts, spatial, keep)
    if not keep.any():
        raise DataError(
            "no voxel to fit: every voxel is NaN, zero, outside the mask or below the mask threshold"
        )
    y_np, signed = real_signals(flat[:, keep].T, x_np, spec, opts.get("signed"))
    if "signed" in opts:
        opts["signed"] = signed
    x = torch.as_tensor(x_np, dtype=torch.float32, device=dev)
    n_vox = y_np.shape[0]
    n_chunks = -(-n_vox // _CHUNK)
    total = n_chunks * (max_iterations + 1)
    main = spec.info.main
    throttle = PreviewThrottle()
    preview_map = np.full(spatial, np.nan, np.float32).reshape(-1)
    where = np.flatnonzero(keep)
    parts: list[VoxelFit] = []
    yield ProgressEvent("start values", 0, total)
    for ci in range(n_chunks):
        sl = slice(ci * _CHUNK, min(n_vox, (ci + 1) * _CHUNK))
        y = torch.as_tensor(y_np[sl], device=dev)
        aux = {k: torch.as_tensor(v.reshape(-1)[keep][sl], device=dev) for k, v in aux_np.items()}
        previews: list[Callable[[], dict[str, torch.Tensor]]] = []
        gen = fit_voxels_steps(
            spec, y, x, opts, aux, magnitude=not signed and spec.polarity, max_iterations=max_iterations,
            preview=previews,
        )  # fmt: skip
        while True:
            try:
                with torch_threads(cpu_threads if dev.type == "cpu" else None):
                    state = next(gen)
            except StopIteration as stop:
                parts.append(stop.value)
                break
            pv = None
            if throttle.ready() and previews:
                preview_map[where[sl]] = previews[-1]()[main].detach().cpu().numpy()
                full = preview_map.reshape(spatial)
                pv = (full[0] if len(spatial) == 3 else full).copy()
            previews.clear()
            metrics = {"cost": state.cost, "active": float(state.n_active)}
            yield ProgressEvent("fitting", ci * (max_iterations + 1) + state.iteration, total, pv, metrics)
    result = assemble(spec.info.name, parts, keep, spatial, x_np, opts, aux_np, not signed and spec.polarity)
    return drop_failed_voxels(result)


def _check_enough_samples(spec: Any, x: np.ndarray) -> None:
    """At least as many distinct sampling points (TE, TI, ...) as the model has free parameters."""
    if spec.dictionary_only:
        return
    free = len(spec.linear) + len(spec.nonlinear)
    rows = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    distinct = len(np.unique(np.round(rows, 9), axis=0))
    if distinct < free:
        names = ", ".join((*spec.nonlinear, *spec.linear))
        raise ParameterError(
            f"the {spec.info.name} model has {free} free parameters ({names}) but the series has only "
            f"{distinct} distinct {spec.info.times_label} value(s) of {len(rows)} images; "
            f"it needs at least {free}"
        )


def drop_failed_voxels(result: FitResult) -> FitResult:
    """Voxels whose fit gave a non-finite parameter become NaN everywhere, outside the mask.

    Such voxels (all-zero or saturated signals, degenerate curves) would otherwise carry ``inf``
    into the written maps; SD maps keep their voxels but an infinite SD (a parameter the data
    do not determine) becomes NaN. The number of failed voxels is reported by a ``UserWarning`` (one line in
    ``mrrecon``, a notification in the GUI) and kept in ``result.options["failed_voxels"]``.

    Parameters
    ----------
    result
        A fit result; its maps and SD maps are spatial ``(y, x)`` or ``(z, y, x)`` float arrays.

    Returns
    -------
    FitResult
        The same object, changed in place.
    """
    for sd in result.sd.values():  # an unidentifiable parameter has no finite CRLB: undefined, not ∞
        sd[~np.isfinite(sd)] = np.nan
    bad = np.zeros(result.mask.shape, bool)
    for a in result.maps.values():
        bad |= result.mask & ~np.isfinite(a)
    n = int(bad.sum())
    result.options["failed_voxels"] = n
    if n:
        for a in (*result.maps.values(), *result.sd.values()):
            a[bad] = np.nan
        result.mask[bad] = False
        warnings.warn(
            f"{n} of {int(result.mask.sum()) + n} fitted voxels gave non-finite values (zero or "
            "degenerate signal); they are set to NaN and left out of the mask",
            UserWarning,
            stacklevel=3,
        )
    return result


def fit(
    series: QMRISeries | np.ndarray,
    model: str,
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> FitResult:
    """:func:`fit_steps` run to the end; returns the :class:`FitResult`.

    Parameters
    ----------
    series
        The image series ``(n, [z,] y, x)`` (see :func:`fit_steps`).
    model
        Signal model name (``"ir"``, ``"t2"``, ...).
    progress
        Optional callable receiving every :class:`~recon_engine.progress.ProgressEvent`.
    **options
        The keyword options of :func:`fit_steps` (``times``, ``mask_threshold``, ...).

    Returns
    -------
    FitResult
        Parameter maps ``(z, y, x)`` and fit quality maps.
    """
    return run(fit_steps(series, model, **options), progress)
