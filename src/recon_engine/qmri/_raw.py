"""Multi-contrast raw data for mapping (private): the joint encoding, per-contrast SENSE, the two-step fit.

:func:`contrast_problem_steps` turns a k-space with one contrast axis (``(contrast, coils, 1,
k1, k0)``, the contrast axis the first ``other`` axis) into a :class:`ContrastProblem`: the
multi-coil encoding ``A_t = M_t F S`` of every contrast on the encoded grid, with one set of
coil maps for all contrasts (estimated from the contrast with the most energy, so that every
contrast image has the same receive phase). :func:`two_step_steps` is the reference method:
CG-SENSE per contrast, the common phase removed, the voxel fit of
:func:`recon_engine.qmri.fit_steps` on the real, signed signals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from recon_engine.calibration.coil_maps import estimate_coil_maps
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.qmri._model import SignalModel
from recon_engine.qmri.fitting import fit_steps
from recon_engine.qmri.models import get_model
from recon_engine.qmri.result import FitResult
from recon_engine.reconstructions._encoding import Encoding
from recon_engine.reconstructions._iterative import prepare_steps
from recon_engine.solvers.cg import conjugate_gradient_steps

__all__ = [
    "ContrastProblem",
    "common_phase",
    "contrast_problem_steps",
    "sampling_values",
    "sense_images",
    "two_step_steps",
]


@dataclass
class ContrastProblem:
    """The encoding of all contrasts of one slice.

    Images are complex64 ``(n, y, x)`` on the encoded grid (readout oversampling included).

    Attributes
    ----------
    encoding
        The joint :class:`~recon_engine.reconstructions._encoding.Encoding` (images ``(n, 1, 1, y, x)``).
    n
        Number of contrasts.
    shape
        ``(y, x)`` of the encoded grid.
    """

    encoding: Encoding
    n: int
    shape: tuple[int, int]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``A x``: images ``(n, y, x)`` → data."""
        return self.encoding.forward(x[:, None, None])

    def adjoint(self, d: torch.Tensor) -> torch.Tensor:
        """``Aᴴ d`` → ``(n, y, x)``."""
        return self.encoding.adjoint(d)[:, 0, 0]

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``AᴴA x`` for ``(n, y, x)`` (or ``(n, 1, 1, y, x)``, kept)."""
        if x.ndim == 3:
            return self.encoding.normal(x[:, None, None])[:, 0, 0]
        return self.encoding.normal(x)

    @property
    def rhs(self) -> torch.Tensor:
        """``Aᴴ y`` ``(n, y, x)``."""
        return self.encoding.rhs[:, 0, 0]

    @property
    def data(self) -> torch.Tensor:
        """The (prewhitened, weighted) measured data."""
        return self.encoding.data

    def to_recon(self, x: torch.Tensor) -> torch.Tensor:
        """Encoded grid → recon space for ``(*, y, x)`` (complex or real)."""
        lead = x.shape[:-2]
        z = x.reshape(-1, 1, *x.shape[-2:])
        real = not torch.is_complex(z)
        out = self.encoding.to_recon(z.to(torch.complex64) if real else z)
        out = out.reshape(*lead, *out.shape[-2:])
        return out.real if real else out


def _reference_contrast(kspace: KSpace) -> int:
    energy = kspace.data.abs().square().reshape(kspace.data.shape[0], -1).sum(1)
    return int(torch.argmax(energy))


def contrast_problem_steps(
    kspace: KSpace,
    *,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    coil_map_options: Mapping[str, Any] | None = None,
    prewhitening: bool = True,
    device: DeviceLike = "auto",
) -> Steps[ContrastProblem]:
    """The joint encoding of a multi-contrast Cartesian k-space (generator; returns the problem).

    Parameters
    ----------
    kspace
        ``data`` ``(contrast, coils, 1, k1, k0)`` with ``sampling_mask`` ``(contrast, 1, k1)``
        (one 2D slice; the contrast axis is the only ``other`` axis).
    maps
        Coil maps ``(n_maps, coils, 1, y, x)`` on the encoded grid in the raw coil space; None
        estimates one set (``coil_maps`` method) from the contrast with the most energy.
    coil_maps, coil_map_options, prewhitening, device
        As for :func:`~recon_engine.reconstructions.sense.sense_steps`.

    Raises
    ------
    DataError
        No contrast axis, several other axes, a 3D volume, non-Cartesian data (the message names
        the methods that map non-Cartesian MRF data).
    """
    if len(kspace.other_axes) != 1 or kspace.data.ndim != 5:
        raise DataError(
            "model-based and subspace mapping need one contrast axis (contrast, coils, k2, k1, k0); "
            f"got other axes {kspace.other_axes} and shape {tuple(kspace.data.shape)}"
        )
    if kspace.data.shape[0] < 2:
        raise DataError("mapping from raw data needs at least two contrasts")
    if kspace.trajectory is not None:
        raise DataError(
            "two-step, model-based and learned mapping need 2D Cartesian raw data; for non-Cartesian "
            "MRF data (a trajectory, one readout set per frame) use method gridding, subspace or pnp "
            "with model mrf"
        )
    if kspace.data.shape[-3] != 1:
        raise DataError("mapping from raw data supports 2D Cartesian acquisitions (one slice)")
    dev = resolve_device(device)
    if maps is None:
        ref = _reference_contrast(kspace)
        one = replace(
            kspace,
            data=kspace.data[ref],
            sampling_mask=kspace.sampling_mask[ref],
            other_axes=(),
            noise=None,
        )
        yield ProgressEvent("coil maps", 0, 0)
        est = estimate_coil_maps(one, method=coil_maps, device=dev, **dict(coil_map_options or {}))  # type: ignore[arg-type]
        maps = est
    problem = yield from prepare_steps(
        kspace, coil_maps="espirit", maps=maps, prewhitening=prewhitening, device=dev, joint_frames=True
    )
    enc = problem.encoding(problem.jobs()[0])
    n = int(kspace.data.shape[0])
    shape = (int(enc.rhs.shape[-2]), int(enc.rhs.shape[-1]))
    return ContrastProblem(enc, n, shape)


def sense_images(
    problem: ContrastProblem, *, iterations: int = 20, regularization_weight: float = 0.0
) -> Steps[torch.Tensor]:
    """CG-SENSE of every contrast (one joint CG; the normal operator is block diagonal): ``(n, y, x)``."""
    lam = float(regularization_weight)

    def normal(x: torch.Tensor) -> torch.Tensor:
        return problem.normal(x) + lam * x if lam > 0 else problem.normal(x)

    gen = conjugate_gradient_steps(normal, problem.rhs, max_iterations=iterations, tolerance=1e-6)
    while True:
        try:
            state = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        yield ProgressEvent("SENSE per contrast", state.iteration, iterations)


def common_phase(images: torch.Tensor, model: SignalModel, x: np.ndarray) -> torch.Tensor:
    """Per-voxel phase ``(y, x)`` shared by the contrasts.

    Inversion recovery: the phase of the longest-TI image (positive magnetization). Otherwise
    the phase of the contrast with the largest magnitude at that voxel.
    """
    if model.polarity:
        ref = images[int(np.argmax(x))]
    else:
        idx = images.abs().argmax(0, keepdim=True)
        ref = images.gather(0, idx)[0]
    return torch.angle(ref)


def sampling_values(
    kspace: KSpace,
    model: SignalModel,
    times: Sequence[float] | np.ndarray | None,
    flip_angles: Sequence[float] | np.ndarray | None,
) -> np.ndarray:
    """The model's sampling values (ms or deg) from the arguments or the raw header (TI/TE/flip angles)."""
    given = flip_angles if model.abscissa == "flip_angles" else times
    if given is None:
        h = kspace.header
        if model.abscissa == "flip_angles":
            given = h.flip_angle_deg
        elif model.info.times_label in ("TI", "TS"):
            given = h.ti_ms
        else:
            given = h.te_ms
        meta = kspace.meta.get("qmri_times")
        if (given is None or len(given) != kspace.data.shape[0]) and meta is not None:
            given = meta  # type: ignore[assignment]
    arr = np.asarray([] if given is None else given, dtype=np.float64).reshape(-1)
    if arr.size != kspace.data.shape[0]:
        label = "--flip-angles" if model.abscissa == "flip_angles" else "--times"
        raise ParameterError(
            f"model {model.info.name!r} needs one {model.info.times_label} value per contrast "
            f"({kspace.data.shape[0]}); the raw header has {arr.size}: give them with {label}"
        )
    return arr


def _real_series(images: torch.Tensor, phase: torch.Tensor) -> np.ndarray:
    return (images * torch.exp(-1j * phase)).real.cpu().numpy().astype(np.float32)


def two_step_steps(
    problem: ContrastProblem,
    model: str,
    x: np.ndarray,
    *,
    tr: float | None = None,
    sense_iterations: int = 20,
    mask_threshold: float | None = 0.05,
    max_iterations: int = 30,
    device: DeviceLike = "auto",
    on_images: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
    **model_options: object,
) -> Steps[FitResult]:
    """CG-SENSE per contrast, common phase removed, voxel fit (encoded grid; generator).

    ``on_images(images (n, y, x), phase (y, x))`` receives the SENSE images (e.g. for start values).
    """
    spec = get_model(model)
    images = yield from sense_images(problem, iterations=sense_iterations)
    phase = common_phase(images, spec, x)
    if on_images is not None:
        on_images(images, phase)
    series = _real_series(images, phase)
    opts = dict(model_options)
    if spec.polarity:
        opts.setdefault("signed", True)
    key = "flip_angles" if spec.abscissa == "flip_angles" else "times"
    result = yield from fit_steps(
        series, spec.info.name, mask_threshold=mask_threshold, max_iterations=max_iterations,
        device=device, tr=tr, **{key: x}, **opts,  # type: ignore[arg-type]
    )  # fmt: skip
    return result


@dataclass
class MappingSetup:
    """What every raw-data mapping method starts from."""

    problem: ContrastProblem
    spec: SignalModel
    x: np.ndarray
    options: dict[str, object]
    tr: float | None


def mapping_setup_steps(
    kspace: KSpace,
    model: str,
    *,
    times: Sequence[float] | np.ndarray | None,
    flip_angles: Sequence[float] | np.ndarray | None,
    tr: float | None,
    maps: np.ndarray | torch.Tensor | None,
    coil_maps: str,
    prewhitening: bool,
    device: DeviceLike,
    model_options: Mapping[str, object],
) -> Steps[MappingSetup]:
    """Model, sampling values and options checked, then the joint encoding (generator)."""
    from recon_engine.qmri._prepare import resolve_options

    spec = get_model(model)
    x = sampling_values(kspace, spec, times, flip_angles)
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ParameterError(
            f"the {spec.info.times_label} values must be positive and finite, got {x.tolist()}"
        )
    opts = resolve_options(spec, dict(model_options))
    if tr is None and "tr" in opts and opts["tr"] is None and kspace.header.tr_ms:
        tr = float(kspace.header.tr_ms[0])
    if "tr" in opts and tr is not None:
        opts["tr"] = float(tr)
    opts = spec.check(opts, torch.as_tensor(x))
    problem = yield from contrast_problem_steps(
        kspace, maps=maps, coil_maps=coil_maps, prewhitening=prewhitening, device=device
    )
    return MappingSetup(problem, spec, x, opts, tr)


def crop_maps(result: FitResult, problem: ContrastProblem) -> FitResult:
    """A result on the encoded grid cropped to the recon space (maps, SD, mask, observed data)."""
    if problem.to_recon(torch.zeros(1, *problem.shape)).shape[-2:] == problem.shape:
        return result

    def crop(a: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.nan_to_num(a.astype(np.float32)))
        return problem.to_recon(t).numpy().astype(np.float32)

    mask = crop(result.mask.astype(np.float32)) > 0.5

    def crop_nan(a: np.ndarray) -> np.ndarray:
        out = crop(a)
        out[..., ~mask] = np.nan
        return out

    return replace(
        result,
        maps={k: crop_nan(v) for k, v in result.maps.items()},
        sd={k: crop_nan(v) for k, v in result.sd.items()},
        mask=mask,
        observed_data=crop_nan(result.observed_data),
        aux={k: crop(v) for k, v in result.aux.items()},
    )
