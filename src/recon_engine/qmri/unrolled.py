"""Relaxometry-guided unrolled mapping from multi-contrast raw data (the ``"learned"`` method).

The contrasts are reconstructed by :class:`~recon_engine.learned.relax_net.RelaxNet` (``K``
unrolls of a CNN on all contrasts, a signal-model consistency step — per-voxel dictionary
match and re-synthesis — and CG data consistency on all contrasts together, with the joint
multi-coil encoding of :mod:`recon_engine.qmri._raw`), then fitted voxel by voxel as the
two-step method does (common phase removed, :func:`~recon_engine.qmri.fit_steps`). Each unroll
yields a ``"unrolled"`` :class:`~recon_engine.progress.ProgressEvent` whose preview is the T1 (or
the model's main parameter) of the matched dictionary atoms.

The shipped weights (``learned/weights/relax.pt``) were trained for inversion recovery with the
8 TIs of :mod:`recon_engine.simulate.qmri_raw` only (model card in ``docs/learned.md``; measured
against model-based and two-step mapping in ``docs/qmri.md``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import ParameterError
from recon_engine.progress import PreviewThrottle, ProgressEvent, Steps
from recon_engine.qmri._raw import common_phase, crop_maps, mapping_setup_steps
from recon_engine.qmri.fitting import fit_steps
from recon_engine.qmri.result import FitResult

__all__ = ["unrolled_steps"]


def unrolled_steps(
    kspace: KSpace,
    model: str,
    *,
    weights: str = "builtin",
    times: Sequence[float] | np.ndarray | None = None,
    flip_angles: Sequence[float] | np.ndarray | None = None,
    tr: float | None = None,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    mask_threshold: float | None = 0.05,
    max_iterations: int = 30,
    prewhitening: bool = True,
    device: DeviceLike = "auto",
    **model_options: object,
) -> Steps[FitResult]:
    """Maps from multi-contrast raw data by the relaxometry-guided unrolled network (generator).

    Parameters
    ----------
    kspace, model, times, flip_angles, tr, maps, coil_maps, prewhitening, device
        As for :func:`~recon_engine.qmri.model_based.model_based_steps`.
    weights
        ``"builtin"`` (trained for ``"ir"`` with 8 TIs) or a weights file of
        :func:`~recon_engine.learned.relax_train.train_relax_steps` (read with
        ``torch.load(weights_only=True)``).
    mask_threshold, max_iterations
        The voxel fit of the network's contrasts (see :func:`~recon_engine.qmri.fit_steps`).

    Yields
    ------
    ProgressEvent
        Setup stages, ``"unrolled"`` per unroll (preview: the matched atoms' main parameter,
        ≤ 10/s and always at the last unroll), then the fit's events.

    Returns
    -------
    FitResult
        Maps in the recon space, ``options["method"] = "learned"``, ``"weights"``, ``"unrolls"``,
        ``"lambda"``, ``"blend"``.

    Raises
    ------
    ParameterError
        Weights of another network kind or architecture, another model or number of contrasts
        than the weights were trained for, a model with per-voxel aux maps.
    FileFormatError
        Missing or unsafe weights file.
    """
    from recon_engine.learned.relax_net import ModelProjector, coil_support, load_relax_net

    dev = resolve_device(device)
    net, meta = load_relax_net(weights, device=dev)
    setup = yield from mapping_setup_steps(
        kspace, model, times=times, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps,
        prewhitening=prewhitening, device=device, model_options=model_options,
    )  # fmt: skip
    spec = setup.spec
    trained_for = str(meta.get("model", "ir"))
    if spec.info.name != trained_for:
        raise ParameterError(
            f"the unrolled network {_name(weights)} was trained for model {trained_for!r}, not "
            f"{spec.info.name!r}; use the model-based method, or train weights for this model"
        )
    if setup.problem.n != net.n_contrasts:
        raise ParameterError(
            f"the unrolled network {_name(weights)} takes {net.n_contrasts} contrasts; these data have "
            f"{setup.problem.n}"
        )
    seen = np.asarray(meta.get("times", []), dtype=np.float64)
    if seen.size == setup.x.size and not np.allclose(seen, setup.x, rtol=0.02):
        warnings.warn(
            f"the unrolled network was trained with {spec.info.times_label} {seen.tolist()} "
            f"{spec.info.times_unit}, these data have {setup.x.tolist()}: its maps are not validated there",
            stacklevel=2,
        )
    projector = ModelProjector(spec, setup.x, setup.options)
    problem = setup.problem

    def normal(v: torch.Tensor) -> torch.Tensor:
        return problem.normal(v[0])[None]

    rhs = problem.rhs[None]
    throttle = PreviewThrottle()
    main = spec.info.main
    k_main = spec.nonlinear.index(main) if main in spec.nonlinear else 0
    support = coil_support(normal, tuple(rhs.shape), rhs.device)
    gen = net.iterate(normal, rhs, projector, support)
    with torch.no_grad():
        while True:
            try:
                k, _, index = next(gen)
            except StopIteration as stop:
                images = stop.value[0] * support[0]
                break
            pv = None
            if index is not None and (throttle.ready() or k == net.unrolls):
                par = projector.parameters_of(index[0])[..., k_main]
                pv = np.asarray(problem.to_recon(par.to(torch.float32)).cpu().numpy(), dtype=np.float32)
            yield ProgressEvent("unrolled", k, net.unrolls, pv, {"lambda": float(net.lam)})
    phase = common_phase(images, spec, setup.x)
    series = (images * torch.exp(-1j * phase)).real.cpu().numpy().astype(np.float32)
    opts = {k: setup.options[k] for k in model_options if k in setup.options}
    if spec.polarity:
        opts.setdefault("signed", True)
    key = "flip_angles" if spec.abscissa == "flip_angles" else "times"
    res = yield from fit_steps(
        series, spec.info.name, mask_threshold=mask_threshold, max_iterations=max_iterations, device=device,
        tr=setup.tr, **{key: setup.x}, **opts,  # type: ignore[arg-type]
    )  # fmt: skip
    res.options = {
        **res.options,
        "method": "learned",
        "weights": _name(weights),
        "unrolls": net.unrolls,
        "lambda": float(net.lam),
        "blend": float(net.blend),
    }
    return crop_maps(res, problem)


def _name(weights: str | os.PathLike[str]) -> str:
    return "builtin" if str(weights) == "builtin" else os.fspath(weights)
