"""Subspace (low-rank) and plug-and-play mapping from multi-contrast raw data.

Subspace: the contrast curves of a model lie near a low-dimensional subspace. The basis
``U (n, K)`` is the leading right singular vectors of the model's dictionary (the basis
functions of every grid point of :attr:`SignalModel.grid`, normalised; the rank keeps the
``energy`` fraction of the squared singular values). With ``x_t = Σ_k U_tk α_k``,

    ``min_α  ½ Σ_t ‖A_t (U α)_t − y_t‖² + λ R(α)``,

solved by CG (``R = 0``) or by FISTA with the locally-low-rank prox
(:class:`~recon_engine.reconstructions.llr.BlockSVT`, ``regularization="llr"``); the images
``U α`` are then fitted voxel by voxel (as the two-step method).

PnP (MRI2Qmap): ADMM over ``α`` with a denoiser as the spatial prior,

1. ``α ← (UᴴAᴴAU + ρI)⁻¹ (UᴴAᴴy + ρ(z − u))`` (CG, warm started);
2. ``z ← D(α + u, σ)``, each coefficient image scaled to max 1 before and back after;
3. ``u ← u + α − z``.

With the identity denoiser the fixed point is the subspace least-squares solution (tested).

The encoding is pluggable (:class:`SubspaceEncoding`: ``rhs``, ``normal``, ``expand``,
``preview``): Cartesian multi-contrast data use ``U`` around the joint Cartesian encoding of
:mod:`recon_engine.qmri._raw`; non-Cartesian data (MR fingerprinting, one readout per frame) use
the subspace NUFFT with the Toeplitz normal operator of
:class:`~recon_engine.reconstructions.subspace_nufft.SubspaceNUFFT` and are matched against the
compressed dictionary instead of fitted (:mod:`recon_engine.qmri.mrf_raw`). The solvers
(:func:`subspace_solve_steps`, :func:`pnp_admm_steps`) are the same for both.

References
----------
C. Huang, C. G. Graff, E. W. Clarkson, A. Bilgin, M. I. Altbach, "T2 mapping from highly
undersampled data by reconstruction of principal component coefficient maps using compressed
sensing", Magn. Reson. Med. 67:1355–1366 (2012), doi:10.1002/mrm.23128.
J. I. Tamir, M. Uecker, W. Chen, et al., "T2 shuffling", Magn. Reson. Med. 77:180–195 (2017),
doi:10.1002/mrm.26102.
M. Golbabaee, G. Buonincontri, C. M. Pirkl, et al., "Compressive MRI quantification using convex
spatiotemporal priors and deep encoder-decoder networks", Med. Image Anal. 69:101945 (2021)
(MRI2Qmap: doi:10.1016/j.media.2020.101945).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Protocol

import numpy as np
import torch

from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.progress import PreviewThrottle, ProgressEvent, Steps
from recon_engine.qmri._model import SignalModel
from recon_engine.qmri._raw import (
    ContrastProblem,
    MappingSetup,
    common_phase,
    crop_maps,
    mapping_setup_steps,
)
from recon_engine.qmri.fitting import fit_steps
from recon_engine.qmri.mrf_raw import (
    basis_from_atoms,
    is_noncartesian,
    match_coefficients,
    mrf_raw_setup_steps,
)
from recon_engine.qmri.result import FitResult
from recon_engine.reconstructions.llr import BlockSVT
from recon_engine.solvers.cg import CGState, conjugate_gradient_steps
from recon_engine.solvers.fista import FISTAState, fista_steps

__all__ = [
    "SUBSPACE_REGULARIZATIONS",
    "Denoiser",
    "SubspaceEncoding",
    "identity_denoiser",
    "pnp_admm_steps",
    "pnp_steps",
    "subspace_basis",
    "subspace_solve_steps",
    "subspace_steps",
]

#: ``denoise(x complex (batch, y, x), sigma) -> same shape``: the PnP prior.
Denoiser = Callable[[torch.Tensor, float], torch.Tensor]
#: Regularizations of :func:`subspace_steps`.
SUBSPACE_REGULARIZATIONS: tuple[str, ...] = ("none", "llr")


def subspace_basis(
    model: SignalModel,
    x: np.ndarray,
    options: Mapping[str, object],
    *,
    energy: float = 0.999,
    rank: int | None = None,
) -> tuple[np.ndarray, float]:
    """Temporal basis ``U`` (float32 ``(n, K)``, orthonormal columns) and its retained energy.

    Parameters
    ----------
    model
        The signal model (its grid and basis functions make the dictionary).
    x
        ``(n,)`` sampling values.
    options
        Resolved model options.
    energy
        Keep the fewest components whose squared singular values reach this fraction.
    rank
        Fixed rank instead (``1 ≤ rank ≤ n``).
    """
    grid = model.grid(options)
    b = model.basis(grid, torch.as_tensor(x, dtype=torch.float64), options, {})  # (G, n, L)
    atoms = b.permute(0, 2, 1).reshape(-1, b.shape[1])
    return basis_from_atoms(atoms, energy=energy, rank=rank)


class SubspaceEncoding(Protocol):
    """What the subspace solvers need of an encoding over coefficient images ``α (K, y, x)``."""

    @property
    def rhs(self) -> torch.Tensor:
        """``UᴴAᴴy`` ``(K, y, x)``."""
        ...

    def normal(self, a: torch.Tensor) -> torch.Tensor:
        """``UᴴAᴴAU α``."""
        ...

    def expand(self, a: torch.Tensor) -> torch.Tensor:
        """``U α`` ``(n, y, x)``."""
        ...

    def preview(self, a: torch.Tensor) -> np.ndarray:
        """A float32 ``(y, x)`` preview image of ``α``."""
        ...


class _Subspace:
    """``UᴴAᴴAU`` and ``UᴴAᴴy`` on coefficient images ``(K, y, x)`` (private)."""

    def __init__(self, problem: ContrastProblem, u: np.ndarray) -> None:
        self.problem = problem
        self.u = torch.as_tensor(u, device=problem.rhs.device).to(torch.complex64)  # (n, K)

    def expand(self, a: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nk,kyx->nyx", self.u, a)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nk,nyx->kyx", self.u.conj(), x)

    def normal(self, a: torch.Tensor) -> torch.Tensor:
        return self.project(self.problem.normal(self.expand(a)))

    @property
    def rhs(self) -> torch.Tensor:
        return self.project(self.problem.rhs)

    def preview(self, a: torch.Tensor) -> np.ndarray:
        return _preview(self.problem, self.expand(a))


def _check(iterations: int, weight: float) -> None:
    if int(iterations) != iterations or iterations < 1:
        raise ParameterError(f"iterations must be an integer ≥ 1, got {iterations!r}")
    if not np.isfinite(weight) or weight < 0:
        raise ParameterError(f"the regularization weight must be a finite number ≥ 0, got {weight!r}")


def _fit_images(
    setup: MappingSetup,
    images: torch.Tensor,
    method: str,
    extra: dict[str, object],
    mask_threshold: float | None,
    max_iterations: int,
    device: DeviceLike,
    model_options: Mapping[str, object],
) -> Steps[FitResult]:
    spec = setup.spec
    phase = common_phase(images, spec, setup.x)
    series = (images * torch.exp(-1j * phase)).real.cpu().numpy().astype(np.float32)
    opts = {k: setup.options[k] for k in model_options if k in setup.options}
    if "echo_spacing" in setup.options and setup.options["echo_spacing"] is not None:
        opts["echo_spacing"] = setup.options["echo_spacing"]
    if spec.polarity:
        opts.setdefault("signed", True)
    key = "flip_angles" if spec.abscissa == "flip_angles" else "times"
    res = yield from fit_steps(
        series, spec.info.name, mask_threshold=mask_threshold, max_iterations=max_iterations, device=device,
        tr=setup.tr, **{key: setup.x}, **opts,  # type: ignore[arg-type]
    )  # fmt: skip
    res.options = {**res.options, "method": method, **extra}
    return crop_maps(res, setup.problem)


def _preview(problem: ContrastProblem, images: torch.Tensor) -> np.ndarray:
    img = problem.to_recon(images[-1].abs())
    return np.asarray(img.cpu().numpy(), dtype=np.float32)


def subspace_solve_steps(
    sub: SubspaceEncoding,
    *,
    regularization: str = "none",
    regularization_weight: float = 0.01,
    block_size: int = 8,
    iterations: int = 30,
) -> Steps[torch.Tensor]:
    """Coefficient images ``α (K, y, x)`` by CG (``"none"``) or FISTA with LLR (generator).

    Yields a ``"subspace"`` event per iteration (preview throttled); returns ``α``.
    """
    rhs = sub.rhs
    gen: Generator[CGState | FISTAState, None, torch.Tensor]
    if regularization == "llr" and regularization_weight > 0:
        lam = regularization_weight * float(rhs.abs().max())
        gen = fista_steps(
            sub.normal, rhs, BlockSVT(lam, block_size), max_iterations=iterations, tolerance=1e-6
        )
    else:
        gen = conjugate_gradient_steps(sub.normal, rhs, max_iterations=iterations, tolerance=1e-6)
    throttle = PreviewThrottle()
    while True:
        try:
            state = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        pv = sub.preview(state.x) if throttle.ready() else None
        yield ProgressEvent("subspace", state.iteration, int(iterations), pv, {"objective": state.objective})


def subspace_steps(
    kspace: KSpace,
    model: str,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    flip_angles: Sequence[float] | np.ndarray | None = None,
    tr: float | None = None,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    rank: int | None = None,
    energy: float = 0.999,
    regularization: str = "none",
    regularization_weight: float = 0.01,
    block_size: int = 8,
    iterations: int = 30,
    mask_threshold: float | None = 0.05,
    max_iterations: int = 30,
    density: str = "none",
    prewhitening: bool = True,
    device: DeviceLike = "auto",
    **model_options: object,
) -> Steps[FitResult]:
    """Subspace-constrained reconstruction of the contrasts, then the voxel fit (generator).

    Parameters
    ----------
    kspace, model, times, flip_angles, tr, maps, coil_maps, prewhitening, device
        As for :func:`~recon_engine.qmri.model_based.model_based_steps`. Non-Cartesian data (a
        trajectory; model ``"mrf"``, one readout set per frame): see
        :func:`~recon_engine.qmri.mrf_raw.mrf_raw_setup_steps` (``maps`` on the recon matrix).
    rank, energy
        Subspace rank, or the retained dictionary energy that chooses it (:func:`subspace_basis`).
    regularization
        ``"none"`` (CG) or ``"llr"`` (FISTA with block singular-value thresholding).
    regularization_weight
        LLR ``λ`` relative to ``max|UᴴAᴴy|``.
    block_size
        LLR block edge (voxels).
    iterations
        CG / FISTA iterations.
    mask_threshold, max_iterations
        The voxel fit of the subspace images (see :func:`~recon_engine.qmri.fit_steps`);
        non-Cartesian MRF: the matching mask (``max_iterations`` unused).
    density
        Non-Cartesian data: the sample weights ``W`` of the data term, ``"none"`` (plain least
        squares: the maximum-likelihood fit of prewhitened data), ``"pipe"`` or ``"voronoi"``
        (density-compensated: faster convergence, more noise at the same iteration; measured on
        the MRF phantom in ``docs/qmri.md``).

    Returns
    -------
    FitResult
        Recon space; ``options`` adds ``method = "subspace"``, ``rank``, ``energy_retained``,
        ``regularization``.
    """
    if regularization not in SUBSPACE_REGULARIZATIONS:
        raise ParameterError(
            f"unknown subspace regularization {regularization!r}; choose one of {SUBSPACE_REGULARIZATIONS}"
        )
    _check(iterations, regularization_weight)
    solve = {
        "regularization": regularization, "regularization_weight": regularization_weight,
        "block_size": block_size, "iterations": iterations,
    }  # fmt: skip
    if is_noncartesian(kspace):
        mrf = yield from mrf_raw_setup_steps(
            kspace, model, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps, density=density,
            rank=rank, energy=energy, prewhitening=prewhitening, device=device, model_options=model_options,
        )  # fmt: skip
        coef = yield from subspace_solve_steps(mrf, **solve)  # type: ignore[arg-type]
        extra = {"regularization": regularization, "iterations": int(iterations)}
        return (
            yield from match_coefficients(
                mrf, coef, "subspace", extra, mask_threshold=mask_threshold, device=device
            )
        )
    setup = yield from mapping_setup_steps(
        kspace, model, times=times, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps,
        prewhitening=prewhitening, device=device, model_options=model_options,
    )  # fmt: skip
    u, kept = subspace_basis(setup.spec, setup.x, setup.options, energy=energy, rank=rank)
    sub = _Subspace(setup.problem, u)
    coef = yield from subspace_solve_steps(sub, **solve)  # type: ignore[arg-type]
    images = sub.expand(coef)
    extra = {"rank": int(u.shape[1]), "energy_retained": kept, "regularization": regularization}
    return (
        yield from _fit_images(
            setup, images, "subspace", extra, mask_threshold, max_iterations, device, model_options
        )
    )


def identity_denoiser(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The identity ``D(x, σ) = x`` (PnP then equals the subspace least-squares solution)."""
    return x


def pnp_admm_steps(
    sub: SubspaceEncoding,
    denoiser: Denoiser,
    *,
    penalty: float = 0.05,
    sigma: float = 0.05,
    iterations: int = 20,
    inner_iterations: int = 5,
) -> Steps[torch.Tensor]:
    """Plug-and-play ADMM over the coefficient images (generator; returns ``α (K, y, x)``).

    ``ρ = penalty ·`` the mean eigenvalue of ``UᴴAᴴAU`` (a random probe); each α-update runs
    ``inner_iterations`` CG steps warm started from the last ``α``; the denoiser sees each
    coefficient image scaled to max 1. Yields a ``"pnp"`` event per iteration.
    """
    rhs = sub.rhs
    g = torch.Generator().manual_seed(3)
    probe = torch.randn(rhs.shape, generator=g, dtype=torch.complex64).to(rhs.device)
    gain = float(
        torch.vdot(probe.reshape(-1), sub.normal(probe).reshape(-1)).real / probe.abs().square().sum()
    )
    rho = float(penalty) * gain
    alpha = torch.zeros_like(rhs)
    z = torch.zeros_like(rhs)
    w = torch.zeros_like(rhs)
    throttle = PreviewThrottle()
    for k in range(1, int(iterations) + 1):
        b = rhs + rho * (z - w)
        cg = conjugate_gradient_steps(
            lambda a: sub.normal(a) + rho * a, b, x0=alpha, max_iterations=inner_iterations, tolerance=1e-7
        )
        while True:
            try:
                next(cg)
            except StopIteration as stop:
                alpha = stop.value
                break
        v = alpha + w
        scale = v.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        z = denoiser(v / scale, float(sigma)) * scale
        w = w + alpha - z
        pv = sub.preview(z) if throttle.ready() or k == iterations else None
        change = float((alpha - z).norm() / alpha.norm().clamp_min(1e-30))
        yield ProgressEvent("pnp", k, int(iterations), pv, {"primal_residual": change})
    return alpha


def pnp_steps(
    kspace: KSpace,
    model: str,
    *,
    denoiser: Denoiser | None = None,
    times: Sequence[float] | np.ndarray | None = None,
    flip_angles: Sequence[float] | np.ndarray | None = None,
    tr: float | None = None,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    rank: int | None = None,
    energy: float = 0.999,
    penalty: float = 0.05,
    sigma: float = 0.05,
    iterations: int = 20,
    inner_iterations: int = 5,
    mask_threshold: float | None = 0.05,
    max_iterations: int = 30,
    density: str = "none",
    prewhitening: bool = True,
    device: DeviceLike = "auto",
    **model_options: object,
) -> Steps[FitResult]:
    """Plug-and-play ADMM over the subspace coefficient images, then the voxel fit (generator).

    Parameters
    ----------
    denoiser
        ``denoise(x complex (K, y, x), sigma) -> (K, y, x)``; None: the learned denoiser of
        :mod:`recon_engine.learned` when one is available, else the identity.
    penalty
        ADMM ``ρ`` relative to the mean eigenvalue of ``UᴴAᴴAU`` (≈ the sampled fraction).
    sigma
        Denoiser strength on coefficient images scaled to max 1.
    iterations, inner_iterations
        ADMM iterations and CG iterations per α-update.

    Other Parameters
    ----------------
        As for :func:`subspace_steps` (non-Cartesian MRF data are matched, as there).

    Returns
    -------
    FitResult
        ``options`` adds ``method = "pnp"``, ``rank``, ``denoiser`` (its name).
    """
    _check(iterations, penalty)
    den = denoiser if denoiser is not None else _default_denoiser()
    name = str(getattr(den, "name", getattr(den, "__name__", type(den).__name__)))
    admm = {
        "penalty": penalty,
        "sigma": sigma,
        "iterations": iterations,
        "inner_iterations": inner_iterations,
    }
    if is_noncartesian(kspace):
        mrf = yield from mrf_raw_setup_steps(
            kspace, model, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps, density=density,
            rank=rank, energy=energy, prewhitening=prewhitening, device=device, model_options=model_options,
        )  # fmt: skip
        coef = yield from pnp_admm_steps(mrf, den, **admm)  # type: ignore[arg-type]
        extra = {
            "denoiser": name,
            "iterations": int(iterations),
            "penalty": float(penalty),
            "sigma": float(sigma),
        }
        return (
            yield from match_coefficients(
                mrf, coef, "pnp", extra, mask_threshold=mask_threshold, device=device
            )
        )
    setup = yield from mapping_setup_steps(
        kspace, model, times=times, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps,
        prewhitening=prewhitening, device=device, model_options=model_options,
    )  # fmt: skip
    u, kept = subspace_basis(setup.spec, setup.x, setup.options, energy=energy, rank=rank)
    sub = _Subspace(setup.problem, u)
    alpha = yield from pnp_admm_steps(sub, den, **admm)  # type: ignore[arg-type]
    images = sub.expand(alpha)
    extra = {"rank": int(u.shape[1]), "energy_retained": kept, "denoiser": name}
    return (
        yield from _fit_images(
            setup, images, "pnp", extra, mask_threshold, max_iterations, device, model_options
        )
    )


def _default_denoiser() -> Denoiser:
    """The learned complex-image denoiser when :mod:`recon_engine.learned` offers one, else the identity."""
    try:
        from recon_engine.learned.denoiser import make_denoiser

        return make_denoiser("builtin", "cpu")
    except Exception:
        pass
    return identity_denoiser
