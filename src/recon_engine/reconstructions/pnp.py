"""Plug-and-play reconstruction: a learned denoiser as the prior of SENSE.

Problem: ``min_x ½‖Ax − y‖² + R(x)`` with ``A`` the SENSE encoding of
:mod:`~recon_engine.reconstructions.sense` (Cartesian ``M F S``; non-Cartesian ``√W·NUFFT·S``
with the Toeplitz normal operator; any data ``"sense"`` accepts, 2D, and 3D volumes whose
``(y, x)`` planes are denoised slice by slice), where the proximal map of ``R`` is replaced by
the learned denoiser ``D_σ`` (:mod:`recon_engine.learned`). All start from ``x₀`` = 10
CG-SENSE iterations; ``s`` = the 99th percentile of ``|x₀|`` scales images for the denoiser
(``D(x) = s·D_σ(x/s)``, its training scaling); ``ρ`` is in units of ``‖AᴴA‖ ≈ 1``.

- ``"admm"``: ``x ← (AᴴA + ρI)⁻¹(Aᴴy + ρ(z − u))``, ``z ← D(x + u)``, ``u ← u + x − z``
  (Venkatakrishnan et al. 2013; Chan et al. 2017).
- ``"hqs"``: ``z ← D(x)``, ``x ← (AᴴA + ρI)⁻¹(Aᴴy + ρz)`` (half-quadratic splitting, as DPIR,
  Zhang et al. 2021).
- ``"red"``: regularisation by denoising, ``R(x) = (ρ/2)xᴴ(x − D(x))``, by ADMM with one
  fixed-point step for ``z``: ``x ← (AᴴA + ρI)⁻¹(Aᴴy + ρ(z − u))``,
  ``z ← (D(z) + x + u)/2``, ``u ← u + x − z`` (Romano, Elad, Milanfar 2017, §5.2, ``λ = β = ρ``).

Each data step is ``cg_iterations`` CG steps warm-started at the previous ``x``. The denoiser
strength ``σ_k`` goes from ``sigma_start`` to ``sigma_end`` (``"geometric"``) or stays at
``sigma_start`` (``"constant"``); with ``"geometric"`` the penalty grows as
``ρ_k = ρ·(σ_end/σ_k)²`` (DPIR's coupling ``μ_k ∝ 1/σ_k²``: weak data weight while the prior
removes aliasing, the full ``ρ`` at the end). The result is the last data-consistent ``x``.

With ``weights="identity"`` (``D = I``) every method is the proximal-point iteration of
least squares from the CG-SENSE start, so it reproduces CG-SENSE (tested).

References
----------
S. V. Venkatakrishnan, C. A. Bouman, B. Wohlberg, "Plug-and-play priors for model based
reconstruction", IEEE GlobalSIP 945–948 (2013), doi:10.1109/GlobalSIP.2013.6737048.
S. H. Chan, X. Wang, O. A. Elgendy, "Plug-and-play ADMM for image restoration", IEEE Trans.
Comput. Imaging 3:84–98 (2017), doi:10.1109/TCI.2016.2629286.
Y. Romano, M. Elad, P. Milanfar, "The little engine that could: regularization by denoising
(RED)", SIAM J. Imaging Sci. 10:1804–1844 (2017), doi:10.1137/16M1102884.
K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-play image restoration with
deep denoiser prior", IEEE Trans. Pattern Anal. Mach. Intell. 44:6360–6376 (2021),
doi:10.1109/TPAMI.2021.3088914.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any, Literal

import torch

from recon_engine.calibration.coil_maps import CoilMapMethod
from recon_engine.calibration.density import DensityMethod
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.learned.data import normalise
from recon_engine.learned.denoiser import make_denoiser
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions._cs_common import warm_start_steps
from recon_engine.reconstructions._encoding import Encoding
from recon_engine.reconstructions._iterative import (
    MapsArray,
    SolverState,
    check_options,
    prepare_steps,
    solve_all_steps,
)
from recon_engine.solvers.cg import conjugate_gradient_steps
from recon_engine.solvers.fista import FISTAState

__all__ = ["PNP_ALGORITHMS", "PNP_SCHEDULES", "PnPAlgorithm", "PnPSchedule", "pnp_steps", "sigma_schedule"]

PnPAlgorithm = Literal["admm", "hqs", "red"]
PnPSchedule = Literal["geometric", "constant"]
PNP_ALGORITHMS: tuple[str, ...] = ("admm", "hqs", "red")
PNP_SCHEDULES: tuple[str, ...] = ("geometric", "constant")


def sigma_schedule(start: float, end: float, iterations: int, schedule: str) -> list[float]:
    """Denoiser strengths ``σ_1 … σ_K``: geometric from ``start`` to ``end``, or constant ``start``."""
    if schedule == "constant" or iterations == 1:
        return [float(start)] * int(iterations)
    ratio = end / start
    return [float(start * ratio ** (k / (iterations - 1))) for k in range(int(iterations))]


def _cg(normal: Any, rhs: torch.Tensor, x0: torch.Tensor, iterations: int) -> torch.Tensor:
    gen = conjugate_gradient_steps(normal, rhs, x0=x0, max_iterations=iterations, tolerance=1e-7)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def pnp_steps(
    kspace: KSpace,
    *,
    algorithm: PnPAlgorithm = "admm",
    weights: str = "builtin",
    iterations: int = 20,
    sigma_start: float = 0.05,
    sigma_end: float = 0.02,
    schedule: PnPSchedule = "geometric",
    penalty: float = 0.5,
    cg_iterations: int = 5,
    coil_maps: CoilMapMethod = "espirit",
    maps: MapsArray | None = None,
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    coil_map_options: Mapping[str, Any] | None = None,
    keep_iterates: bool = False,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """Plug-and-play SENSE with a learned denoiser prior, as a progress generator.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)``, Cartesian or with a trajectory (as for ``"sense"``).
    algorithm
        ``"admm"``, ``"hqs"`` or ``"red"`` (see the module docstring).
    weights
        Denoiser weights: ``"builtin"`` (shipped with the engine), a path to a weights file
        trained by ``mrrecon train denoiser``, or ``"identity"`` (no prior: CG-SENSE).
    iterations
        Outer iterations (denoiser calls), ≥ 1.
    sigma_start, sigma_end
        Denoiser strength (noise std per real component relative to the 99th percentile of
        ``|x₀|``) at the first and last iteration, > 0.
    schedule
        ``"geometric"`` (σ from start to end, ``ρ_k = ρ(σ_end/σ_k)²``) or ``"constant"``.
    penalty
        ``ρ > 0`` in units of ``‖AᴴA‖`` (≈ 1 for normalised maps): the weight of the
        denoised image in each data step (larger: closer to the denoiser).
    cg_iterations
        CG steps of each data step (warm-started), ≥ 1.
    coil_maps, maps, prewhitening, density, coil_map_options, device
        As for :func:`~recon_engine.reconstructions.sense.sense_steps`.
    keep_iterates
        Keep every outer iterate of the first volume as ``meta["iterates"]``.

    Returns
    -------
    ImageData
        complex64 ``(*other, n_maps, z, y, x)``; ``meta`` as for SENSE (``"residuals"``: the
        relative change of ``x`` per outer iteration; ``"objectives"``: ``½‖Ax − y‖²``) plus
        ``"algorithm"``, ``"weights"``, ``"sigmas"``, ``"penalties"``, ``"denoiser"``.

    Raises
    ------
    ParameterError
        Unknown algorithm/schedule, non-positive σ or ρ, a weights file of another network.
    FileFormatError
        Missing or unsafe weights file.
    """
    check_options(iterations, 0.0, cg_iterations=float(cg_iterations))
    if algorithm not in PNP_ALGORITHMS:
        raise ParameterError(f"unknown plug-and-play algorithm {algorithm!r}; choose one of {PNP_ALGORITHMS}")
    if schedule not in PNP_SCHEDULES:
        raise ParameterError(f"unknown denoiser schedule {schedule!r}; choose one of {PNP_SCHEDULES}")
    for name, v in (("sigma_start", sigma_start), ("sigma_end", sigma_end), ("penalty", penalty)):
        if not (math.isfinite(v) and v > 0):
            raise ParameterError(f"{name} must be a finite number > 0, got {v!r}")
    if int(cg_iterations) != cg_iterations or cg_iterations < 1:
        raise ParameterError(f"cg_iterations must be an integer ≥ 1, got {cg_iterations!r}")
    problem = yield from prepare_steps(
        kspace,
        coil_maps=coil_maps,
        maps=maps,
        prewhitening=prewhitening,
        device=device,
        density=density,
        coil_map_options=coil_map_options,
    )
    denoiser = make_denoiser(weights, problem.device)
    sigmas = sigma_schedule(sigma_start, sigma_end, int(iterations), schedule)
    rhos = [penalty * (sigma_end / s) ** 2 if schedule == "geometric" else penalty for s in sigmas]

    def solve(enc: Encoding) -> Generator[ProgressEvent | SolverState, None, torch.Tensor]:
        x = yield from warm_start_steps(enc)
        _, scale = normalise(enc.to_recon(x))

        def prior(v: torch.Tensor, sigma: float) -> torch.Tensor:
            return denoiser(v / scale, sigma) * scale

        z, u = x.clone(), torch.zeros_like(x)
        for k, (sigma, rho) in enumerate(zip(sigmas, rhos, strict=True)):

            def normal(v: torch.Tensor, rho: float = rho) -> torch.Tensor:
                return enc.normal(v) + rho * v

            previous = x
            if algorithm == "hqs":
                z = prior(x, sigma)
                x = _cg(normal, enc.rhs + rho * z, x, int(cg_iterations))
            else:
                x = _cg(normal, enc.rhs + rho * (z - u), x, int(cg_iterations))
                z = prior(x + u, sigma) if algorithm == "admm" else 0.5 * (prior(z, sigma) + x + u)
                u = u + x - z
            hx = enc.normal(x)
            flat, rhs = x.reshape(-1), enc.rhs.reshape(-1)
            objective = 0.5 * float(torch.vdot(flat, hx.reshape(-1)).real) - float(torch.vdot(flat, rhs).real)
            change = float(
                torch.linalg.vector_norm(x - previous) / torch.linalg.vector_norm(x).clamp_min(1e-30)
            )
            yield FISTAState(k + 1, change, objective + enc.constant, x)
        return x

    meta: dict[str, object] = {
        "iterations": int(iterations),
        "algorithm": algorithm,
        "weights": str(weights),
        "denoiser": denoiser.architecture,
        "sigmas": sigmas,
        "penalties": rhos,
        "cg_iterations": int(cg_iterations),
        "schedule": schedule,
    }
    return (
        yield from solve_all_steps(problem, "pnp", solve, int(iterations), meta, keep_iterates=keep_iterates)
    )
