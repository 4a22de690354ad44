"""Suite ``learned``: ``pnp`` and ``modl`` on P1, and the training throughput of both networks.

- ``pnp``: :func:`~recon_engine.reconstructions.pnp_steps` (ADMM, 20 iterations, the built-in
  denoiser, its default σ schedule and penalty) on P1 with the true maps, as TV and wavelet;
- ``modl``: :func:`~recon_engine.reconstructions.modl_steps` (the built-in weights, as many
  unrolls as trained: 5) on P1 with the true maps; both report NRMSE like the other P1 rows;
- ``train_denoiser``/``train_modl``: one epoch of :func:`~recon_engine.learned.train_denoiser_steps`
  / :func:`~recon_engine.learned.train_modl_steps` with the architecture of the shipped weights
  (DnCNN 32 features × 8 layers, batches of 8 patches 64², 10 steps; MoDL 32 × 5 layers, 5
  unrolls × 8 CG steps, batches of 4, 4 steps), on the CPU. The time is the whole call (pool
  set-up, the steps, the validation); the quality figure is the training loop's samples/s (what
  :class:`~recon_engine.learned.TrainResult` records per epoch), ``extra`` the mean loss.
  ``*_cuda``: the same on CUDA, run when a GPU is present (skipped with a note otherwise, or
  with ``--device cpu``). ``--quick`` trains a tiny network on 32² patches (a smoke test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from recon_engine.cli.bench import problems
from recon_engine.cli.bench._suites import HEAVY_REPEATS, cuda_device, sync
from recon_engine.cli.bench.quality import nrmse_magnitude
from recon_engine.cli.bench.records import OURS, Case
from recon_engine.progress import run

__all__ = ["TRAIN_SETTINGS", "learned_cases"]

#: ``(full, quick)`` keyword settings of the training cases, per network.
TRAIN_SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "denoiser": (
        {"steps_per_epoch": 10, "batch_size": 8, "size": 64},
        {
            "steps_per_epoch": 2,
            "batch_size": 2,
            "size": 32,
            "features": 8,
            "depth": 3,
            "validation_images": 1,
        },
    ),
    "modl": (
        {"steps_per_epoch": 4, "batch_size": 4, "size": 64},
        {
            "steps_per_epoch": 2,
            "batch_size": 2,
            "size": 32,
            "features": 8,
            "depth": 3,
            "unrolls": 2,
            "cg_iterations": 3,
            "validation_images": 1,
        },
    ),
}


def _recon_cases(quick: bool, dev: torch.device, only: Callable[[str], bool]) -> list[Case]:
    from recon_engine.reconstructions import modl_steps, pnp_steps

    p = problems.cartesian_2d(quick)
    common: dict[str, Any] = {"maps": p.maps, "prewhitening": False, "device": dev}

    def image(steps: Any) -> np.ndarray:
        out = run(steps)
        sync(dev)
        return np.asarray(out.data.detach().to("cpu").numpy())

    def quality(x: np.ndarray) -> float:
        return nrmse_magnitude(x, p.truth)

    cases: list[Case] = []
    if only("pnp"):
        cases.append(
            Case(
                "pnp",
                OURS,
                lambda: image(
                    pnp_steps(p.kspace, algorithm="admm", iterations=20, weights="builtin", **common)
                ),
                quality,
                "NRMSE",
                repeats=HEAVY_REPEATS,
            )
        )
    if only("modl"):
        cases.append(
            Case(
                "modl",
                OURS,
                lambda: image(modl_steps(p.kspace, weights="builtin", **common)),
                quality,
                "NRMSE",
                repeats=HEAVY_REPEATS,
            )
        )
    return cases


def _train_case(problem: str, network: str, quick: bool, dev: torch.device) -> Case:
    from recon_engine.learned import train_denoiser_steps, train_modl_steps

    full, small = TRAIN_SETTINGS[network]
    kw = small if quick else full
    train = train_denoiser_steps if network == "denoiser" else train_modl_steps

    def call() -> Any:
        result = run(train(epochs=1, seed=0, device=dev, **kw))
        sync(dev)
        return result

    def samples_per_s(result: Any) -> float:
        return float(result.history[-1]["samples_per_s"])

    def extra(result: Any) -> dict[str, float]:
        h = result.history[-1]
        return {"loss": float(h["loss"]), "loop s": float(h["seconds"])}

    size = int(kw["size"])
    note = (
        f"{kw['steps_per_epoch']} steps × {kw['batch_size']} images {size}²"
        + (", tiny network" if quick else ", shipped architecture")
        + "; time = whole call"
    )
    return Case(
        problem, OURS, call, samples_per_s, "samples/s", note=note, extra=extra, repeats=HEAVY_REPEATS
    )


def learned_cases(
    quick: bool, dev: torch.device, only: Callable[[str], bool], notes: list[str]
) -> list[Case]:
    """The ``learned`` suite's cases selected by ``only`` (``dev``: the run's resolved device)."""
    cases = _recon_cases(quick, dev, only)
    cpu = torch.device("cpu")
    for network in ("denoiser", "modl"):
        problem = f"train_{network}"
        if only(problem):
            cases.append(_train_case(problem, network, quick, cpu))
        if only(f"{problem}_cuda"):
            gpu = cuda_device(dev, f"{problem}_cuda", notes)
            if gpu is not None:
                cases.append(_train_case(f"{problem}_cuda", network, quick, gpu))
    return cases
