"""A fake iterative reconstruction for the plugin tests (registered in METHODS with monkeypatch).

It behaves like the engine's iterative methods as the GUI sees them: a generator that
yields ``iterations`` progress events with a preview and ``residual``/``objective``
metrics, then returns an :class:`~recon_engine.data.ImageData` with ``meta["coil_maps"]``
``(1, coils, z, y, x)`` and ``meta["gfactor"]`` ``(z, y, x)``. The image is the direct
(RSS) reconstruction divided by ``1 + λ``, so results are known exactly and deterministic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from recon_engine.data import ImageData
from recon_engine.progress import ProgressEvent

GATE_TIMEOUT_S = 20.0


@dataclass
class FakeLog:
    """What the fake method saw: one ``(λ, iterations)`` per run started, and the gates."""

    runs: list[tuple[float, int]] = field(default_factory=list)
    #: λ → event the run waits on after its last iteration (before returning)
    gates: dict[float, threading.Event] = field(default_factory=dict)


def make_fake_method(log: FakeLog | None = None, pause_s: float = 0.002) -> Callable[..., Any]:
    """A fake iterative method; ``pause_s`` of work per iteration (an Event wait, not a busy loop)."""
    record = log if log is not None else FakeLog()
    idle = threading.Event()

    def fake_iterative_steps(
        kspace: Any,
        *,
        regularization_weight: float = 1e-3,
        iterations: int = 20,
        coil_maps: Literal["walsh", "espirit"] = "walsh",
        prewhitening: bool = True,
        device: str = "auto",
    ) -> Generator[ProgressEvent, None, ImageData]:
        """Fake iterative reconstruction: the direct image divided by ``1 + λ``.

        Parameters
        ----------
        kspace
            Raw data ``(*other, coils, k2, k1, k0)``.
        regularization_weight
            λ; the image is divided by ``1 + λ``.
        iterations
            Number of iterations (progress events).
        coil_maps
            Ignored (maps are the coil images over their RSS).
        prewhitening
            Passed to the direct reconstruction.
        device
            Compute device.
        """
        import recon_engine

        lam, n = float(regularization_weight), int(iterations)
        record.runs.append((lam, n))
        base = recon_engine.reconstruct(kspace, device="cpu", prewhitening=prewhitening)
        coils = recon_engine.reconstruct(kspace, device="cpu", prewhitening=prewhitening, combine="none")
        mag = base.magnitude()[0, 0]  # (y, x)
        for i in range(n):
            idle.wait(pause_s)
            residual = 0.5 ** (i + 1)
            preview = (mag / (1.0 + lam * (i + 1) / n)).astype(np.float32)
            yield ProgressEvent(
                "fake", i + 1, n, preview, {"residual": residual, "objective": 1.0 + residual}
            )
        gate = record.gates.get(lam)
        if gate is not None:
            assert gate.wait(GATE_TIMEOUT_S), "the test never opened the gate"
        c = coils.numpy()
        rss = np.sqrt((np.abs(c) ** 2).sum(axis=-4, keepdims=True))
        maps = (c / np.maximum(rss, 1e-12)).astype(np.complex64)[None]
        meta = {
            **base.meta,
            "method": "fake",
            "iterations": n,
            "coil_maps": maps,  # (1, coils, z, y, x)
            "gfactor": np.full(mag.shape, 1.0 + lam, np.float32)[None],  # (z, y, x)
        }
        return replace(base, data=base.data / (1.0 + lam), meta=meta)

    return fake_iterative_steps
