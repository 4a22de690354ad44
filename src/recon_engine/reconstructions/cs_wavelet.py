"""Wavelet-ℓ1 regularised SENSE by FISTA (see :mod:`recon_engine.reconstructions.cs`).

Two forms of the regulariser (``cycle_spinning``):

- ``True`` (default): FISTA on the image ``x`` with the shifted thresholding
  ``p_τ(v) = S_k⁻¹ Wᴴ soft(W S_k v, λτ)`` in place of a proximal map, ``S_k`` a circular
  shift of the image by a random multiple of one sample in ``[0, 2^levels)`` along every
  transformed axis, drawn anew each iteration from a generator seeded with
  :data:`SHIFT_SEED` (runs are reproducible), as BART's ``pics -R W`` does. A decimated
  wavelet is not shift invariant: a fixed grid leaves blocking at its cell edges and
  favours some positions of an edge over others; averaged over the iterations the random
  grids act like the shift-invariant norm ``E_S ‖W S x‖₁`` (cycle spinning, Coifman and
  Donoho 1995), which gives lower errors at the same ``λ``. The iteration is then a
  stochastic proximal-gradient method: it no longer minimises one fixed objective, its
  iterates keep a small shift-dependent jitter (the relative change does not fall far
  below ~1e-3, so the tolerance stop rarely triggers), and the reported objective
  evaluates ``λ‖W S_k x_k‖₁`` on that iteration's grid.
- ``False``: the synthesis problem ``min_c ½‖A Wᴴ c − y‖² + λ‖c‖₁`` by FISTA on the
  coefficients ``c`` (``x = Wᴴc``; with ``W`` orthonormal this is the analysis problem
  ``min_x ½‖Ax − y‖² + λ‖Wx‖₁`` when no padding is needed), one fixed objective.

Step size ``1/L``: for Cartesian sampling (a 0/1 mask, orthonormal FFT)
``‖A x‖² ≤ ‖S x‖² ≤ max_r λ_max(S(r)ᴴS(r)) ‖x‖²`` (one set of maps: ``Σ_c |S_c(r)|²``), so
that bound (:func:`cartesian_lipschitz_bound`) is an exact upper bound of ``λ_max(AᴴA)``
without a single application of the operator; it is tight (= 1) for normalised maps and a
fully sampled k-space centre. Non-Cartesian encodings take ``L`` from
20 power iterations of ``AᴴA`` (``λ_max(W AᴴA Wᴴ) ≤ λ_max(AᴴA)`` covers the synthesis form).

References
----------
R. R. Coifman and D. L. Donoho, "Translation-invariant de-noising", in *Wavelets and
Statistics*, Lecture Notes in Statistics 103:125–150 (1995), doi:10.1007/978-1-4612-2544-7_9.
M. Uecker et al., "Berkeley Advanced Reconstruction Toolbox", Proc. ISMRM 23:2486 (2015)
(``pics`` with random wavelet shifts).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
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
from recon_engine.reconstructions._cs_common import warm_start_steps
from recon_engine.reconstructions._encoding import Encoding, lipschitz_steps
from recon_engine.reconstructions._iterative import (
    MapsArray,
    SolverState,
    check_options,
    prepare_steps,
    solve_all_steps,
)
from recon_engine.solvers.fista import fista_steps, soft_threshold

__all__ = ["SHIFT_SEED", "cartesian_lipschitz_bound", "wavelet_steps"]

#: Seed of the random wavelet-grid shifts (one generator per job, so every run is the same).
SHIFT_SEED = 0


def cartesian_lipschitz_bound(maps: torch.Tensor) -> float:
    """Upper bound ``max_r λ_max(S(r)ᴴS(r))`` of ``λ_max(AᴴA)`` for Cartesian SENSE.

    Valid for ``A = M F S`` with a sampling mask in ``{0, 1}`` and an orthonormal FFT:
    ``‖MFSx‖² ≤ ‖FSx‖² = ‖Sx‖²`` and, voxel by voxel, ``‖S(r) x(r)‖² ≤ λ_max(S(r)ᴴS(r)) ‖x(r)‖²``
    with ``S(r)`` the ``coils × n_maps`` matrix of voxel ``r``: ``Σ_c |S_c(r)|²`` for one set of
    maps; for several sets the largest eigenvalue of their ``n_maps × n_maps`` Gram matrix
    (tighter than the sum over sets: two orthogonal ESPIRiT sets give 1, not 2). Equal to
    ``λ_max(AᴴA)`` for full sampling, and close to it when the k-space centre is sampled.

    Parameters
    ----------
    maps
        complex ``(*other, n_maps, coils, z, y, x)``; the maximum runs over everything, so the
        bound holds for every volume of ``other``.

    Returns
    -------
    float
        The bound (0 for all-zero maps).
    """
    if maps.shape[-5] == 1:
        power = maps.real.square() + maps.imag.square() if maps.is_complex() else maps.square()
        return float(power.sum(dim=(-5, -4)).max())
    gram = torch.einsum("...mczyx,...nczyx->...zyxmn", maps.conj(), maps)
    return float(torch.linalg.eigvalsh(gram).max())


class _ShiftedThreshold:
    """``v ↦ S⁻¹ Wᴴ soft(W S v, λτ)`` with a fresh seeded random shift ``S`` per call.

    :attr:`value` holds ``λ‖soft(W S v)‖₁`` of the last call (the regulariser of the new
    iterate on that grid), so the objective costs no extra transform.
    """

    def __init__(self, w: WaveletOp, lam: float, seed: int = SHIFT_SEED) -> None:
        self.w = w
        self.lam = lam
        self.dims = w.axes
        self.periods = [min(2**w.levels, w.shape[a]) for a in w.axes]
        self.generator = torch.Generator().manual_seed(seed)
        self.value = 0.0

    def __call__(self, v: torch.Tensor, tau: float) -> torch.Tensor:
        shift = [int(torch.randint(0, p, (1,), generator=self.generator)) for p in self.periods]
        c = soft_threshold(self.w(torch.roll(v, shift, dims=self.dims)), self.lam * tau)
        self.value = self.lam * float(c.abs().sum())
        return torch.roll(self.w.adjoint(c), [-s for s in shift], dims=self.dims)

    def regularizer(self, _x: torch.Tensor) -> float:
        """``λ‖W S x‖₁`` of the last proximal step's result (computed there)."""
        return self.value


def wavelet_steps(
    kspace: KSpace,
    *,
    coil_maps: CoilMapMethod = "espirit",
    maps: MapsArray | None = None,
    iterations: int = 50,
    tolerance: float = 1e-5,
    regularization_weight: float = 1e-3,
    wavelet: WaveletName = "db2",
    levels: int | None = None,
    cycle_spinning: bool = True,
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
        Stop when the relative change of the iterate is at most this.
    regularization_weight
        ``λ ≥ 0`` relative to ``max|Aᴴy|`` (see the module docstring).
    wavelet, levels
        Daubechies wavelet ``"db1"``–``"db4"`` (default ``"db2"``, 4 taps, as BART's ``pics``)
        and decomposition levels (default: automatic, ≤ 4) over ``(y, x)`` or ``(z, y, x)``.
    cycle_spinning
        Shift the wavelet grid randomly (seeded) every iteration (default), or solve the
        fixed-grid synthesis problem (see the module docstring).
    prewhitening, density, coil_map_options, keep_iterates, device
        As for :func:`~recon_engine.reconstructions.sense.sense_steps`.

    Returns
    -------
    ImageData
        complex64 ``(*other, n_maps, z, y, x)``; ``meta`` as for SENSE plus ``wavelet``,
        ``levels`` and ``cycle_spinning``.
    """
    check_options(iterations, tolerance, regularization_weight=regularization_weight)
    if wavelet not in WAVELETS:
        raise ParameterError(f"unknown wavelet {wavelet!r}; choose one of {sorted(WAVELETS)}")
    problem = yield from prepare_steps(
        kspace,
        coil_maps=coil_maps,
        maps=maps,
        prewhitening=prewhitening,
        device=device,
        density=density,
        coil_map_options=coil_map_options,
    )
    w = WaveletOp(tuple(problem.maps.shape[-3:]), wavelet=wavelet, levels=levels)
    bound = cartesian_lipschitz_bound(problem.maps) if problem.trajectory is None else None

    def solve(enc: Encoding) -> Generator[ProgressEvent | SolverState, None, torch.Tensor]:
        lam = regularization_weight * enc.scale
        x0 = yield from warm_start_steps(enc)
        lipschitz = bound if bound is not None else (yield from lipschitz_steps(enc.normal, enc.rhs))
        step = 1.0 / lipschitz if lipschitz > 0 else 1.0  # A = 0: any step
        # cycle spinning: FISTA on the image; else on the coefficients of a fixed grid
        normal: Callable[[torch.Tensor], torch.Tensor]
        prox: Callable[[torch.Tensor, float], torch.Tensor]
        regularizer: Callable[[torch.Tensor], float]
        if cycle_spinning:
            shifted = _ShiftedThreshold(w, lam)
            normal, rhs, start, prox, regularizer = enc.normal, enc.rhs, x0, shifted, shifted.regularizer
        else:
            normal = lambda c: w(enc.normal(w.adjoint(c)))  # noqa: E731
            rhs, start = w(enc.rhs), w(x0)
            prox = lambda v, t: soft_threshold(v, lam * t)  # noqa: E731
            regularizer = lambda c: lam * float(c.abs().sum())  # noqa: E731
        result = yield from fista_steps(
            normal,
            rhs,
            prox,
            x0=start,
            regularizer=regularizer,
            step_size=step,
            max_iterations=iterations,
            tolerance=tolerance,
            constant=enc.constant,
        )
        return result if cycle_spinning else w.adjoint(result)

    meta: dict[str, object] = {
        "iterations": int(iterations),
        "regularization_weight": float(regularization_weight),
        "wavelet": wavelet,
        "levels": w.levels,
        "cycle_spinning": bool(cycle_spinning),
        "weight_scaling": "relative to max|A^H y|",
    }
    return (
        yield from solve_all_steps(
            problem,
            "wavelet",
            solve,
            int(iterations),
            meta,
            state_image=None if cycle_spinning else w.adjoint,
            keep_iterates=keep_iterates,
        )
    )
