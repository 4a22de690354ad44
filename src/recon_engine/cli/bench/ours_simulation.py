"""Suite ``simulation``: speed of the Pulseq simulator on a 2D spoiled GRE (P6).

``seq_sim`` times :func:`recon_engine.simulate.seq_sim.simulate_seq` (what ``mrrecon simulate``
and the Sequence dock call) on P6 — the ``n × n`` GRE (default 128², quick 32²), brain phantom,
8 coils, one isochromat per voxel, no noise — on the CPU, end to end (phantom and coil maps,
timeline, the Bloch loop, the voxel factor, sorting into k-space). The quality figure is
isochromat-steps per second of the simulation loop (``meta["simulation"]``: one step is one
isochromat advanced over one interval — free precession, one RF segment or one ADC sample; the
coils share each step); ``extra`` holds the step and isochromat counts and the loop's seconds.
``seq_sim_cuda`` is the same on CUDA when a GPU is present (skipped with a note otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from recon_engine.cli.bench import problems
from recon_engine.cli.bench._suites import HEAVY_REPEATS, cuda_device, sync
from recon_engine.cli.bench.records import OURS, Case

__all__ = ["simulate_gre", "simulation_cases"]


def simulate_gre(n: int, *, coils: int = 8, isochromats: int = 1, device: torch.device | str = "cpu") -> Any:
    """Simulate P6 (``n × n`` GRE, brain phantom); returns the raw :class:`~recon_engine.data.kspace.KSpace`.

    ``meta["simulation"]`` has ``isochromat_steps``, ``seconds`` (the loop) and
    ``isochromat_steps_per_s``.
    """
    from recon_engine.simulate.seq_sim import simulate_seq

    dev = torch.device(device)
    out = simulate_seq(
        problems.gre_sequence(int(n)), "brain", coils=coils, isochromats=isochromats, device=dev
    )
    sync(dev)
    return out


def _steps_per_s(ks: Any) -> float:
    return float(ks.meta["simulation"]["isochromat_steps_per_s"])


def _extra(ks: Any) -> dict[str, float]:
    s = ks.meta["simulation"]
    return {
        "steps": float(s["isochromat_steps"]),
        "isochromats": float(s["isochromats"]),
        "loop s": float(s["seconds"]),
    }


def _case(problem: str, n: int, dev: torch.device) -> Case:
    return Case(
        problem,
        OURS,
        lambda: simulate_gre(n, device=dev),
        _steps_per_s,
        "isochromat-steps/s",
        note=f"{n}² GRE, 1 isochromat/voxel, {dev.type}",
        extra=_extra,
        repeats=HEAVY_REPEATS,
    )


def simulation_cases(
    quick: bool, dev: torch.device, only: Callable[[str], bool], notes: list[str], matrix: int | None = None
) -> list[Case]:
    """The ``simulation`` suite's cases selected by ``only`` (``dev``: the run's resolved device)."""
    if not (only("seq_sim") or only("seq_sim_cuda")):
        return []
    n = int(matrix or (problems.RAW_MATRIX_QUICK if quick else problems.RAW_MATRIX))
    problems.gre_sequence(n)  # build and decode the sequence once, outside the timed calls
    cases: list[Case] = []
    if only("seq_sim"):
        cases.append(_case("seq_sim", n, torch.device("cpu")))
    if only("seq_sim_cuda"):
        gpu = cuda_device(dev, "seq_sim_cuda", notes)
        if gpu is not None:
            cases.append(_case("seq_sim_cuda", n, gpu))
    return cases
