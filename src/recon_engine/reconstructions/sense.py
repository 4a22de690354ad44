"""CG-SENSE: iterative SENSE for Cartesian and non-Cartesian data, optional Tikhonov.

Solves ``min_x ½‖A x − y‖² + (λ/2)‖x‖²`` by conjugate gradients on the normal equations
``(AᴴA + λI) x = Aᴴy`` with

- Cartesian data: ``A = M F S`` on the encoded grid (readout oversampling included; the
  result is cropped to the recon space afterwards), ``M`` the sampling mask, ``F`` the
  centred orthonormal 2D/3D FFT, ``S`` the coil maps;
- non-Cartesian data: ``A = √W · NUFFT · S`` on the recon matrix, with density weights ``W``
  (``"pipe"``/``"voronoi"``; ``"none"`` gives plain least squares) and ``AᴴA`` applied as
  ``Sᴴ (NUFFTᴴ W NUFFT) S`` through the Toeplitz embedding (no NUFFT per iteration).

``λ`` is absolute, in units of ``‖AᴴA‖``, which is ≈ 1 for maps normalised to
``Σ_c |S_c|² = 1``, Cartesian sampling and density-weighted non-Cartesian data.

References
----------
K. P. Pruessmann, M. Weiger, P. Börnert, P. Boesiger, "Advances in sensitivity encoding with
arbitrary k-space trajectories", Magn. Reson. Med. 46:638–651 (2001), doi:10.1002/mrm.1241.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, Literal

import numpy as np
import torch

from recon_engine.calibration.coil_maps import CoilMapMethod
from recon_engine.calibration.density import DensityMethod
from recon_engine.calibration.oversampling import fit_to_recon_space
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions._encoding import Encoding, Problem
from recon_engine.reconstructions._iterative import (
    MapsArray,
    SolverState,
    check_options,
    prepare_steps,
    solve_all_steps,
)
from recon_engine.reconstructions.gfactor import EXACT_MAX_UNKNOWNS, gfactor_steps, regular_acceleration
from recon_engine.solvers.cg import conjugate_gradient_steps

__all__ = ["SENSE_GFACTORS", "SenseGFactor", "sense_steps"]

SenseGFactor = Literal["none", "auto", "analytic", "exact", "pseudo_replica"]
SENSE_GFACTORS: tuple[str, ...] = ("none", "auto", "analytic", "exact", "pseudo_replica")


def sense_steps(
    kspace: KSpace,
    *,
    coil_maps: CoilMapMethod = "espirit",
    maps: MapsArray | None = None,
    iterations: int = 20,
    tolerance: float = 1e-6,
    regularization_weight: float = 0.0,
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    coil_map_options: Mapping[str, Any] | None = None,
    gfactor: SenseGFactor = "none",
    gfactor_replicas: int = 16,
    keep_iterates: bool = False,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """CG-SENSE reconstruction as a progress generator.

    Parameters
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)`` (unsampled positions 0), with a
        ``trajectory`` ``(*other, k2, k1, k0, 3)`` for non-Cartesian data.
    coil_maps
        ``"espirit"``, ``"walsh"`` or ``"inati"``: maps estimated from the (prewhitened) data,
        one set per volume.
    maps
        Given coil maps instead of estimated ones: complex ``(n_maps, coils, z, y, x)`` in the
        raw coil space, on the encoded grid (Cartesian: the ``(k2, k1, k0)`` sizes, readout
        oversampling included; non-Cartesian: the recon matrix, ``z = 1`` in 2D).
    iterations
        Maximum CG iterations (≥ 1).
    tolerance
        Stop when ``‖Aᴴy − (AᴴA + λI)x‖ / ‖Aᴴy‖`` is at most this.
    regularization_weight
        Tikhonov ``λ ≥ 0`` (absolute; see the module docstring).
    prewhitening
        Decorrelate the coils (data and maps) with the noise scan.
    density
        Non-Cartesian data weighting: ``"pipe"``, ``"voronoi"`` or ``"none"``.
    coil_map_options
        Options of :func:`~recon_engine.calibration.coil_maps.estimate_coil_maps`
        (``kernel_size``, ``calibration_size``, ``threshold``, ``crop``, ``n_maps``).
    gfactor
        Also compute the g-factor map of the first volume (Cartesian data):
        ``"analytic"`` (regular undersampling only), ``"exact"`` (converged SENSE, any pattern
        of whole lines, 1D acceleration), ``"pseudo_replica"`` (noise through this
        reconstruction, same CG iterations), ``"auto"`` (analytic where the mask is every R-th
        line plus a central calibration block, whose lines it ignores — exact for that lattice
        when N is not a multiple of R; else pseudo-replica) or ``"none"``.
    gfactor_replicas
        Noise replicas of the pseudo-replica g-factor (≥ 2; its error ≈ 1/√(2·replicas)).
    keep_iterates
        Keep every CG iterate of the first volume as ``meta["iterates"]`` (the iteration movie).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ImageData
        complex64 ``(*other, n_maps, z, y, x)`` in the recon space (``n_maps`` = 1 unless the
        maps have several sets). ``meta``: ``"coil_maps"`` (numpy complex64, prewhitened coil
        space, encoded grid), ``"residuals"`` and ``"objectives"`` (a list per volume, one
        value per iteration), ``"iterations"``, ``"regularization_weight"``; with ``gfactor``
        also ``"gfactor"`` (float32 ``(z, y, x)`` in the recon space, first volume) and
        ``"gfactor_method"``; with ``keep_iterates`` also ``"iterates"`` (complex64
        ``(iterations, n_maps, z, y, x)``, first volume).

    Raises
    ------
    ParameterError
        ``iterations < 1``, negative ``tolerance`` or ``λ``, unknown method names.
    DataError
        Maps of the wrong shape, NaNs, trajectory/data mismatch.
    """
    check_options(iterations, tolerance, regularization_weight=regularization_weight)
    if gfactor not in SENSE_GFACTORS:
        raise ParameterError(f"unknown g-factor method {gfactor!r}; choose one of {SENSE_GFACTORS}")
    lam = float(regularization_weight)
    problem = yield from prepare_steps(
        kspace,
        coil_maps=coil_maps,
        maps=maps,
        prewhitening=prewhitening,
        device=device,
        density=density,
        coil_map_options=coil_map_options,
    )

    def solve(enc: Encoding) -> Generator[ProgressEvent | SolverState, None, torch.Tensor]:
        def normal(x: torch.Tensor) -> torch.Tensor:
            return enc.normal(x) + lam * x if lam > 0 else enc.normal(x)

        return (
            yield from conjugate_gradient_steps(
                normal, enc.rhs, max_iterations=iterations, tolerance=tolerance, constant=enc.constant
            )
        )

    meta: dict[str, object] = {
        "iterations": int(iterations),
        "regularization_weight": lam,
        "tolerance": float(tolerance),
    }
    image = yield from solve_all_steps(
        problem, "sense", solve, int(iterations), meta, keep_iterates=bool(keep_iterates)
    )
    if gfactor != "none":
        g, used = yield from _gfactor_steps(
            problem, gfactor, int(gfactor_replicas), int(iterations), float(tolerance)
        )
        if g is not None:
            image.meta["gfactor"] = g
            image.meta["gfactor_method"] = used
    return image


def _gfactor_steps(
    problem: Problem, choice: str, replicas: int, iterations: int, tolerance: float
) -> Steps[tuple[np.ndarray | None, str]]:
    """g-factor of the first volume in the recon space (maps are prewhitened: white noise).

    ``"auto"``: analytic when the mask is every R-th line plus a central calibration block
    (:func:`~recon_engine.reconstructions.gfactor.regular_acceleration`; the calibration
    lines are ignored, a conservative estimate), the exact per-column g-factor of that lattice
    when ``N`` is not a multiple of ``R``, else pseudo-replica.
    """
    if problem.transform != "fft":
        if choice == "auto":
            return None, "none"  # no g-factor model for non-Cartesian sampling here
        raise ParameterError("the g-factor map needs Cartesian data (regular or masked undersampling)")
    maps = problem.maps.reshape(-1, *problem.maps.shape[-5:])[0]
    mask = problem.mask.reshape(-1, *problem.mask.shape[-2:])[0]
    sampling: int | torch.Tensor = mask
    if choice == "auto":
        r = regular_acceleration(mask)
        choice = "pseudo_replica"
        if r is not None and mask.shape[-1] % r == 0:
            sampling, choice = r, "analytic"
        elif r is not None and maps.shape[0] * mask.shape[-1] <= EXACT_MAX_UNKNOWNS:
            # no exact fold sets when N is not a multiple of R: the exact per-column g-factor
            # of the same lattice (calibration lines ignored, as for the analytic one)
            sampling, choice = r, "exact"
    if choice in ("analytic", "exact"):
        g = yield from gfactor_steps(maps, sampling, method=choice, device=problem.device)  # type: ignore[arg-type]
    else:  # the noise goes through this reconstruction: the same CG iterations
        g = yield from gfactor_steps(
            maps,
            mask,
            method="pseudo_replica",
            replicas=replicas,
            iterations=iterations,
            tolerance=tolerance,
            device=problem.device,
        )
    recon = fit_to_recon_space(g.to(torch.complex64), problem.kspace.header).real
    return recon.to("cpu", torch.float32).numpy(), choice
