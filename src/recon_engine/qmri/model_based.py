"""Model-based mapping: parameter maps straight from undersampled multi-coil k-space.

Problem
-------
For contrasts ``t = 1 … n`` with encodings ``A_t = M_t F S`` (mask, centred FFT, coil maps) and
a separable signal model ``S_t(θ, c) = B(θ; x_t) c`` of :mod:`recon_engine.qmri` (``θ``: T1,
T2, B1 …; ``c``: M0, b …), with a per-voxel phase ``φ`` shared by all contrasts,

    ``minimize_p  ½ Σ_t ‖A_t (e^{iφ} B(θ; x_t) c) − y_t‖²``,   ``p = (c, θ, φ)`` per voxel.

Solvers
-------
``"irgnm"`` (default; iteratively regularised Gauss–Newton, as BART ``moba``, Uecker et al. 2008;
Wang et al. 2018): from the two-step start ``p₀``,

1. linearise ``x(p)`` at ``p_k`` (``D = ∂x/∂p``, per voxel, analytic model Jacobians);
2. solve ``(Re DᴴAᴴAD + α_k I) δ = Re Dᴴ Aᴴ(y − A x(p_k)) + α_k (p₀ − p_k)`` by CG
   (``inner_iterations``, Jacobi preconditioned);
3. ``p_{k+1} = P(p_k + δ)`` (nonlinear parameters projected into the model's bounds), ``δ``
   halved (up to 3 times) while it would raise the data cost;
4. ``α_{k+1} = max(q α_k, α_min)``.

``"lbfgs"``: torch L-BFGS (strong Wolfe line search) over autograd of the same cost plus
``½ α_min ‖q − q₀‖²``, in bounded variables (``θ = lo + (hi − lo)·σ(w)``, so no trial point of
the line search leaves the model's domain) with a floored Jacobi scaling. The earlier version
stepped ``θ`` freely (T1 < 0 in ``exp(−TI/T1)`` overflowed to inf, then NaN in every voxel on
noisy data) and scaled unidentifiable parameters 300-fold.

Costs are ``½‖A x − y‖²`` from the residual in float64 (the expanded quadratic form lost the
cost's own size to float32 cancellation).

Scaling: the data are divided by ``s = max|x_SENSE|`` (``c`` becomes O(1)), each nonlinear
parameter by the median of its start map (T1 ≈ 1), the phase is in radians; the Jacobi
preconditioner equalises the rest. The measured comparison of the two solvers on the IR phantom
is in ``docs/qmri.md``.

References
----------
M. Uecker, T. Hohage, K. T. Block, J. Frahm, "Image reconstruction by regularized nonlinear
inversion — joint estimation of coil sensitivities and image content", Magn. Reson. Med.
60:674–682 (2008), doi:10.1002/mrm.21691.
X. Wang, V. Roeloffs, J. Klosowski, et al., "Model-based T1 mapping with sparsity constraints
using single-shot inversion-recovery radial FLASH", Magn. Reson. Med. 79:730–740 (2018),
doi:10.1002/mrm.26726.
T. J. Sumpf, M. Uecker, S. Boretius, J. Frahm, "Model-based nonlinear inverse reconstruction for
T2 mapping using highly undersampled spin-echo MRI", J. Magn. Reson. Imaging 34:420–428 (2011),
doi:10.1002/jmri.22634.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import DataError, ParameterError
from recon_engine.progress import PreviewThrottle, ProgressCallback, ProgressEvent, Steps, run
from recon_engine.qmri._model import SignalModel, signal_and_jacobian
from recon_engine.qmri._raw import (
    ContrastProblem,
    MappingSetup,
    crop_maps,
    mapping_setup_steps,
    two_step_steps,
)
from recon_engine.qmri._voxelfit import linear_names
from recon_engine.qmri.result import FitResult
from recon_engine.qmri.subspace import pnp_steps, subspace_steps
from recon_engine.solvers.cg import conjugate_gradient_steps

__all__ = [
    "MAPPING_METHODS",
    "MB_SOLVERS",
    "map_raw_steps",
    "model_based_steps",
    "two_step_raw_steps",
]

#: Solvers of :func:`model_based_steps`.
MB_SOLVERS: tuple[str, ...] = ("irgnm", "lbfgs")


@dataclass
class _Voxels:
    """The parametrisation of the voxels in the support (private).

    ``p (V, L + K + 1)`` real: ``c / s``, ``θ / unit``, ``φ``.
    """

    spec: SignalModel
    x: torch.Tensor  # (n,) float32 sampling values
    options: Mapping[str, object]
    aux: dict[str, torch.Tensor]
    index: torch.Tensor  # (V,) flat voxel indices
    shape: tuple[int, int]
    n: int
    n_lin: int
    unit: torch.Tensor  # (K,)
    lower: torch.Tensor  # (K,) scaled bounds
    upper: torch.Tensor

    def split(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(c (V, L), θ (V, K) physical, φ (V,))`` from ``p``."""
        nl = self.n_lin
        return p[:, :nl], p[:, nl:-1] * self.unit, p[:, -1]

    def signal(self, p: torch.Tensor) -> torch.Tensor:
        """``(V, n)`` complex ``e^{iφ} B(θ) c`` (differentiable by autograd)."""
        c, theta, phi = self.split(p)
        b = self.spec.basis(theta, self.x, self.options, self.aux)
        s = torch.einsum("vnl,vl->vn", b, c)
        return s * torch.exp(1j * phi)[:, None]

    def signal_and_jacobian(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``S (V, n)`` complex and ``D = ∂S/∂p (P, V, n)`` complex."""
        c, theta, phi = self.split(p)
        s_real, jac = signal_and_jacobian(self.spec, theta, c, self.x, self.options, self.aux)
        rot = torch.exp(1j * phi)[:, None]
        jac = jac.clone()
        jac[self.n_lin :] *= self.unit[:, None, None]
        s = s_real * rot
        d = torch.cat((jac * rot, (1j * s)[None]))
        return s, d

    def image(self, sig: torch.Tensor) -> torch.Tensor:
        """Scatter ``(V, n)`` into images ``(n, y, x)`` (zero outside the support)."""
        out = torch.zeros(self.n, self.shape[0] * self.shape[1], dtype=torch.complex64, device=sig.device)
        out[:, self.index] = sig.T.to(torch.complex64)
        return out.reshape(self.n, *self.shape)

    def gather(self, img: torch.Tensor) -> torch.Tensor:
        """``(n, y, x)`` → ``(V, n)``."""
        return img.reshape(self.n, -1)[:, self.index].T

    def project(self, p: torch.Tensor) -> torch.Tensor:
        """Nonlinear parameters clamped into the model's bounds."""
        nl = self.n_lin
        q = p.clone()
        q[:, nl:-1] = torch.maximum(torch.minimum(q[:, nl:-1], self.upper), self.lower)
        return q


def _start(
    setup: MappingSetup, start: FitResult, images: torch.Tensor, phase: torch.Tensor, scale: float
) -> tuple[_Voxels, torch.Tensor]:
    """The voxel parametrisation and ``p₀`` from the two-step fit (encoded grid)."""
    spec, opts = setup.spec, setup.options
    lin = linear_names(spec, opts)
    support = start.mask.reshape(-1)
    vals = [start.maps[k].reshape(-1)[support] for k in lin] + [
        start.maps[k].reshape(-1)[support] for k in spec.nonlinear
    ]
    arr = np.stack(vals, 1).astype(np.float64)  # (V, L + K)
    for j in range(arr.shape[1]):  # failed voxels get the median
        col = arr[:, j]
        bad = ~np.isfinite(col)
        if bad.any():
            col[bad] = np.median(col[~bad]) if (~bad).any() else (1.0 if j >= len(lin) else 0.0)
    n_lin = len(lin)
    theta = arr[:, n_lin:]
    unit = np.median(theta, 0)
    unit = np.where(np.isfinite(unit) & (unit > 0), unit, 1.0)
    dev = images.device
    index = torch.as_tensor(np.flatnonzero(support), device=dev)
    aux = {
        k: torch.as_tensor(v.reshape(-1)[support], dtype=torch.float32, device=dev)
        for k, v in start.aux.items()
    }
    unit_t = torch.as_tensor(unit, dtype=torch.float32, device=dev)
    vox = _Voxels(
        spec=spec,
        x=torch.as_tensor(setup.x, dtype=torch.float32, device=dev),
        options=opts,
        aux=aux,
        index=index,
        shape=setup.problem.shape,
        n=setup.problem.n,
        n_lin=n_lin,
        unit=unit_t,
        lower=torch.as_tensor(spec.lower, dtype=torch.float32, device=dev) / unit_t,
        upper=torch.as_tensor(spec.upper, dtype=torch.float32, device=dev) / unit_t,
    )
    c0 = torch.as_tensor(arr[:, :n_lin] / scale, dtype=torch.float32, device=dev)
    th0 = torch.as_tensor(theta / unit, dtype=torch.float32, device=dev)
    phi0 = phase.reshape(-1)[index].to(torch.float32)
    p0 = vox.project(torch.cat((c0, th0, phi0[:, None]), 1))
    return vox, p0


def _block_factor(d: torch.Tensor, gain: float, alpha: float) -> torch.Tensor:
    """Cholesky factors ``L (V, P, P)`` of the per-voxel blocks ``gain·Re(DᴴD) + αI`` (block-Jacobi)."""
    h = torch.einsum("pvn,qvn->vpq", d.conj(), d).real * gain
    eye = torch.eye(h.shape[-1], dtype=h.dtype, device=h.device)
    h = (
        h
        + (alpha + 1e-6 * h.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True)[..., None].clamp_min(1e-12))
        * eye
    )
    return torch.linalg.cholesky(h)


def _solve(chol: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``L⁻¹ v`` per voxel (``v (V, P)``)."""
    return torch.linalg.solve_triangular(chol, v[..., None], upper=False)[..., 0]


def _solve_t(chol: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``L⁻ᵀ v`` per voxel."""
    return torch.linalg.solve_triangular(chol.transpose(-1, -2), v[..., None], upper=True)[..., 0]


def _mean_gain(problem: ContrastProblem) -> float:
    """``⟨u, AᴴA u⟩ / ⟨u, u⟩`` for a seeded random image: the mean eigenvalue (sampled fraction)."""
    g = torch.Generator().manual_seed(7)
    u = torch.randn((problem.n, *problem.shape), generator=g, dtype=torch.complex64).to(problem.rhs.device)
    return float(
        torch.vdot(u.reshape(-1), problem.normal(u).reshape(-1)).real
        / torch.vdot(u.reshape(-1), u.reshape(-1)).real
    )


def _objective(problem: ContrastProblem, img: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """``½‖A x − y‖²`` from the residual, summed in float64 (differentiable).

    The expanded form ``½xᴴAᴴAx − Re⟨Aᴴy, x⟩ + ½‖y‖²`` cancels two numbers ~10⁴× larger than
    the cost near the optimum, which float32 leaves with an error of the cost's own size
    (the IRGNM costs then rose and fell by ~25 % at random, and a line search saw noise).
    """
    r = torch.view_as_real(problem.forward(img) - data).to(torch.float64)
    return 0.5 * r.square().sum()


#: Halvings of an IRGNM step that would raise the data cost.
_BACKTRACKS = 3


def _irgnm(
    problem: ContrastProblem,
    vox: _Voxels,
    p0: torch.Tensor,
    rhs: torch.Tensor,
    data: torch.Tensor,
    *,
    iterations: int,
    inner_iterations: int,
    alpha0: float,
    reduction: float,
    alpha_min: float,
    gain: float,
) -> Any:
    """IRGNM iterations; yields ``(k, p, cost, α)`` per outer iteration, returns ``p``."""
    p = p0.clone()
    alpha = alpha0
    last = math.inf
    for k in range(1, iterations + 1):
        s, d = vox.signal_and_jacobian(p)
        img = vox.image(s)
        grad_img = rhs - problem.normal(img)  # Aᴴ(y − A x)
        g = (d.conj() * vox.gather(grad_img)[None]).real.sum(-1).T  # (V, P)
        g = g + alpha * (p0 - p)
        chol = _block_factor(d, gain, alpha)

        def normal(
            z: torch.Tensor, d: torch.Tensor = d, chol: torch.Tensor = chol, a: float = alpha
        ) -> torch.Tensor:
            delta = _solve_t(chol, z)
            u = vox.image((d * delta.T[:, :, None]).sum(0))
            w = vox.gather(problem.normal(u))
            return _solve(chol, (d.conj() * w[None]).real.sum(-1).T + a * delta)

        z = run(
            conjugate_gradient_steps(normal, _solve(chol, g), max_iterations=inner_iterations, tolerance=1e-5)
        )
        step = _solve_t(chol, z)
        trial = vox.project(p + step)
        cost = float(_objective(problem, vox.image(vox.signal(trial)), data))
        for _ in range(_BACKTRACKS):  # a step that raises the data cost is halved (small α)
            if cost <= last:
                break
            step = 0.5 * step
            trial = vox.project(p + step)
            cost = float(_objective(problem, vox.image(vox.signal(trial)), data))
        p, last = trial, cost
        alpha = max(alpha * reduction, alpha_min)
        yield (k, p, cost, alpha)
    return p


#: Start values this close (as a fraction of the range) to a bound are moved inside for L-BFGS.
_LBFGS_EDGE = 1e-4


def _lbfgs(
    problem: ContrastProblem,
    vox: _Voxels,
    p0: torch.Tensor,
    data: torch.Tensor,
    *,
    iterations: int,
    inner_iterations: int,
    alpha: float,
    gain: float,
) -> Any:
    """L-BFGS over autograd; yields ``(k, p, cost, α)`` per outer step, returns ``p``.

    The unknowns are ``q = (c, w, φ)`` with ``θ/unit = lo + (hi − lo)·σ(w)`` (σ the logistic
    function): every ``q`` the line search tries is a valid parameter set. Each unknown is
    divided by its Jacobi scale ``(gain·Σₙ|∂S/∂q|² + floor)^{-1/2}`` at the start (``floor``:
    ``α`` and 1 % of the median over the voxels, so that unidentifiable voxels, e.g. T1 where
    ``b ≈ 0``, are not stretched 300-fold). The cost is ``½‖A x − y‖² + ½α‖q − q₀‖²``.
    """
    nl = vox.n_lin
    lo, hi = vox.lower, vox.upper
    span = hi - lo

    def params(q: torch.Tensor) -> torch.Tensor:
        theta = lo + span * torch.sigmoid(q[:, nl:-1])
        return torch.cat((q[:, :nl], theta, q[:, -1:]), 1)

    with torch.no_grad():
        frac = ((p0[:, nl:-1] - lo) / span).clamp(_LBFGS_EDGE, 1 - _LBFGS_EDGE)
        q0 = torch.cat((p0[:, :nl], torch.logit(frac), p0[:, -1:]), 1)
        _, d = vox.signal_and_jacobian(params(q0))
        chain = torch.ones_like(q0)
        chain[:, nl:-1] = span * frac * (1 - frac)  # dθ/dw
        h = d.abs().square().sum(-1).T * chain.square() * gain  # (V, P)
        floor = torch.clamp(0.01 * h.median(0).values, min=max(alpha, 1e-12))
        pre = (h + floor).rsqrt()
    z = torch.zeros_like(q0, requires_grad=True)
    opt = torch.optim.LBFGS(
        [z], lr=1.0, max_iter=inner_iterations, history_size=10, line_search_fn="strong_wolfe"
    )

    def loss_of(zz: torch.Tensor) -> torch.Tensor:
        img = vox.image(vox.signal(params(q0 + zz * pre)))
        return _objective(problem, img, data) + 0.5 * alpha * (zz * pre).square().sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_of(z)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    p = p0
    for k in range(1, iterations + 1):
        opt.step(closure)  # type: ignore[no-untyped-call]
        with torch.no_grad():
            p = params(q0 + z * pre)
            cost = float(_objective(problem, vox.image(vox.signal(p)), data))
        yield (k, p, cost, alpha)
    return p


def _result(
    setup: MappingSetup,
    vox: _Voxels,
    p: torch.Tensor,
    images: torch.Tensor,
    scale: float,
    method: str,
    extra: dict[str, object],
) -> FitResult:
    """The :class:`FitResult` of parameters ``p`` (encoded grid, before cropping)."""
    spec, opts = setup.spec, setup.options
    c, theta, phi = vox.split(p)
    lin = linear_names(spec, opts)
    values = {name: c[:, i] * scale for i, name in enumerate(lin)}
    values.update({name: theta[:, k] for k, name in enumerate(spec.nonlinear)})
    if spec.derived is not None:
        values.update(spec.derived(values, opts))
    # the contrast images with the common phase removed: what the voxel curves are compared with
    observed = (vox.gather(images) * torch.exp(-1j * phi)[:, None]).real
    b = spec.basis(theta, vox.x, opts, vox.aux)
    fitted = torch.einsum("vnl,vl->vn", b, c * scale)
    ss_res = (observed - fitted).square().sum(1)
    ss_tot = (observed - observed.mean(1, keepdim=True)).square().sum(1)
    vals = {
        **values,
        "phase": phi,
        "r2": 1.0 - ss_res / ss_tot.clamp_min(1e-30),
        "residual": torch.sqrt(ss_res / vox.n),
    }
    spatial = vox.shape
    keep = np.zeros(spatial[0] * spatial[1], bool)
    idx = vox.index.cpu().numpy()
    keep[idx] = True
    maps: dict[str, np.ndarray] = {}
    for name, v in vals.items():
        out = np.full(keep.size, np.nan, np.float32)
        out[idx] = v.detach().cpu().numpy().astype(np.float32)
        maps[name] = out.reshape(spatial)
    order = [*spec.info.parameters, "phase", "r2", "residual"]
    maps = {k: maps[k] for k in order if k in maps}
    units = {k: spec.info.units.get(k, "a.u.") for k in maps}
    units.update({"phase": "rad", "r2": "", "residual": "a.u."})
    obs = np.full((vox.n, keep.size), np.nan, np.float32)
    obs[:, idx] = observed.T.detach().cpu().numpy()
    aux: dict[str, np.ndarray] = {}
    for k, v in vox.aux.items():
        a = np.full(keep.size, np.nan, np.float32)
        a[idx] = v.cpu().numpy()
        aux[k] = a.reshape(spatial)
    result = FitResult(
        model=spec.info.name,
        maps=maps,
        units=units,
        sd={},
        mask=keep.reshape(spatial),
        times=setup.x.copy(),
        options={**opts, "method": method, **extra},
        observed_data=obs.reshape(vox.n, *spatial),
        magnitude=False,
        aux=aux,
    )
    return crop_maps(result, setup.problem)


def _preview(
    vox: _Voxels, p: torch.Tensor, problem: ContrastProblem, main: str, setup: MappingSetup
) -> np.ndarray:
    c, theta, _ = vox.split(p)
    spec = setup.spec
    if main in spec.nonlinear:
        v = theta[:, spec.nonlinear.index(main)]
    else:
        lin = linear_names(spec, setup.options)
        values = {name: c[:, i] for i, name in enumerate(lin)}
        values.update({name: theta[:, k] for k, name in enumerate(spec.nonlinear)})
        if spec.derived is not None:
            values.update(spec.derived(values, setup.options))
        v = values[main]
    out = torch.zeros(vox.shape[0] * vox.shape[1], device=p.device)
    out[vox.index] = v.detach().to(torch.float32)
    img = problem.to_recon(out.reshape(vox.shape)).cpu().numpy()
    return np.asarray(img, dtype=np.float32)


def two_step_raw_steps(
    kspace: KSpace,
    model: str,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    flip_angles: Sequence[float] | np.ndarray | None = None,
    tr: float | None = None,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    sense_iterations: int = 20,
    mask_threshold: float | None = 0.05,
    max_iterations: int = 30,
    prewhitening: bool = True,
    device: DeviceLike = "auto",
    **model_options: object,
) -> Steps[FitResult]:
    """Two-step mapping of raw data: CG-SENSE per contrast, then the voxel-wise fit (generator).

    Parameters are those of :func:`model_based_steps` (``sense_iterations`` CG iterations per
    contrast; ``max_iterations`` Levenberg–Marquardt iterations). Returns the
    :class:`~recon_engine.qmri.FitResult` in the recon space, ``options["method"] = "two-step"``.
    """
    setup = yield from mapping_setup_steps(
        kspace, model, times=times, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps,
        prewhitening=prewhitening, device=device, model_options=model_options,
    )  # fmt: skip
    res = yield from two_step_steps(
        setup.problem, setup.spec.info.name, setup.x, tr=setup.tr, sense_iterations=sense_iterations,
        mask_threshold=mask_threshold, max_iterations=max_iterations, device=device,
        **_fit_options(setup, model_options),  # type: ignore[arg-type]
    )  # fmt: skip
    res.options = {**res.options, "method": "two-step"}
    return crop_maps(res, setup.problem)


def _fit_options(setup: MappingSetup, given: Mapping[str, object]) -> dict[str, object]:
    """The options to pass on to :func:`~recon_engine.qmri.fit_steps` (those given, resolved)."""
    out = {k: setup.options[k] for k in given if k in setup.options}
    for k in ("echo_spacing",):
        if k in setup.options and setup.options[k] is not None:
            out[k] = setup.options[k]
    return out


def model_based_steps(
    kspace: KSpace,
    model: str,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    flip_angles: Sequence[float] | np.ndarray | None = None,
    tr: float | None = None,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    solver: str = "irgnm",
    iterations: int = 12,
    inner_iterations: int = 20,
    regularization_weight: float = 0.1,
    reduction: float = 0.3,
    min_regularization_weight: float = 1e-5,
    sense_iterations: int = 20,
    mask_threshold: float | None = 0.05,
    prewhitening: bool = True,
    device: DeviceLike = "auto",
    **model_options: object,
) -> Steps[FitResult]:
    """Model-based mapping from multi-contrast raw data (generator with map previews).

    Parameters
    ----------
    kspace
        Cartesian 2D k-space ``(contrast, coils, 1, k1, k0)``, one contrast axis, masks per
        contrast in ``sampling_mask`` ``(contrast, 1, k1)``.
    model
        A closed-form or EPG model of :data:`~recon_engine.qmri.MODEL_NAMES` (not ``"mrf"``:
        use :func:`~recon_engine.qmri.subspace.subspace_steps`).
    times, flip_angles, tr
        TI/TE (ms) or flip angles (deg) per contrast, TR (ms); default: the raw header.
    maps
        Coil maps ``(n_maps, coils, 1, y, x)`` (encoded grid, raw coil space), or None to
        estimate one set (``coil_maps``) from the contrast with the most energy.
    solver
        ``"irgnm"`` or ``"lbfgs"`` (see the module docstring).
    iterations
        Outer iterations (Gauss–Newton steps, or L-BFGS calls); one preview each.
    inner_iterations
        CG iterations per Gauss–Newton step (L-BFGS: iterations per call).
    regularization_weight, reduction, min_regularization_weight
        IRGNM ``α₀``, ``q`` and ``α_min`` (L-BFGS: ``α_min`` only), in units of the
        normalised problem (data / max|x_SENSE|, Jacobi-scaled).
    sense_iterations, mask_threshold
        The two-step start: CG-SENSE iterations per contrast; the support of the maps
        (voxels whose peak over the contrasts reaches this fraction of the largest).
    prewhitening, device
        As for the reconstructions.
    **model_options
        Model options (see :func:`~recon_engine.qmri.model_info`).

    Yields
    ------
    ProgressEvent
        The two-step stages, then ``"model-based"`` per outer iteration with ``metrics``
        ``{"cost": ½‖Ax − y‖² (normalised), "alpha": α}`` and a preview of the main map
        (recon space, ≤ 10/s and always at the last iteration).

    Returns
    -------
    FitResult
        Maps in the recon space (``"phase"`` in rad added), ``sd`` empty, ``options["method"]
        = "model-based"`` and ``options["solver"]``; ``observed_data`` are the CG-SENSE
        images with the fitted phase removed (what the voxel curves are compared with).

    Raises
    ------
    ParameterError
        Unknown model/solver/option, bad iteration counts or weights.
    DataError
        Data that are not 2D Cartesian multi-contrast, no voxel in the support.
    """
    if solver not in MB_SOLVERS:
        raise ParameterError(f"unknown model-based solver {solver!r}; choose one of {', '.join(MB_SOLVERS)}")
    for name, v in (("iterations", iterations), ("inner_iterations", inner_iterations)):
        if int(v) != v or v < 1:
            raise ParameterError(f"{name} must be an integer ≥ 1, got {v!r}")
    for name, w in (
        ("regularization_weight", regularization_weight),
        ("min_regularization_weight", min_regularization_weight),
    ):
        if not math.isfinite(w) or w < 0:
            raise ParameterError(f"{name} must be a finite number ≥ 0, got {w!r}")
    if not 0 < reduction <= 1:
        raise ParameterError(f"reduction must be in (0, 1], got {reduction!r}")
    setup = yield from mapping_setup_steps(
        kspace, model, times=times, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps,
        prewhitening=prewhitening, device=device, model_options=model_options,
    )  # fmt: skip
    spec = setup.spec
    if spec.dictionary_only:
        raise ParameterError("MR fingerprinting is mapped by the subspace or PnP method, not model-based")
    got: list[torch.Tensor] = []

    def keep(images: torch.Tensor, phase: torch.Tensor) -> None:
        got.extend((images, phase))

    start = yield from two_step_steps(
        setup.problem, spec.info.name, setup.x, tr=setup.tr, sense_iterations=sense_iterations,
        mask_threshold=mask_threshold, device=device, on_images=keep,
        **_fit_options(setup, model_options),  # type: ignore[arg-type]
    )  # fmt: skip
    images, phase = got
    if not start.mask.any():
        raise DataError("no voxel to map: the two-step start has an empty mask")
    problem = setup.problem
    scale = float(images.abs().max()) or 1.0
    vox, p0 = _start(setup, start, images, phase, scale)
    rhs = problem.rhs / scale
    data = problem.data / scale
    gain = _mean_gain(problem)
    if solver == "irgnm":
        gen = _irgnm(
            problem, vox, p0, rhs, data, iterations=int(iterations), inner_iterations=int(inner_iterations),
            alpha0=float(regularization_weight), reduction=float(reduction),
            alpha_min=float(min_regularization_weight), gain=gain,
        )  # fmt: skip
    else:
        gen = _lbfgs(
            problem, vox, p0, data, iterations=int(iterations), inner_iterations=int(inner_iterations),
            alpha=float(min_regularization_weight), gain=gain,
        )  # fmt: skip
    throttle = PreviewThrottle()
    main = spec.info.main
    p = p0
    while True:
        try:
            k, p, cost, alpha = next(gen)
        except StopIteration as stop:
            p = stop.value
            break
        pv = _preview(vox, p, problem, main, setup) if (throttle.ready() or k == iterations) else None
        yield ProgressEvent("model-based", k, int(iterations), pv, {"cost": cost, "alpha": alpha})
    extra = {"solver": solver, "iterations": int(iterations), "inner_iterations": int(inner_iterations)}
    return _result(setup, vox, p, images, scale, "model-based", extra)


def model_based(
    kspace: KSpace, model: str, *, progress: ProgressCallback | None = None, **options: Any
) -> FitResult:
    """:func:`model_based_steps` run to the end (same options); returns the :class:`FitResult`.

    ``progress`` receives every :class:`~recon_engine.progress.ProgressEvent`.
    """
    return run(model_based_steps(kspace, model, **options), progress)


#: Mapping methods for raw data by name (``mrrecon fit RAW --method NAME``, the qMRI dock).
MAPPING_METHODS: dict[str, Callable[..., Steps[FitResult]]] = {
    "two-step": two_step_raw_steps,
    "model-based": model_based_steps,
    "subspace": subspace_steps,
    "pnp": pnp_steps,
    "learned": __import__("recon_engine.qmri.unrolled", fromlist=["unrolled_steps"]).unrolled_steps,
    "gridding": __import__("recon_engine.qmri.mrf_raw", fromlist=["mrf_gridding_steps"]).mrf_gridding_steps,
}


def map_raw_steps(
    kspace: KSpace, model: str, method: str = "model-based", **options: Any
) -> Steps[FitResult]:
    """Maps from multi-contrast raw data by one of :data:`MAPPING_METHODS` (generator).

    Raises
    ------
    ParameterError
        Unknown method (the message lists the valid ones).
    DataError
        No contrast axis (a single-contrast scan), or several ``other`` axes.
    """
    if method not in MAPPING_METHODS:
        raise ParameterError(f"unknown mapping method {method!r}; choose one of {', '.join(MAPPING_METHODS)}")
    if len(kspace.other_axes) != 1 or kspace.data.ndim != 5 or kspace.data.shape[0] < 2:
        raise DataError(
            "mapping from raw data needs one contrast axis (TIs, TEs, flip angles or frames: data "
            f"(contrast, coils, k2, k1, k0)); this dataset has other axes {kspace.other_axes or 'none'} "
            f"and shape {tuple(kspace.data.shape)}: a single-contrast scan cannot be mapped"
        )
    return (yield from MAPPING_METHODS[method](kspace, model, **options))
