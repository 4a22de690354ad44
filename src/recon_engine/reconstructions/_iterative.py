"""Set-up shared by the iterative reconstructions (SENSE, TV, wavelet).

One place for: parameter checks, prewhitening, coil maps (estimated or given) and the
:class:`~recon_engine.reconstructions._encoding.Problem` (:func:`prepare_steps`), and the loop that
turns solver states into throttled progress events and assembles the result
(:func:`solve_all_steps`). The encoding operator of each job and the scale of the regularization
weight live in :mod:`recon_engine.reconstructions._encoding`. Each method only says which
solver to run on an :class:`~recon_engine.reconstructions._encoding.Encoding`.

Jobs: without joint frames every volume of ``other`` is solved on its own; with joint frames
(temporal TV) the first ``other`` axis is solved as one problem per index of the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import Any, cast

import numpy as np
import torch

from recon_engine.calibration.coil_maps import (
    COIL_MAP_METHODS,
    CoilMapMethod,
    check_coil_maps,
    estimate_coil_maps,
)
from recon_engine.calibration.density import DENSITY_METHODS, DensityMethod
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.nufft import check_trajectory
from recon_engine.progress import PreviewThrottle, ProgressEvent, Steps
from recon_engine.reconstructions._common import (
    assemble_image,
    nufft_image_shape,
    preview_of,
    prewhiten_with_noise_scan,
)
from recon_engine.reconstructions._encoding import Encoding, Map, Problem
from recon_engine.reconstructions.auto import uses_nufft
from recon_engine.reconstructions.direct import average_kspace
from recon_engine.reconstructions.nufft_direct import noncartesian_arrays
from recon_engine.solvers.state import SolverState

__all__ = ["MapsArray", "Solve", "SolverState", "check_options", "prepare_steps", "solve_all_steps"]

#: Coil maps given as an array ``(n_maps, coils, z, y, x)``.
MapsArray = np.ndarray | torch.Tensor
#: The state a solver yields each iteration.
#: A method's solve: yields its own set-up events and solver states, returns ``x``.
Solve = Callable[[Encoding], Generator[ProgressEvent | SolverState, None, torch.Tensor]]


def check_options(iterations: int, tolerance: float, **weights: float) -> None:
    """Raise :class:`ParameterError` for ``iterations < 1``, ``tolerance < 0`` or a negative weight."""
    if int(iterations) != iterations or iterations < 1:
        raise ParameterError(f"iterations must be an integer ≥ 1, got {iterations!r}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ParameterError(f"tolerance must be ≥ 0, got {tolerance!r}")
    for name, value in weights.items():
        if not math.isfinite(value) or value < 0:
            raise ParameterError(f"{name} must be a finite number ≥ 0 (λ ≥ 0), got {value!r}")


def prepare_steps(
    kspace: KSpace,
    *,
    coil_maps: CoilMapMethod | str,
    maps: MapsArray | None,
    prewhitening: bool,
    device: DeviceLike,
    density: DensityMethod | str = "pipe",
    joint_frames: bool = False,
    coil_map_options: Mapping[str, Any] | None = None,
) -> Steps[Problem]:
    """Prewhiten, merge averages, get the coil maps; yields set-up events, returns a :class:`Problem`.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)``; Cartesian, or with a trajectory in cycles per recon FOV.
    coil_maps
        ``"espirit"``, ``"walsh"`` or ``"inati"``: estimated from the prewhitened data by
        :func:`recon_engine.calibration.coil_maps.estimate_coil_maps`, one set per volume.
    maps
        Given maps instead (``coil_maps`` is then unused): complex ``(n_maps, coils, z, y, x)``
        (also ``(coils, z, y, x)`` or with leading axes broadcastable to ``other``) in the coil
        space of the raw data, on the encoded grid ``(k2, k1, k0)`` for Cartesian data, on the
        recon matrix for non-Cartesian data. They are prewhitened along with the data.
    prewhitening
        Decorrelate the coils with the noise scan.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    density
        Non-Cartesian data weighting ``W``: ``"pipe"``, ``"voronoi"`` or ``"none"`` (plain least squares).
    joint_frames
        Solve the first ``other`` axis jointly (temporal/contrast regularization).
    coil_map_options
        Keyword options of ``estimate_coil_maps`` (``kernel_size``, ``calibration_size``,
        ``threshold``, ``crop``, ``n_maps``) when maps are estimated.
    """
    if density not in DENSITY_METHODS:
        raise ParameterError(f"unknown density compensation {density!r}; choose one of {DENSITY_METHODS}")
    if coil_maps not in COIL_MAP_METHODS:
        raise ParameterError(f"unknown coil map method {coil_maps!r}; choose one of {COIL_MAP_METHODS}")
    dev = resolve_device(device)
    raw, whitened = prewhiten_with_noise_scan(
        kspace.data.to(dev, torch.complex64), kspace.noise, prewhitening, stacklevel=4
    )
    white = replace(kspace, data=raw, noise=None)
    traj: torch.Tensor | None = None
    if uses_nufft(kspace):
        data, traj, mask, axes = noncartesian_arrays(white)
        shape = nufft_image_shape(kspace, traj)
        check_trajectory(traj, shape)
    else:
        if not kspace.header.is_cartesian:
            raise ParameterError("non-Cartesian data without a trajectory cannot be reconstructed")
        data, axes = average_kspace(white)
        mask = kspace.sampling_mask.to(dev, torch.bool)
        if "average" in kspace.other_axes and mask.ndim == kspace.data.ndim - 2:
            mask = mask.any(dim=kspace.other_axes.index("average"))
        shape = tuple(data.shape[-3:])
    if not bool(torch.isfinite(torch.view_as_real(data)).all()):
        raise DataError("k-space contains NaN or infinite values")
    if joint_frames and (len(axes) == 0 or data.shape[0] == 1):
        joint_frames = False
    yield ProgressEvent("coil maps", 0, 0)
    if maps is None:
        options = dict(coil_map_options or {})
        sens = estimate_coil_maps(white, method=cast(CoilMapMethod, coil_maps), device=dev, **options)
    else:
        arr = maps.copy() if isinstance(maps, np.ndarray) and not maps.flags.writeable else maps
        sens = check_coil_maps(torch.as_tensor(arr).to(dev, torch.complex64), kspace)
        if whitened:
            sens, _ = prewhiten_with_noise_scan(sens, kspace.noise, True)
    lead, other = tuple(sens.shape[:-5]), tuple(data.shape[:-4])
    if len(lead) > len(other) or any(
        m not in (1, o) for m, o in zip(reversed(lead), reversed(other), strict=False)
    ):
        raise DataError(
            f"coil maps {tuple(sens.shape)} have leading axes that do not match the data's other axes {other}"
        )
    return Problem(
        kspace=kspace,
        data=data,
        mask=mask,
        trajectory=traj,
        maps=sens.to(dev, torch.complex64),
        other_axes=axes,
        image_shape=tuple(shape),
        device=dev,
        whitened=whitened,
        density=cast(DensityMethod, density),
        joint_frames=joint_frames,
    )


def solve_all_steps(
    problem: Problem,
    method: str,
    solve: Solve,
    iterations: int,
    meta: dict[str, object],
    *,
    state_image: Map | None = None,
    keep_iterates: bool = False,
) -> Steps[ImageData]:
    """Run ``solve`` on every job; yield throttled events; return the image in recon space.

    Events: ``iteration`` counts solver iterations over all jobs (``total = jobs ×
    iterations``; a job that meets its tolerance early jumps ahead), ``metrics`` holds
    ``"residual"`` (CG: relative residual; FISTA/PDHG: relative change of ``x``) and
    ``"objective"``; a preview (RSS over map sets of the central slice of the first frame,
    recon space) at most 10 times a second and at the end of every job. ``state_image`` maps
    a solver iterate to the image ``(frames, n_maps, z, y, x)`` when they differ (wavelet
    coefficients); ``solve`` itself returns the image. With ``keep_iterates`` every iterate
    of the first job is kept (recon space, on the solver's device until the end) and
    returned as ``meta["iterates"]``: complex64 ``(iterations, n_maps, z, y, x)``.
    """
    jobs = problem.jobs()
    total = len(jobs) * iterations
    throttle = PreviewThrottle()
    residuals: list[list[float]] = []
    objectives: list[list[float]] = []
    out: torch.Tensor | None = None
    kept: list[torch.Tensor] = []
    for j, sel in enumerate(jobs):
        stage = f"{method} {j + 1}/{len(jobs)}"
        yield ProgressEvent(stage, j * iterations, total)
        enc = problem.encoding(sel)
        res: list[float] = []
        obj: list[float] = []
        gen = solve(enc)
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                x: torch.Tensor = stop.value
                break
            if isinstance(item, ProgressEvent):
                yield ProgressEvent(f"{stage}: {item.stage}", j * iterations, total, None, item.metrics)
                continue
            res.append(item.residual)
            obj.append(item.objective)
            preview = None
            keep, show = keep_iterates and j == 0, throttle.ready()
            if keep or show:
                image = item.x if state_image is None else state_image(item.x)
                recon = enc.to_recon(image[0])
                if keep:
                    kept.append(recon.detach().clone())
                if show:
                    preview = preview_of(recon)
            metrics = {"residual": res[-1], "objective": obj[-1]}
            yield ProgressEvent(stage, j * iterations + item.iteration, total, preview, metrics)
        img = enc.to_recon(x)
        if out is None:
            out = torch.zeros(*problem.other, *img.shape[1:], dtype=torch.complex64, device=img.device)
        out[sel] = img if problem.joint_frames else img[0]
        residuals.append(res)
        objectives.append(obj)
        metrics = {"residual": res[-1], "objective": obj[-1]} if res else {}
        yield ProgressEvent(stage, (j + 1) * iterations, total, preview_of(img[0]), metrics)
    assert out is not None
    vols = list(out.reshape(-1, *out.shape[-4:]).unbind(0))
    info = {
        "method": method,
        "transform": problem.transform,
        "prewhitened": problem.whitened,
        "device": str(problem.device),
        "n_maps": int(problem.maps.shape[-5]),
        "coil_maps": problem.maps.detach().to("cpu").numpy().astype(np.complex64),
        "residuals": residuals,
        "objectives": objectives,
        **meta,
    }
    if problem.transform == "nufft":
        info["density"] = problem.density
    if keep_iterates:
        info["iterates"] = torch.stack(kept).to("cpu", torch.complex64).numpy() if kept else None
    return assemble_image(problem.kspace, vols, problem.other, problem.other_axes, info)
