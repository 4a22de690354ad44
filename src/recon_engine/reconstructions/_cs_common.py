"""Shared pieces of the compressed-sensing reconstructions (:mod:`.cs_tv`, :mod:`.cs_wavelet`)."""

from __future__ import annotations

from collections.abc import Generator

import torch

from recon_engine.progress import ProgressEvent, relay
from recon_engine.reconstructions._encoding import Encoding
from recon_engine.solvers.cg import conjugate_gradient_steps

__all__ = ["WARM_ITERATIONS", "warm_start_steps"]

WARM_ITERATIONS = 10  # CG-SENSE iterations of the starting point


def warm_start_steps(enc: Encoding) -> Generator[ProgressEvent, None, torch.Tensor]:
    """A few CG-SENSE iterations: the starting point of PDHG and FISTA."""
    gen = conjugate_gradient_steps(enc.normal, enc.rhs, max_iterations=WARM_ITERATIONS, tolerance=1e-3)
    x: torch.Tensor = yield from relay(
        gen,
        lambda s: ProgressEvent(f"warm start (CG {s.iteration})", 0, 0, metrics={"residual": s.residual}),
    )
    return x
