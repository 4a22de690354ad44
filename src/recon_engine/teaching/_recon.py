"""The explorer's reconstructions: the engine's own SENSE, GRAPPA, CS, g-factor and partial Fourier.

Nothing is re-implemented here: the 2D arrays become KSpace containers
(:mod:`~recon_engine.teaching._container`) and go to
:func:`~recon_engine.reconstructions.sense.sense_steps`,
:func:`~recon_engine.reconstructions.grappa.grappa_steps`,
:func:`~recon_engine.reconstructions.cs.wavelet_steps` / ``tv_steps``,
:func:`~recon_engine.reconstructions.gfactor.gfactor_steps` and
:func:`~recon_engine.calibration.partial_fourier.pocs_partial_fourier` / ``homodyne``.

Iteration movie: the engine's iterative reconstructions keep every solver iterate when asked
(``keep_iterates=True`` → ``meta["iterates"]``), so the movie costs one run of ``n`` iterations;
each iterate then goes through the same partial Fourier fill, window and filter as the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from recon_engine.calibration.partial_fourier import homodyne, pocs_partial_fourier
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import DataError, ParameterError
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions.cs import tv_steps, wavelet_steps
from recon_engine.reconstructions.gfactor import GFactorMethod, gfactor_steps
from recon_engine.reconstructions.grappa import grappa_steps
from recon_engine.reconstructions.sense import sense_steps
from recon_engine.teaching._container import cartesian_kspace, maps_layout
from recon_engine.teaching._fft import fft2c, ifft2c, tensor
from recon_engine.teaching.acquire import CartesianAcquisition, Masks
from recon_engine.teaching.settings import ExplorerSettings
from recon_engine.teaching.source import ExplorerSource

__all__ = ["finish_kspace", "gfactor_for_steps", "iterative_steps", "recon_steps", "runner"]

#: ``(iterations, tolerance, keep_iterates) → Steps[ImageData]``: the reconstruction.
Runner = Callable[[int, float, bool], Steps[ImageData]]


def _pf_fill(k: torch.Tensor, pf_range: np.ndarray, method: str) -> torch.Tensor:
    """Partial Fourier fill of centred k-space ``(c, ky, kx)`` acquired over ``pf_range``."""
    sampled = torch.from_numpy(np.ascontiguousarray(pf_range))[None, None]
    try:
        if method == "pocs":
            out = pocs_partial_fourier(k[:, None], sampled, device="cpu")
        else:
            out = homodyne(k[:, None], sampled, device="cpu")
    except DataError as exc:
        raise ParameterError(
            f"{method} needs a band of lines on both sides of the k-space centre for its phase estimate: "
            f"raise the partial Fourier fraction above 0.5 (e.g. 5/8 = 0.625) ({exc})"
        ) from None
    return out[:, 0]


def finish_kspace(k: np.ndarray | torch.Tensor, masks: Masks, method: str) -> np.ndarray:
    """Centred k-space ``(c, ky, kx)`` → images ``(c, y, x)``: partial Fourier fill, window, filter."""
    t = tensor(k)
    if masks.pf_range is not None:
        t = _pf_fill(t, masks.pf_range, method)
    return ifft2c(t * torch.from_numpy(masks.post))


def _image(result: ImageData, points: bool) -> np.ndarray:
    data = result.data.detach().to("cpu", torch.complex64)
    return (data[0, :, :, 0] if points else data[0, 0]).numpy()


def iterative_steps(
    run: Runner, iterations: int, keep_iterates: bool, finish: Callable[[ImageData], np.ndarray]
) -> Steps[tuple[np.ndarray, np.ndarray | None]]:
    """Run ``run(iterations)``; with ``keep_iterates`` also every iterate, finished like the result.

    Returns the finished complex64 ``(y, x)`` image and, with ``keep_iterates``, the magnitude of
    every iterate as float32 ``(iterations_run, y, x)`` (fewer than ``iterations`` when the
    solver met its tolerance early; tolerance 0 is used so that it does not).
    """
    if not keep_iterates:
        result = yield from run(iterations, -1.0, False)
        return finish(result), None
    result = yield from run(iterations, 0.0, True)
    kept = result.meta.get("iterates")
    if not isinstance(kept, np.ndarray):
        raise DataError("the solver returned no iterates for the iteration movie")
    frames = []
    lead = (1,) * (result.data.ndim - np.asarray(kept).ndim + 1)
    for k, iterate in enumerate(np.asarray(kept)):
        data = torch.from_numpy(np.ascontiguousarray(iterate)).reshape(*lead, *iterate.shape)
        frames.append(np.abs(finish(replace(result, data=data))).astype(np.float32))
        yield ProgressEvent("iteration movie", k + 1, len(kept), frames[-1] if k == len(kept) - 1 else None)
    return finish(result), np.stack(frames)


def recon_steps(
    source: ExplorerSource,
    s: ExplorerSettings,
    acq: CartesianAcquisition,
    *,
    keep_iterates: bool,
    device: DeviceLike,
) -> Steps[tuple[np.ndarray, np.ndarray | None]]:
    """The reconstruction of settings ``s``: complex64 ``(y, x)`` image and the iterates (or None)."""
    masks = acq.masks
    method = s.partial_fourier_method
    if s.recon == "zero_filled":
        return source.combine(finish_kspace(acq.raw(), masks, method)), None
    if s.recon == "grappa":
        if s.pattern != "regular":
            raise ParameterError(
                f"GRAPPA needs regular undersampling (every R-th line), not the {s.pattern!r} pattern; "
                "use SENSE or CS for it"
            )
        ks = cartesian_kspace(acq.raw(), masks.acquired, masks.calibration, points=False)
        result = yield from grappa_steps(ks, combine="none", prewhitening=False, device=device)
        coils = result.data.detach().to("cpu", torch.complex64)[:, 0]
        return source.combine(finish_kspace(fft2c(coils), masks, method)), None
    points = s.pattern == "poisson_disc"
    ks = cartesian_kspace(acq.raw(), masks.acquired, masks.calibration, points=points)
    maps = maps_layout(source.coil_maps(), points)
    run = runner(ks, maps, s, device)

    def finish(result: ImageData) -> np.ndarray:
        return finish_kspace(fft2c(_image(result, points))[None], masks, method)[0]

    return (yield from iterative_steps(run, int(s.iterations), keep_iterates, finish))


def runner(ks: KSpace, maps: np.ndarray, s: ExplorerSettings, device: DeviceLike) -> Runner:
    """``(iterations, tolerance, keep_iterates) → Steps[ImageData]`` of SENSE or CS.

    A negative tolerance means the method's default.
    """

    def run(iterations: int, tolerance: float, keep_iterates: bool) -> Steps[ImageData]:
        opts: dict[str, object] = {"tolerance": tolerance} if tolerance >= 0 else {}
        common = {
            "maps": maps,
            "iterations": iterations,
            "prewhitening": False,
            "keep_iterates": keep_iterates,
            "device": device,
        }
        if s.recon == "sense":
            return sense_steps(ks, regularization_weight=s.regularization, **common, **opts)  # type: ignore[arg-type]
        cs = wavelet_steps if s.cs_regularizer == "wavelet" else tv_steps
        return cs(ks, regularization_weight=s.regularization, **common, **opts)  # type: ignore[arg-type]

    return run


def gfactor_for_steps(
    source: ExplorerSource, s: ExplorerSettings, masks: Masks, *, device: DeviceLike
) -> Steps[np.ndarray]:
    """SENSE g-factor map float32 ``(y, x)`` of the acquisition's sampling.

    Analytic (Pruessmann 1999) for a regular integer-R lattice over the full ``ky`` range (the
    calibration block is ignored: the lattice's g-factor; when ``N`` is not a multiple of ``R``
    the exact per-column g-factor of the same lattice), pseudo-replica otherwise (random and
    variable-density lines, Poisson disc: the noise of the iterative reconstruction shown).
    """
    maps = source.coil_maps()
    ny = maps.shape[1]
    r = float(s.acceleration)
    full_range = s.partial_fourier == 1.0 and s.phase_resolution == 1.0
    if s.pattern == "regular" and r == round(r) and full_range:
        # N not a multiple of R: no exact fold sets, but the same lattice of whole lines has an
        # exact per-column g-factor (one batched inversion; deterministic, unlike pseudo-replica)
        method: GFactorMethod = "analytic" if ny % round(r) == 0 else "exact"
        g = yield from gfactor_steps(maps[:, None], round(r), method=method, device=device)
        return g[0].to("cpu").numpy().astype(np.float32)
    points = s.pattern == "poisson_disc"
    sampling = masks.acquired if points else np.asarray(masks.acquired.any(axis=1))[None]
    g = yield from gfactor_steps(
        maps_layout(maps, points),
        sampling,
        method="pseudo_replica",
        replicas=int(s.gfactor_replicas),
        iterations=int(s.iterations),
        seed=int(s.seed),
        device=device,
    )
    g = g.to("cpu")
    return (g[:, :, 0] if points else g[0]).numpy().astype(np.float32)
