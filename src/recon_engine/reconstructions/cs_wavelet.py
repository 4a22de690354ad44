"""Wavelet-ℓ1 regularised SENSE by FISTA (see :mod:`recon_engine.reconstructions.cs`)."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import torch

from recon_engine.calibration.coil_maps import CoilMapMethod
from recon_engine.calibration.density import DensityMethod
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.operators.wavelet import WAVELETS, WaveletName, WaveletOp
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions._cs_common import warm_start
from recon_engine.reconstructions._encoding import Encoding, lipschitz_steps
from recon_engine.reconstructions._iterative import (
    MapsArray,
    SolverState,
    check_options,
    prepare,
    solve_all,
)
from recon_engine.solvers.fista import fista, soft_threshold

__all__ = ["wavelet_steps"]


def wavelet_steps(
    kspace: KSpace,
    *,
    coil_maps: CoilMapMethod = "espirit",
    maps: MapsArray | None = None,
    iterations: int = 50,
    tolerance: float = 1e-5,
    regularization_weight: float = 1e-3,
    wavelet: WaveletName = "db4",
    levels: int | None = None,
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    coil_map_options: Mapping[str, Any] | None = None,
    keep_iterates: bool = False,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """Wavelet-ℓ1 regularised SENSE by FISTA, as a progress generator.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)``, Cartesian or with a trajectory.
    coil_maps, maps
        Estimated maps by method name, or given maps ``(n_maps, coils, z, y, x)``.
    iterations
        Maximum FISTA iterations (≥ 1).
    tolerance
        Stop when the relative change of the coefficients is at most this.
    regularization_weight
        ``λ ≥ 0`` relative to ``max|Aᴴy|`` (see the module docstring).
    wavelet, levels
        Daubechies wavelet ``"db1"``–``"db4"`` and decomposition levels (default: automatic,
        ≤ 4) over ``(y, x)`` or ``(z, y, x)``.
    prewhitening, density, coil_map_options, keep_iterates, device
        As for :func:`~recon_engine.reconstructions.sense.sense_steps`.

    Returns
    -------
    ImageData
        complex64 ``(*other, n_maps, z, y, x)``; ``meta`` as for SENSE.
    """
    check_options(iterations, tolerance, regularization_weight=regularization_weight)
    if wavelet not in WAVELETS:
        raise ParameterError(f"unknown wavelet {wavelet!r}; choose one of {sorted(WAVELETS)}")
    problem = yield from prepare(
        kspace,
        coil_maps=coil_maps,
        maps=maps,
        prewhitening=prewhitening,
        device=device,
        density=density,
        coil_map_options=coil_map_options,
    )
    w = WaveletOp(tuple(problem.maps.shape[-3:]), wavelet=wavelet, levels=levels)

    def solve(enc: Encoding) -> Generator[ProgressEvent | SolverState, None, torch.Tensor]:
        lam = regularization_weight * enc.scale

        def normal(c: torch.Tensor) -> torch.Tensor:
            return w(enc.normal(w.adjoint(c)))

        rhs = w(enc.rhs)
        c0 = w((yield from warm_start(enc)))
        lipschitz = yield from lipschitz_steps(normal, rhs)
        coefficients = yield from fista(
            normal,
            rhs,
            lambda v, t: soft_threshold(v, lam * t),
            x0=c0,
            regularizer=lambda c: lam * float(c.abs().sum()),
            step_size=1.0 / lipschitz,
            max_iterations=iterations,
            tolerance=tolerance,
            constant=enc.constant,
        )
        return w.adjoint(coefficients)

    meta: dict[str, object] = {
        "iterations": int(iterations),
        "regularization_weight": float(regularization_weight),
        "wavelet": wavelet,
        "levels": w.levels,
        "weight_scaling": "relative to max|A^H y|",
    }
    return (
        yield from solve_all(
            problem,
            "wavelet",
            solve,
            int(iterations),
            meta,
            state_image=w.adjoint,
            keep_iterates=keep_iterates,
        )
    )
