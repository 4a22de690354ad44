"""Helpers shared by the extra suites (``learned``, ``qmri-raw``, ``simulation``)."""

from __future__ import annotations

import torch

__all__ = ["HEAVY_REPEATS", "cuda_device", "sync"]

#: Timed calls of the long cases of the extra suites when the run does not set ``--repeats``.
HEAVY_REPEATS = 3


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cuda_device(requested: torch.device, problem: str, notes: list[str]) -> torch.device | None:
    """The CUDA device of a ``*_cuda`` row, or None with a note (CPU-only machine, ``--device cpu``).

    Parameters
    ----------
    requested
        The run's resolved device (``--device``).
    problem
        The row's key (for the note).
    notes
        Receives the reason when the row is skipped.
    """
    if requested.type == "cuda":
        return requested
    if not torch.cuda.is_available():
        notes.append(f"{problem}: no CUDA GPU on this machine (skipped)")
        return None
    if requested.type == "cpu":
        notes.append(f"{problem}: skipped with --device cpu (use --device auto or cuda)")
        return None
    return torch.device("cuda")
