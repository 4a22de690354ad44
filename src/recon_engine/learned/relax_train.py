"""Training of the relaxometry-guided unrolled network (:class:`~recon_engine.learned.relax_net.RelaxNet`).

:func:`train_relax_steps` draws simulated inversion-recovery raw data of random variants of the
tissue phantom (:func:`~recon_engine.learned.relax_net.simulate_ir_training_batch`: R ∈ {4, 6, 8},
noise SD 0.001–0.006, 8 TIs), runs the network on the multi-contrast SENSE normal operator and
minimises the relative squared error of the contrast images,

    ``loss = mean_b ‖x_K − x_true‖² / ‖x_true‖²``  (complex, whole image),

with Adam and a cosine learning-rate decay. Epoch ``e`` draws from
``numpy.random.default_rng([seed, e])`` and reseeds torch, so a run is deterministic on the CPU
for a seed and thread count. Validation after every epoch on a fixed set (``default_rng([seed,
10**6])``, never the unmodified phantom): the contrast NRMSE of the start ``x₀`` and of ``x_K``
and the median relative T1 error in the head of the matched atoms of ``x_K``
(``"val_t1_error"``) and of ``x₀`` (``"val_t1_error_start"``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon_engine.errors import ParameterError
from recon_engine.learned.relax_net import (
    IR_TIMES_MS,
    IRBatch,
    ModelProjector,
    RelaxNet,
    normalised_problem,
    simulate_ir_training_batch,
)
from recon_engine.learned.weights import save_model
from recon_engine.progress import ProgressEvent, Steps

__all__ = ["RelaxTrainResult", "ir_projector", "train_relax_steps"]

_VALIDATION_SEED = 10**6


@dataclass
class RelaxTrainResult:
    """The trained network (eval mode, CPU), one history dict per epoch, the file written, its meta."""

    model: RelaxNet
    history: list[dict[str, float]] = field(default_factory=list)
    output: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def ir_projector(times: tuple[float, ...] = IR_TIMES_MS) -> ModelProjector:
    """The signal-model step of the IR model ``a − b·exp(−TI/T1)`` at ``times`` (ms)."""
    from recon_engine.qmri._prepare import resolve_options
    from recon_engine.qmri.models import get_model

    spec = get_model("ir")
    x = np.asarray(times, dtype=np.float64)
    opts = spec.check(resolve_options(spec, {}), torch.as_tensor(x))
    return ModelProjector(spec, x, opts)


def _nrmse(out: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean over the batch of ``‖x − x_true‖/‖x_true‖``."""
    err = (out - truth).abs().square().sum(dim=(1, 2, 3)).sqrt()
    return float((err / truth.abs().square().sum(dim=(1, 2, 3)).sqrt()).mean())


def _loss(out: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    err = (out - truth).abs().square().sum(dim=(1, 2, 3))
    return (err / truth.abs().square().sum(dim=(1, 2, 3)).clamp_min(1e-30)).mean()


def _t1_error(images: torch.Tensor, batch: IRBatch, projector: ModelProjector) -> float:
    """Median relative T1 error in the head of the matched atoms of ``images (B, n, y, x)``."""
    ref = int(np.argmax(np.asarray(projector.x)))
    ph = torch.angle(images[:, ref : ref + 1])
    _, index = projector.project((images * torch.exp(-1j * ph)).real)
    t1 = projector.parameters_of(index)[..., 0]
    head = batch.head
    rel = ((t1 - batch.t1).abs() / batch.t1.clamp_min(1e-6))[head]
    return float(rel.median())


def train_relax_steps(
    *,
    epochs: int = 8,
    steps_per_epoch: int = 60,
    batch_size: int = 4,
    size: int | tuple[int, ...] = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    output: str | os.PathLike[str] | None = None,
    validation_size: int = 6,
    **architecture: Any,
) -> Steps[RelaxTrainResult]:
    """Train a :class:`RelaxNet` on simulated IR raw data (generator; CPU).

    Parameters
    ----------
    epochs, steps_per_epoch, batch_size
        Optimiser steps ``epochs × steps_per_epoch`` of ``batch_size`` samples.
    size
        Training matrix ``size × size`` (the network is convolutional: it maps any matrix), or
        several sizes, one drawn per step (the validation set has the largest).
    learning_rate
        Adam's initial rate (cosine decay to 5 % of it).
    seed
        Seeds the data, the initial weights and torch.
    output
        Weights file written at the end (:func:`~recon_engine.learned.weights.save_model`).
    validation_size
        Samples of the fixed validation set.
    **architecture
        :class:`RelaxNet` arguments (``n_contrasts`` is 8, the simulated TIs).

    Yields
    ------
    ProgressEvent
        ``"training"`` per step (``metrics``: ``loss``, ``epoch``) and ``"validation"`` per epoch
        (``loss``, ``val_nrmse``, ``val_nrmse_start``, ``val_t1_error``, ``val_t1_error_start``,
        ``seconds``) with a preview (magnitude of the last TI of the first validation sample).

    Returns
    -------
    RelaxTrainResult
    """
    for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch), ("batch_size", batch_size)):
        if int(v) != v or v < 1:
            raise ParameterError(f"{name} must be an integer ≥ 1, got {v!r}")
    sizes = (size,) if isinstance(size, int) else tuple(size)
    if not sizes or any(int(v) != v or v < 16 for v in sizes):
        raise ParameterError(f"size must be integers ≥ 16 (pixels), got {size!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ParameterError(f"learning rate must be > 0, got {learning_rate!r}")
    torch.manual_seed(int(seed))
    architecture.setdefault("n_contrasts", len(IR_TIMES_MS))
    net = RelaxNet(**architecture)
    projector = ir_projector()
    opt = torch.optim.Adam(net.parameters(), lr=float(learning_rate))
    total = int(epochs) * int(steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    val = simulate_ir_training_batch(
        np.random.default_rng([int(seed), _VALIDATION_SEED]), validation_size, max(sizes)
    )
    with torch.no_grad():
        _, _, x0, scale = normalised_problem(val.normal, val.rhs, net.start_iterations)
        start = x0 * scale
        val_start_nrmse = _nrmse(start, val.truth)
        val_start_t1 = _t1_error(start, val, projector)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    step = 0
    for epoch in range(int(epochs)):
        torch.manual_seed(int(seed) * 100_003 + epoch)
        rng = np.random.default_rng([int(seed), epoch])
        net.train()
        losses = []
        for _ in range(int(steps_per_epoch)):
            n_px = int(sizes[int(rng.integers(len(sizes)))]) if len(sizes) > 1 else int(sizes[0])
            batch = simulate_ir_training_batch(rng, int(batch_size), n_px)
            out = net(batch.normal, batch.rhs, projector)
            loss = _loss(out, batch.truth)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            yield ProgressEvent(
                "training", step, total, None, {"loss": losses[-1], "epoch": float(epoch + 1)}
            )
        net.eval()
        with torch.no_grad():
            out = net(val.normal, val.rhs, projector)
            nr = _nrmse(out, val.truth)
            t1e = _t1_error(out, val, projector)
        h = {
            "epoch": float(epoch + 1),
            "loss": float(np.mean(losses)),
            "val_nrmse": nr,
            "val_nrmse_start": val_start_nrmse,
            "val_t1_error": t1e,
            "val_t1_error_start": val_start_t1,
            "lambda": float(net.lam.detach()),
            "blend": float(net.blend.detach()),
            "seconds": time.perf_counter() - t0,
        }
        history.append(h)
        pv = out[0, -1].abs().to(torch.float32).numpy()
        yield ProgressEvent("validation", epoch + 1, int(epochs), pv, dict(h))
    net.eval().requires_grad_(False)
    meta: dict[str, Any] = {
        "model": "ir",
        "times": [float(t) for t in IR_TIMES_MS],
        "training_data": (
            "simulated multi-coil IR raw (8 TIs, 8 birdcage coils) of random tissue-phantom variants "
            "(rotation, scale 0.8-1.15, shift, mirror, PD x0.85-1.15, T1 x exp(+-0.25), "
            "0-3 extra ellipses), "
            f"{'/'.join(str(v) for v in sizes)}^2, R in (4, 6, 8) with 8 calibration lines, "
            "noise SD 0.001-0.006"
        ),
        "loss": "mean relative squared error of the complex contrast images",
        "seed": int(seed),
        "epochs": int(epochs),
        "steps_per_epoch": int(steps_per_epoch),
        "batch_size": int(batch_size),
        "size": [int(v) for v in sizes],
        "learning_rate": float(learning_rate),
        "history": history,
    }
    path = save_model(output, net, meta) if output is not None else None
    return RelaxTrainResult(net, history, path, meta)
