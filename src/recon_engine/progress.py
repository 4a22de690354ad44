"""The generator protocol for long engine work.

A long engine call is a generator that yields :class:`ProgressEvent` objects and
*returns* its result (``StopIteration.value``). The napari plugin runs it in a
``thread_worker``; the CLI shows a progress bar; scripts call :func:`run` to ignore
the events and get the result.

Example
-------
>>> gen = reconstruct_steps(kspace)                      # doctest: +SKIP
>>> for event in gen:                                     # doctest: +SKIP
...     print(event.stage, event.iteration, event.total)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

__all__ = ["PreviewThrottle", "ProgressCallback", "ProgressEvent", "Steps", "relay", "run"]

T = TypeVar("T")
Y = TypeVar("Y")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long computation.

    Attributes
    ----------
    stage
        Human-readable name of the current stage (e.g. ``"fft"``, ``"coil combination"``).
    iteration
        Steps finished so far within the whole call (0-based count, ``<= total``).
    total
        Total number of steps of the whole call.
    preview
        Small float32 CPU array (e.g. magnitude of the current image, shape ``(y, x)``)
        or ``None``. At most ~10 previews per second are produced.
    metrics
        Named scalar values (e.g. residual norm) for display.
    """

    stage: str
    iteration: int
    total: int
    preview: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Completed fraction in ``[0, 1]``."""
        return 0.0 if self.total <= 0 else min(1.0, self.iteration / self.total)


Steps = Generator[ProgressEvent, None, T]
"""Type of a long engine call: yields :class:`ProgressEvent`, returns ``T``."""


#: What ``progress=`` of :func:`~recon_engine.api.reconstruct`, :func:`~recon_engine.qmri.fit`
#: and :func:`~recon_engine.teaching.explore` receives: every event, in order.
ProgressCallback = Callable[[ProgressEvent], None]


def run(steps: Generator[Y, Any, T], callback: Callable[[Y], None] | None = None) -> T:
    """Drive a generator to its end and return its result: the one way to run long work.

    Every plain-function form of a ``*_steps`` generator (``reconstruct``, ``fit``,
    ``explore``, ...) is ``run(xxx_steps(...), progress)``; a solver's states can be driven
    the same way (``x = run(conjugate_gradient_steps(H, b))``).

    Parameters
    ----------
    steps
        Generator returned by an engine ``*_steps`` function (or a solver).
    callback
        Called with every yielded item (e.g. to print progress); ``None`` ignores them.

    Returns
    -------
    T
        The value the generator returned.
    """
    while True:
        try:
            item = next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if callback is not None:
            callback(item)


def relay(
    steps: Generator[Y, Any, T], event: Callable[[Y], ProgressEvent | None]
) -> Generator[ProgressEvent, None, T]:
    """Re-yield what ``steps`` yields as progress events and return its result.

    ``x = yield from relay(solver, lambda state: ProgressEvent(...))`` inside a ``*_steps``
    generator: ``event`` maps each item (e.g. a :class:`~recon_engine.solvers.SolverState`)
    to the event to yield, or to ``None`` to yield nothing for it.

    Parameters
    ----------
    steps
        Any generator (a solver, another ``*_steps`` call).
    event
        Item → :class:`ProgressEvent` or ``None``.

    Returns
    -------
    T
        The value ``steps`` returned.
    """
    while True:
        try:
            item = next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        out = event(item)
        if out is not None:
            yield out


class PreviewThrottle:
    """Decide whether a preview may be produced now (at most ``max_hz`` per second).

    Parameters
    ----------
    max_hz
        Maximum preview rate in Hz; the first call always returns True.
    """

    def __init__(self, max_hz: float = 10.0) -> None:
        self._interval = 1.0 / max_hz
        self._last = -float("inf")

    def ready(self) -> bool:
        """Return True (and restart the clock) if a preview is due."""
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            return True
        return False
