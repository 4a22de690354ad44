"""Compressed sensing: total variation (PDHG) and wavelet-ℓ1 (FISTA) on the SENSE model.

Problems (``A`` the SENSE encoding of :mod:`~recon_engine.reconstructions.sense`):

- TV: ``min_x ½‖Ax − y‖² + λ‖∇_s x‖₂,₁ + λ_t‖∇_t x‖₁`` (isotropic spatial TV over ``(y, x)`` or
  ``(z, y, x)``; optional TV along the first ``other`` axis, frames solved jointly), by
  Chambolle–Pock with ``G(x) = ½‖Ax − y‖²`` and ``K = [∇_s; ∇_t]``. ``prox_{τG}`` solves
  ``(AᴴA + I/τ)x = Aᴴy + v/τ`` by at most 10 CG iterations started at ``v`` (with the Toeplitz
  normal operator for non-Cartesian data). Putting the data term in ``G`` instead of in ``K``
  spares the iteration the conditioning of SENSE. At R = 4 (64², 8 coils, noise σ = 0.01,
  λ = 1e-3) the data-in-``K`` variant reached objective 1.1740 (NRMSE 0.240) after 200
  iterations (200 applications of ``A`` and ``Aᴴ``), this one 1.1704 (0.214) after 20 and
  1.1666 (0.173) after 50 (≤ 11 applications of ``AᴴA`` each; optimum ≈ 1.1654, NRMSE 0.147).
  Steps: ``‖K‖² < 4·(number of difference directions)``,
  ``τ = r/‖K‖``, ``σ = 0.99/(r‖K‖)`` with ``r = 1/√λ_rel`` (clipped to ``[1, 100]``), which
  balances primal (image, ∝ intensity) and dual (∝ ``λ``) scales.
- Wavelet: ``min_c ½‖A Wᴴ c − y‖² + λ‖c‖₁`` (synthesis form; ``W`` the orthonormal Daubechies
  transform, so ``x = Wᴴc`` is the analysis solution when no padding is needed) by FISTA with
  step ``1/λ_max(AᴴA)`` (power iteration).

Both start from 10 CG-SENSE iterations (tolerance 1e-3), which saves most of the early
iterations of the first-order methods.

Scaling of the weights: ``regularization_weight`` and ``temporal_weight`` are relative to
``max |Aᴴy|`` of each volume (the largest magnitude of the zero-filled, coil-combined image):
``λ = regularization_weight · max|Aᴴy|``. Both terms of the objective then scale alike with the
data (``½‖Ax − y‖²`` and ``λ‖∇x‖₁`` are both quadratic in the intensity), so one relative weight
(≈ 1e-3 to 1e-2) works across scanners, coils and receiver gains.

References
----------
M. Lustig, D. Donoho, J. M. Pauly, "Sparse MRI: the application of compressed sensing for rapid
MR imaging", Magn. Reson. Med. 58:1182–1195 (2007), doi:10.1002/mrm.21391.
K. T. Block, M. Uecker, J. Frahm, "Undersampled radial MRI with multiple coils. Iterative image
reconstruction using a total variation constraint", Magn. Reson. Med. 57:1086–1098 (2007),
doi:10.1002/mrm.21236.
A. Chambolle and T. Pock, "A first-order primal-dual algorithm for convex problems with
applications to imaging", J. Math. Imaging Vis. 40:120–145 (2011), doi:10.1007/s10851-010-0251-1.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any

import torch

from recon_engine.calibration.coil_maps import CoilMapMethod
from recon_engine.calibration.density import DensityMethod
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.operators.finite_difference import FiniteDifferenceOp
from recon_engine.operators.wavelet import WAVELETS, WaveletName, WaveletOp
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions._encoding import Encoding, lipschitz_steps
from recon_engine.reconstructions._iterative import (
    MapsArray,
    SolverState,
    check_options,
    prepare,
    solve_all,
)
from recon_engine.solvers.cg import conjugate_gradient, quadratic_prox
from recon_engine.solvers.fista import fista, soft_threshold
from recon_engine.solvers.pdhg import l21_term, pdhg

__all__ = ["tv_steps", "wavelet_steps"]

_DIFF_NORM2 = 4.0  # ‖D‖² < 4 for a forward difference along one axis
_WARM_ITERATIONS = 10  # CG-SENSE iterations of the starting point
_INNER_ITERATIONS = 4  # CG iterations of the data prox in PDHG (warm-started at the last iterate)


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.vdot(a.flatten(), b.flatten()).real)


def _warm_start(enc: Encoding) -> Generator[ProgressEvent, None, torch.Tensor]:
    """A few CG-SENSE iterations: the starting point of PDHG and FISTA."""
    gen = conjugate_gradient(enc.normal, enc.rhs, max_iterations=_WARM_ITERATIONS, tolerance=1e-3)
    while True:
        try:
            state = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        yield ProgressEvent(f"warm start (CG {state.iteration})", 0, 0, metrics={"residual": state.residual})


def tv_steps(
    kspace: KSpace,
    *,
    coil_maps: CoilMapMethod = "espirit",
    maps: MapsArray | None = None,
    iterations: int = 50,
    tolerance: float = 1e-5,
    regularization_weight: float = 1e-3,
    temporal_weight: float = 0.0,
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    coil_map_options: Mapping[str, Any] | None = None,
    keep_iterates: bool = False,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """Total-variation regularised SENSE by PDHG, as a progress generator.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)``, Cartesian or with a trajectory.
    coil_maps, maps
        Estimated maps by method name, or given maps ``(n_maps, coils, z, y, x)`` (see
        :func:`~recon_engine.reconstructions.sense.sense_steps`).
    iterations
        Maximum PDHG iterations (≥ 1).
    tolerance
        Stop when the relative change of ``x`` is at most this.
    regularization_weight
        Spatial TV weight ``≥ 0``, relative to ``max|Aᴴy|`` (see the module docstring).
    temporal_weight
        TV weight along the first ``other`` axis (frames, contrasts), relative likewise; > 0
        solves that axis jointly.
    prewhitening, density, coil_map_options, keep_iterates, device
        As for :func:`~recon_engine.reconstructions.sense.sense_steps`.

    Returns
    -------
    ImageData
        complex64 ``(*other, n_maps, z, y, x)``; ``meta`` as for SENSE (``"residuals"`` hold
        the relative change of ``x``) plus the weights.
    """
    check_options(
        iterations, tolerance, regularization_weight=regularization_weight, temporal_weight=temporal_weight
    )
    problem = yield from prepare(
        kspace,
        coil_maps=coil_maps,
        maps=maps,
        prewhitening=prewhitening,
        device=device,
        density=density,
        joint_frames=temporal_weight > 0,
        coil_map_options=coil_map_options,
    )

    def solve(enc: Encoding) -> Generator[ProgressEvent | SolverState, None, torch.Tensor]:
        lam, lam_t = regularization_weight * enc.scale, temporal_weight * enc.scale
        x0 = yield from _warm_start(enc)
        dims = (-3, -2, -1) if x0.shape[-3] > 1 else (-2, -1)
        terms = []
        k_norm2 = 0.0
        if lam > 0:
            spatial = FiniteDifferenceOp(dims)
            terms.append(l21_term(spatial, spatial.adjoint, lam, axis=0))
            k_norm2 += _DIFF_NORM2 * len(dims)
        if lam_t > 0 and x0.shape[0] > 1:
            temporal = FiniteDifferenceOp((0,))
            terms.append(l21_term(temporal, temporal.adjoint, lam_t, axis=0))
            k_norm2 += _DIFF_NORM2
        if not terms:  # no regularization: plain SENSE
            return (
                yield from conjugate_gradient(
                    enc.normal,
                    enc.rhs,
                    x0=x0,
                    max_iterations=iterations,
                    tolerance=tolerance,
                    constant=enc.constant,
                )
            )
        ratio = min(max(1.0 / math.sqrt(max(regularization_weight, temporal_weight)), 1.0), 100.0)
        tau, sigma = ratio / math.sqrt(k_norm2), 0.99 / (ratio * math.sqrt(k_norm2))

        def data_value(x: torch.Tensor) -> float:
            r = (enc.forward(x) - enc.data).reshape(-1)  # ½‖Ax − y‖²: one forward, no adjoint
            return 0.5 * float(torch.vdot(r, r).real)

        return (
            yield from pdhg(
                terms,
                x0,
                primal_prox=quadratic_prox(enc.normal, enc.rhs, max_iterations=_INNER_ITERATIONS),
                primal_value=data_value,
                step_sizes=(tau, sigma),
                max_iterations=iterations,
                tolerance=tolerance,
            )
        )

    meta: dict[str, object] = {
        "iterations": int(iterations),
        "regularization_weight": float(regularization_weight),
        "temporal_weight": float(temporal_weight),
        "weight_scaling": "relative to max|A^H y|",
    }
    return (yield from solve_all(problem, "tv", solve, int(iterations), meta, keep_iterates=keep_iterates))


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
        c0 = w((yield from _warm_start(enc)))
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
