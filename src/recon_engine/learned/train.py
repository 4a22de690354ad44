"""Training loops of the learned models as progress generators.

:func:`train_denoiser_steps` trains the noise-level-conditional DnCNN of ``"pnp"``;
:func:`train_modl_steps` trains the MoDL network of ``"modl"``. Both:

- draw training images from :class:`~recon_engine.learned.data.ImagePool` (the user's images
  with ``data=``: files, a folder, a glob, or arrays in memory such as the images open in
  napari; else textured phantoms + scikit-image images), scaled to a 99th-percentile
  magnitude of 1 (the models' input scaling);
- yield a :class:`~recon_engine.progress.ProgressEvent` per optimiser step (``metrics``:
  ``"loss"``, ``"epoch"``) and one per epoch with the validation figures (``"val_nrmse"``,
  ``"val_ssim"``, and for MoDL the CG-SENSE start's ``"val_nrmse_start"``) and a preview
  (magnitude of the first validation reconstruction);
- write a checkpoint after every epoch to ``output`` (a weights file of
  :mod:`recon_engine.learned.weights` whose ``meta`` also holds the optimiser state and the
  epoch), from which ``resume=`` continues; when the run is stopped between two steps (the
  generator closed, as the napari dock's Stop does, or Ctrl-C) the current weights are written
  too, with the optimiser and random state of the epoch in progress (``meta["step"]``), so a
  resumed run continues exactly where it stopped;
- share one epoch/validation/checkpoint loop (``_train_loop``); a model brings only its loss
  and its validation;
- are deterministic on the CPU for a given ``seed``: epoch ``e`` draws its images, noise and
  masks from ``numpy.random.default_rng([seed, e])`` and reseeds torch with ``(seed, e)``, so a
  resumed run gives the same weights as an uninterrupted one (same thread count).

Validation: a fixed set drawn with ``default_rng([seed, 10**6])`` from the same pool (the
denoiser: three noise levels ``σ`` = 0.02, 0.05, 0.1; MoDL: R = 4 and 6 with 24·N/128
calibration lines), NRMSE ``‖x − x_true‖/‖x_true‖`` (complex) and SSIM of the magnitudes
(:mod:`recon_engine.metrics`), averaged.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import ParameterError
from recon_engine.learned.data import (
    ImagePool,
    TrainingData,
    describe_training_data,
    sense_normal,
    simulate_batch,
)
from recon_engine.learned.modl_net import MoDLNet, batched_cg
from recon_engine.learned.networks import DnCNN, parameter_count
from recon_engine.learned.weights import build, check_state_dict, read_weights, save_model
from recon_engine.metrics import nrmse, ssim
from recon_engine.progress import ProgressEvent, Steps

__all__ = [
    "DENOISER_VALIDATION_SIGMAS",
    "START_CG_ITERATIONS",
    "TRAINABLE",
    "TrainResult",
    "modl_start",
    "train_denoiser_steps",
    "train_modl_steps",
    "train_steps",
    "trained_weights",
]

#: Noise levels (std per real component, scaled units) of the denoiser's validation set.
DENOISER_VALIDATION_SIGMAS: tuple[float, ...] = (0.02, 0.05, 0.1)
#: CG-SENSE iterations of MoDL's starting image (training and inference alike).
START_CG_ITERATIONS = 5
_VALIDATION_SEED = 10**6
#: Weights files written by training runs of this process, oldest first (see :func:`trained_weights`).
_TRAINED: list[Path] = []


def trained_weights() -> list[Path]:
    """The weights files that training runs of this Python process wrote, newest first.

    A run's file is listed from its first checkpoint on (also when the run was stopped), so a
    user interface can offer what was just trained (the napari recon dock's weights chooser).
    Files deleted since are left out.
    """
    return [p for p in reversed(_TRAINED) if p.is_file()]


def _remember(path: str | os.PathLike[str]) -> None:
    p = Path(path).absolute()
    if p in _TRAINED:
        _TRAINED.remove(p)
    _TRAINED.append(p)


@dataclass
class TrainResult:
    """The trained network and its history.

    Attributes
    ----------
    model
        The network (eval mode, on the CPU).
    history
        One dict per epoch: ``epoch``, ``loss`` (mean training loss), ``val_nrmse``,
        ``val_ssim`` (and MoDL ``val_nrmse_start``), ``seconds``, ``samples_per_s``.
    output
        The weights file written (None without ``output``).
    meta
        What was saved beside the weights.
    """

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    output: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _check(epochs: int, steps_per_epoch: int, batch_size: int, size: int, lr: float) -> None:
    for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch), ("batch_size", batch_size)):
        if int(v) != v or v < 1:
            raise ParameterError(f"{name} must be an integer ≥ 1, got {v!r}")
    if int(size) != size or size < 16:
        raise ParameterError(f"size must be an integer ≥ 16 (pixels), got {size!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ParameterError(f"learning rate must be > 0, got {lr!r}")


@dataclass
class _Checkpoint:
    """Where a run resumes: ``epoch`` epochs done, then ``step`` steps of the next one."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0
    rng_state: dict[str, Any] | None = None
    torch_state: torch.Tensor | None = None


def _resume(
    resume: str | os.PathLike[str] | None, model: nn.Module, optimiser: torch.optim.Optimizer, kind: str
) -> _Checkpoint:
    """Load a checkpoint into ``model``/``optimiser``; return where the run continues."""
    if resume is None:
        return _Checkpoint()
    blob = read_weights(resume)
    arch = blob["architecture"]
    if arch != getattr(model, "architecture", None):
        raise ParameterError(
            f"{resume}: checkpoint of architecture {arch}, but this run trains {model.architecture}"
        )
    check_state_dict(model, blob["state_dict"], str(resume))
    meta = blob.get("meta") or {}
    if meta.get("kind_trained") not in (None, kind):
        raise ParameterError(f"{resume}: a {meta.get('kind_trained')} checkpoint, not {kind}")
    model.load_state_dict(blob["state_dict"])
    if "optimizer" in meta:
        optimiser.load_state_dict(meta["optimizer"])
    partial = meta.get("partial") or {}
    return _Checkpoint(
        epoch=int(meta.get("epoch", 0)),
        step=int(meta.get("step", 0)),
        history=[dict(h) for h in meta.get("history", [])],
        losses=[float(v) for v in partial.get("losses", [])],
        samples=int(partial.get("samples", 0)),
        seconds=float(partial.get("seconds", 0.0)),
        rng_state=partial.get("rng_state"),
        torch_state=partial.get("torch_rng_state"),
    )


def _run_meta(
    model: nn.Module,
    data: TrainingData,
    size: int,
    batch_size: int,
    steps_per_epoch: int,
    learning_rate: float,
    seed: int,
) -> dict[str, Any]:
    """What every weights file records about its training run (beside the model's own keys)."""
    return {
        "training_data": describe_training_data(data),
        "patch_size": int(size),
        "batch_size": int(batch_size),
        "steps_per_epoch": int(steps_per_epoch),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "parameters": parameter_count(model),
    }


def _seed_epoch(seed: int, epoch: int) -> np.random.Generator:
    torch.manual_seed(int(seed) * 100_003 + int(epoch))
    return np.random.default_rng([int(seed), int(epoch)])


def _mean_figures(outputs: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """Mean complex NRMSE and magnitude SSIM over a batch ``(B, y, x)``."""
    out, ref = outputs.detach().cpu().numpy(), truth.detach().cpu().numpy()
    e = [nrmse(o, r) for o, r in zip(out, ref, strict=True)]
    s = [ssim(np.abs(o), np.abs(r)) for o, r in zip(out, ref, strict=True)]
    return float(np.mean(e)), float(np.mean(s))


def _preview(x: torch.Tensor) -> np.ndarray:
    return x[0].detach().abs().to("cpu", torch.float32).numpy()


def _sigma_draw(rng: np.random.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return torch.from_numpy(np.exp(rng.uniform(math.log(lo), math.log(hi), n)).astype(np.float32))


def _train_loop(
    *,
    kind: str,
    model: nn.Module,
    loss_of: Callable[[np.random.Generator, int], tuple[torch.Tensor, int]],
    validate: Callable[[], tuple[dict[str, float], np.ndarray]],
    epochs: int,
    steps_per_epoch: int,
    lr: float,
    seed: int,
    output: str | os.PathLike[str] | None,
    resume: str | os.PathLike[str] | None,
    meta: dict[str, Any],
    clip: float = 1.0,
) -> Steps[TrainResult]:
    """The epoch/validation/checkpoint loop shared by every model (see the module docstring).

    ``loss_of(rng, step)`` draws one batch from ``rng`` and returns its loss (with the graph)
    and the number of samples; ``validate()`` (under ``no_grad``, eval mode) returns the
    validation figures and a preview image.

    Stopping (the generator closed, or Ctrl-C) between two steps writes the current weights,
    the optimiser state and the random state to ``output`` (meta ``"epoch"``: epochs done,
    ``"step"``: steps of the next one), from which ``resume=`` continues exactly as if the run
    had not stopped.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    ck = _resume(resume, model, optimiser, kind)
    history = ck.history
    epochs, steps_per_epoch = int(epochs), int(steps_per_epoch)
    total = epochs * steps_per_epoch
    base_meta = {**meta, "kind_trained": kind, "epochs": epochs}
    saved = (ck.epoch, ck.step)  # the state the file at ``output`` holds (resume's, or nothing yet)
    epoch, step_done, losses, samples, seconds = ck.epoch, ck.step, list(ck.losses), ck.samples, ck.seconds
    rng = np.random.default_rng()

    def save(extra: dict[str, Any]) -> None:
        if output is not None:
            state = {**base_meta, "history": history, "optimizer": optimiser.state_dict(), **extra}
            save_model(output, model, state)
            _remember(output)

    try:
        for epoch in range(ck.epoch, epochs):
            if epoch == ck.epoch and ck.step > 0 and ck.rng_state is not None:  # resume inside the epoch
                rng.bit_generator.state = ck.rng_state
                if ck.torch_state is not None:
                    torch.set_rng_state(ck.torch_state)
                step_done, losses, samples, seconds = ck.step, list(ck.losses), ck.samples, ck.seconds
            else:
                rng = _seed_epoch(seed, epoch)
                step_done, losses, samples, seconds = 0, [], 0, 0.0
            model.train()
            for step in range(step_done, steps_per_epoch):
                t0 = time.perf_counter()
                done = epoch * steps_per_epoch + step
                # cosine decay of the learning rate over the whole run (restartable: a function of the step)
                for group in optimiser.param_groups:
                    group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done / total)))
                optimiser.zero_grad(set_to_none=True)
                loss, n = loss_of(rng, step)
                loss.backward()  # type: ignore[no-untyped-call]
                nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimiser.step()
                losses.append(float(loss.detach()))
                samples += n
                step_done = step + 1
                seconds += time.perf_counter() - t0
                yield ProgressEvent(
                    f"train {kind} epoch {epoch + 1}/{epochs}",
                    done + 1,
                    total,
                    metrics={"loss": losses[-1], "epoch": float(epoch + 1)},
                )
            model.eval()
            with torch.no_grad():
                figures, preview = validate()
            record = {
                "epoch": float(epoch + 1),
                "loss": float(np.mean(losses)),
                **figures,
                "seconds": seconds,
                "samples_per_s": samples / max(seconds, 1e-9),
            }
            history.append(record)
            save({"epoch": epoch + 1, "step": 0})
            saved = (epoch + 1, 0)
            step_done = 0
            yield ProgressEvent(
                f"validation {kind} epoch {epoch + 1}/{epochs}",
                (epoch + 1) * steps_per_epoch,
                total,
                preview,
                record,
            )
    except (GeneratorExit, KeyboardInterrupt):
        # stopped between two steps: keep what was trained since the last checkpoint
        if step_done > 0 and (epoch, step_done) != saved:
            partial = {
                "losses": losses,
                "samples": samples,
                "seconds": seconds,
                "rng_state": rng.bit_generator.state,
                "torch_rng_state": torch.get_rng_state(),
            }
            save({"epoch": epoch, "step": step_done, "partial": partial, "stopped": True})
        raise
    model.eval().requires_grad_(False)
    return TrainResult(
        model.to("cpu"),
        history,
        None if output is None else Path(output),
        {**base_meta, "epoch": epochs, "history": history},
    )


def train_denoiser_steps(
    *,
    data: TrainingData = None,
    epochs: int = 10,
    steps_per_epoch: int = 100,
    batch_size: int = 8,
    size: int = 64,
    features: int = 32,
    depth: int = 8,
    sigma_range: tuple[float, float] = (0.002, 0.2),
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: DeviceLike = "cpu",
    output: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    validation_images: int = 8,
) -> Steps[TrainResult]:
    """Train the noise-level-conditional DnCNN denoiser of ``"pnp"``.

    Loss: mean ``|D(x + n, σ) − x|²`` over pixels (complex), ``n`` complex Gaussian with std
    ``σ`` per real component, ``σ`` log-uniform in ``sigma_range`` (scaled image units).

    Parameters
    ----------
    data
        Training images: a directory, a glob or a list of files
        (:func:`~recon_engine.learned.data.load_user_images`), or a list of arrays in memory
        (2D images or stacks/volumes, magnitude or complex, any units:
        :func:`~recon_engine.learned.data.images_from_arrays`); None: phantoms + scikit-image.
    epochs, steps_per_epoch, batch_size
        Optimiser steps ``epochs × steps_per_epoch`` of ``batch_size`` images.
    size
        Training patches ``size × size`` pixels.
    features, depth
        Of the DnCNN.
    sigma_range
        Noise levels trained.
    learning_rate
        Adam's initial rate (cosine decay to 5 %).
    seed
        Seed of everything random (network init, images, noise).
    device
        ``"cpu"`` (deterministic), ``"cuda"`` or ``"auto"``.
    output
        Weights/checkpoint file written after every epoch.
    resume
        A checkpoint written by an earlier run with the same architecture.
    validation_images
        Images of the validation set (each at the three noise levels).

    Returns
    -------
    TrainResult
    """
    _check(epochs, steps_per_epoch, batch_size, size, learning_rate)
    lo, hi = float(sigma_range[0]), float(sigma_range[1])
    if not 0 < lo <= hi:
        raise ParameterError(f"sigma_range must be 0 < low ≤ high, got {sigma_range}")
    dev = resolve_device(device)
    torch.manual_seed(int(seed))
    model = DnCNN(features, depth, noise_channel=True, he_init=True).to(dev)
    pool = ImagePool.default(int(size), data)
    vrng = np.random.default_rng([int(seed), _VALIDATION_SEED])
    vtruth = pool.batch(vrng, int(validation_images)).to(dev)
    vsig = torch.tensor(DENOISER_VALIDATION_SIGMAS).repeat_interleave(vtruth.shape[0]).to(dev)
    vtruth = vtruth.repeat(len(DENOISER_VALIDATION_SIGMAS), 1, 1)
    g = torch.from_numpy(vrng.standard_normal((2, *vtruth.shape)).astype(np.float32)).to(dev)
    vnoisy = vtruth + vsig[:, None, None] * torch.complex(g[0], g[1])

    def loss_of(rng: np.random.Generator, step: int) -> tuple[torch.Tensor, int]:
        x = pool.batch(rng, int(batch_size)).to(dev)
        sig = _sigma_draw(rng, x.shape[0], lo, hi).to(dev)
        n = torch.from_numpy(rng.standard_normal((2, *x.shape)).astype(np.float32)).to(dev)
        y = x + sig[:, None, None] * torch.complex(n[0], n[1])
        return (model(y, sig) - x).abs().square().mean(), x.shape[0]

    def validate() -> tuple[dict[str, float], np.ndarray]:
        out = model(vnoisy, vsig)
        e, s = _mean_figures(out, vtruth)
        e0, _ = _mean_figures(vnoisy, vtruth)
        return {"val_nrmse": e, "val_ssim": s, "val_nrmse_noisy": e0}, _preview(out)

    meta = {
        "input_scaling": "complex image divided by the 99th percentile of its magnitude; sigma = noise std "
        "per real component in those units",
        "sigma_range": [lo, hi],
        **_run_meta(model, data, size, batch_size, steps_per_epoch, learning_rate, seed),
        "loss": "mean squared error (complex)",
    }
    return (
        yield from _train_loop(
            kind="denoiser",
            model=model,
            loss_of=loss_of,
            validate=validate,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            lr=learning_rate,
            seed=seed,
            output=output,
            resume=resume,
            meta=meta,
        )
    )


def modl_start(
    normal: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor, *, per_sample: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """MoDL's start: :data:`START_CG_ITERATIONS` CG-SENSE steps, and the per-image scale.

    Returns ``(x0, scale)`` with ``scale`` the 99th percentile of ``|x0|`` (per leading index
    ``(B, 1, 1)`` with ``per_sample``, else one value); the network runs on ``x0 / scale``.
    """
    with torch.no_grad():
        x0 = batched_cg(normal, rhs, torch.zeros_like(rhs), START_CG_ITERATIONS, per_sample=per_sample)
        mag = x0.abs()
        if per_sample:
            s = torch.quantile(mag.reshape(mag.shape[0], -1), 0.99, dim=1).reshape(-1, 1, 1)
        else:
            flat = mag.reshape(-1)
            s = torch.quantile(flat[:: max(1, flat.numel() // 2**20)], 0.99).reshape(1, 1, 1)
        s = torch.where(s > 0, s, torch.ones_like(s))
    return x0, s


def train_modl_steps(
    *,
    data: TrainingData = None,
    epochs: int = 10,
    steps_per_epoch: int = 50,
    batch_size: int = 4,
    size: int = 64,
    features: int = 32,
    depth: int = 5,
    unrolls: int = 5,
    cg_iterations: int = 8,
    accelerations: tuple[float, ...] = (3.0, 4.0, 5.0, 6.0, 8.0),
    noise_range: tuple[float, float] = (0.002, 0.03),
    mask_patterns: tuple[str, ...] = ("regular", "regular", "random", "variable_density"),
    calibration_lines: tuple[int, ...] = (12, 16, 24),
    initial_lambda: float = 0.05,
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: DeviceLike = "cpu",
    output: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    init_denoiser: nn.Module | None = None,
    validation_images: int = 4,
) -> Steps[TrainResult]:
    """Train the MoDL network of ``"modl"`` on simulated multi-coil Cartesian acquisitions.

    Every sample: an image of the pool, ring-array coils (4–16, random radius and rotation), a
    1D mask (a pattern of ``mask_patterns``, R from ``accelerations``, a width of
    ``calibration_lines``·N/128 calibration lines) and noise (std log-uniform in
    ``noise_range``). Loss: mean over the batch of ``‖x_K − x_true‖² / ‖x_true‖²`` (squared
    NRMSE).

    Parameters
    ----------
    data, epochs, steps_per_epoch, batch_size, size, learning_rate, seed, device, output, resume
        As for :func:`train_denoiser_steps`.
    features, depth, unrolls, cg_iterations
        Of :class:`~recon_engine.learned.modl_net.MoDLNet`.
    accelerations, noise_range
        Undersampling factors and noise levels trained.
    mask_patterns
        1D mask patterns drawn (uniformly; a repeated one more often): ``"regular"``,
        ``"random"``, ``"variable_density"``.
    calibration_lines
        Widths of the fully sampled centre drawn, in lines of a 128-line matrix (scaled to ``size``).
    initial_lambda
        Starting value of the learned data-consistency weight ``λ``.
    init_denoiser
        Start the regulariser from this (noise-free) DnCNN's weights when their shapes match.
    validation_images
        Images of the validation set (each at R = 4 and 6).

    Returns
    -------
    TrainResult
    """
    _check(epochs, steps_per_epoch, batch_size, size, learning_rate)
    dev = resolve_device(device)
    torch.manual_seed(int(seed))
    for name in mask_patterns:
        if name not in ("regular", "random", "variable_density"):
            raise ParameterError(f"unknown 1D mask pattern {name!r}; use regular, random or variable_density")
    if not mask_patterns or not calibration_lines or min(calibration_lines) < 0:
        raise ParameterError("mask_patterns and calibration_lines need at least one entry (lines ≥ 0)")
    model = MoDLNet(features, depth, unrolls, cg_iterations, initial_lambda).to(dev)
    if init_denoiser is not None:
        model.denoiser.load_state_dict(init_denoiser.state_dict())
    pool = ImagePool.default(int(size), data)
    vrng = np.random.default_rng([int(seed), _VALIDATION_SEED])
    vimages = pool.batch(vrng, int(validation_images))
    vsets = [
        simulate_batch(vimages, vrng, accelerations=(r,), calibration=(24,), noise=(0.01, 0.01)).to(dev)
        for r in (4.0, 6.0)
    ]

    def reconstruct(acq: Any) -> tuple[torch.Tensor, torch.Tensor]:
        normal, adjoint = sense_normal(acq.maps, acq.mask)
        rhs = adjoint(acq.data)
        x0, s = modl_start(normal, rhs)
        return model(normal, rhs / s, x0 / s) * s, x0

    def loss_of(rng: np.random.Generator, step: int) -> tuple[torch.Tensor, int]:
        x = pool.batch(rng, int(batch_size))
        acq = simulate_batch(
            x,
            rng,
            accelerations=accelerations,
            calibration=calibration_lines,
            noise=noise_range,
            patterns=mask_patterns,
        ).to(dev)
        out, _ = reconstruct(acq)
        err = (out - acq.truth).abs().square().sum(dim=(-2, -1))
        ref = acq.truth.abs().square().sum(dim=(-2, -1))
        return (err / ref).mean(), x.shape[0]

    def validate() -> tuple[dict[str, float], np.ndarray]:
        outs, starts, truths = [], [], []
        for acq in vsets:
            out, x0 = reconstruct(acq)
            outs.append(out)
            starts.append(x0)
            truths.append(acq.truth)
        out, x0, truth = torch.cat(outs), torch.cat(starts), torch.cat(truths)
        e, s = _mean_figures(out, truth)
        e0, s0 = _mean_figures(x0, truth)
        figures = {"val_nrmse": e, "val_ssim": s, "val_nrmse_start": e0, "val_ssim_start": s0}
        figures["lambda"] = float(model.lam)
        return figures, _preview(out)

    meta = {
        "input_scaling": f"x0 = {START_CG_ITERATIONS} CG-SENSE iterations; the network runs on x / q99(|x0|)",
        "simulation": f"ring coils 4-16, 1D Cartesian masks {list(mask_patterns)}, "
        f"R in {list(accelerations)}, calibration {list(calibration_lines)} lines per 128, "
        f"noise std in {list(noise_range)}",
        **_run_meta(model, data, size, batch_size, steps_per_epoch, learning_rate, seed),
        "loss": "mean squared NRMSE (complex)",
    }
    return (
        yield from _train_loop(
            kind="modl",
            model=model,
            loss_of=loss_of,
            validate=validate,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            lr=learning_rate,
            seed=seed,
            output=output,
            resume=resume,
            meta=meta,
        )
    )


#: The trainable models and their training generators (``mrrecon train MODEL``).
TRAINABLE: dict[str, Callable[..., Steps[TrainResult]]] = {
    "denoiser": train_denoiser_steps,
    "modl": train_modl_steps,
}


def train_steps(model: str, **options: Any) -> Steps[TrainResult]:
    """Train ``model`` (``"denoiser"`` for ``"pnp"``, ``"modl"``) with the options of its trainer.

    Parameters
    ----------
    model
        A key of :data:`TRAINABLE`.
    **options
        Keyword options of :func:`train_denoiser_steps` / :func:`train_modl_steps`.

    Raises
    ------
    ParameterError
        Unknown model or an option its trainer does not take.
    """
    import inspect

    if model not in TRAINABLE:
        raise ParameterError(f"unknown model to train {model!r}; choose one of {sorted(TRAINABLE)}")
    fn = TRAINABLE[model]
    known = set(inspect.signature(fn).parameters)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ParameterError(f"training {model} takes no option {unknown} (it takes {sorted(known)})")
    return fn(**options)


_ = build  # re-exported through recon_engine.learned
