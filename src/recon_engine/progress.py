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

import functools
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import numpy as np

__all__ = ["PreviewThrottle", "ProgressEvent", "Steps", "run", "run_to_end"]

T = TypeVar("T")
P = ParamSpec("P")


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


def run(steps: Steps[T], callback: Callable[[ProgressEvent], None] | None = None) -> T:
    """Drive a generator of :class:`ProgressEvent` to the end and return its result.

    Parameters
    ----------
    steps
        Generator returned by an engine ``*_steps`` function.
    callback
        Called with every event (e.g. to print progress); ``None`` ignores them.

    Returns
    -------
    T
        The value the generator returned.
    """
    while True:
        try:
            event = next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if callback is not None:
            callback(event)


def run_to_end(steps: Callable[P, Steps[T]], name: str, doc: str) -> Callable[P, T]:
    """The plain-function form of a ``*_steps`` generator function.

    Parameters
    ----------
    steps
        Generator function (e.g. ``fit_steps``).
    name
        ``__name__`` of the returned function (e.g. ``"fit"``).
    doc
        Its docstring.

    Returns
    -------
    Callable
        Takes the same parameters as ``steps`` and returns :func:`run` of its generator.
    """

    @functools.wraps(steps)
    def to_end(*args: P.args, **kwargs: P.kwargs) -> T:
        return run(steps(*args, **kwargs))

    to_end.__name__ = name
    to_end.__qualname__ = name
    to_end.__doc__ = doc
    return to_end


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
