"""Latest-wins background runs for the K-space Explorer dock.

The explorer recomputes its views every time a control moves, far more often than a
SENSE or CS reconstruction can finish. :class:`LatestRunner` keeps at most one worker
running and at most one job waiting: submitting a job replaces the waiting one and asks
the running worker to stop at its next step (``worker.quit()``; a generator stops at its
next ``yield``). When the running worker ends, the waiting job starts. So a fast FFT-only
job runs to completion (its views are shown, a newer job follows at once) while a slow
iterative job is cancelled as soon as its settings are stale, and no two jobs ever compete
for the CPU.

Each job is a generator function run in a napari ``thread_worker``; what it yields goes to
the job's ``on_yielded`` and what it returns to ``on_returned`` (main thread). A
:class:`~recon_engine.errors.ReconError` raised by the engine ends the job with
``on_failed(message)``; anything else is a bug and reaches napari's own error notification.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Signal

from napari_mrrecon.layers.preview import preview_limits

if TYPE_CHECKING:
    from napari.qt.threading import GeneratorWorker

    from recon_engine.progress import ProgressEvent

__all__ = ["Job", "LatestRunner", "PreviewWithLimits", "in_caller_threads", "map_items", "with_limits"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreviewWithLimits:
    """A progress event with a preview, and the preview's contrast limits (made in the worker)."""

    event: ProgressEvent
    limits: tuple[float, float]


def map_items(steps: Generator[Any, None, Any], convert: Callable[[Any], Any]) -> Generator[Any, None, Any]:
    """``steps`` with every yielded item passed through ``convert`` (in the worker thread).

    Returns what ``steps`` returns; closing this generator (a cancelled run) closes ``steps``.
    """
    try:
        while True:
            try:
                item = next(steps)
            except StopIteration as stop:
                return stop.value
            yield convert(item)
    finally:
        steps.close()  # a cancelled run closes the engine's generator too


def _attach_limits(item: Any) -> Any:
    from recon_engine.progress import ProgressEvent

    if isinstance(item, ProgressEvent) and item.preview is not None:
        return PreviewWithLimits(item, preview_limits(item.preview))
    return item


def in_caller_threads(make_steps: Callable[[], Any]) -> Callable[[], Any]:
    """``make_steps``, to be called in a worker, with the torch thread count of this thread.

    Call this in the GUI thread and the result in the worker thread. torch keeps the intra-op
    thread count per thread, and a worker thread keeps whatever it had when it first used
    torch, not later ``torch.set_num_threads`` calls of the main thread. The count changes
    how reductions are split, so without this a run in a dock could differ in the last bits
    from the same recipe run in a script (and from run to run, with the pool thread).
    """
    import torch

    threads = torch.get_num_threads()

    def in_worker() -> Any:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return make_steps()

    return in_worker


def with_limits(steps: Generator[Any, None, Any]) -> Generator[Any, None, Any]:
    """``steps``, with each progress event that has a preview wrapped with its contrast limits."""
    return map_items(steps, _attach_limits)


def _ignore(*_: Any) -> None:
    """Default callback: nothing to do."""


def _guarded(alive: list[bool], slot: Callable[..., None], *args: Any) -> None:
    """Call ``slot(*args)`` unless the runner was deleted (``alive[0]`` False)."""
    if alive[0]:
        slot(*args)


@dataclass
class Job:
    """One background computation.

    Attributes
    ----------
    steps
        Generator function (no arguments) run in the worker thread; it must not touch
        layers or widgets.
    on_yielded
        Called on the main thread with every value the generator yields.
    on_returned
        Called on the main thread with the generator's return value.
    on_failed
        Called on the main thread with the message of an engine error (bad settings).
    label
        What the job computes, for the status line.
    """

    steps: Callable[[], Generator[Any, None, Any]]
    on_yielded: Callable[[Any], None] = _ignore
    on_returned: Callable[[Any], None] = _ignore
    on_failed: Callable[[str], None] = _ignore
    label: str = ""


@dataclass(frozen=True)
class _Failure:
    message: str


class LatestRunner(QObject):
    """At most one running job and one waiting job; newer jobs cancel older ones.

    Attributes
    ----------
    busy_changed
        Qt signal emitted with True when a job starts after idleness and False when the
        last job ended and none is waiting.
    job_finished
        Qt signal emitted with the job's wall time (s) after each job that ran to the end.
    jobs_started, jobs_cancelled
        Counters (all time).
    """

    busy_changed = Signal(bool)
    job_finished = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker: GeneratorWorker | None = None
        self._current: Job | None = None
        self._pending: Job | None = None
        self._started = 0.0
        self.jobs_started = 0
        self.jobs_cancelled = 0
        # the workers' signals may arrive after this object was deleted (viewer closed): the
        # callbacks below check this flag, which outlives the Qt object
        alive = self._alive = [True]
        running: list[Any] = [None]  # the running worker, stopped when this object is deleted
        self._running = running
        self.destroyed.connect(lambda *_: (alive.__setitem__(0, False), running[0] and running[0].quit()))

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        return self._worker is not None or self._pending is not None

    @property
    def current_label(self) -> str:
        """Label of the running job ("" when idle)."""
        return "" if self._current is None else self._current.label

    def submit(self, job: Job) -> None:
        """Run ``job`` as soon as possible; the waiting job is dropped, the running one stopped."""
        self._pending = job
        if self._worker is None:
            self._start_pending(announce=True)
        else:
            self._worker.quit()

    def cancel(self) -> None:
        """Drop the waiting job and stop the running one at its next step."""
        self._pending = None
        if self._worker is not None:
            self._worker.quit()

    def _start_pending(self, *, announce: bool = False) -> None:
        from napari.qt.threading import thread_worker

        job, self._pending = self._pending, None
        if job is None:
            return

        make_steps = in_caller_threads(job.steps)

        @thread_worker(start_thread=False)
        def work() -> Generator[Any, None, Any]:
            from recon_engine.errors import ReconError

            try:
                return (yield from make_steps())
            except ReconError as exc:  # bad settings: a message for the user, not a traceback
                return _Failure(" ".join(str(exc).split()))

        worker = work()
        alive = self._alive
        worker.yielded.connect(partial(_guarded, alive, self._if_current, worker, job.on_yielded))
        worker.returned.connect(partial(_guarded, alive, self._if_current, worker, self._on_returned, job))
        worker.aborted.connect(partial(_guarded, alive, self._count_cancelled))
        worker.finished.connect(partial(_guarded, alive, self._on_finished, worker))
        self._worker, self._current = worker, job
        self._running[0] = worker
        self._started = time.perf_counter()
        self.jobs_started += 1
        worker.start()
        if announce:
            self.busy_changed.emit(True)

    def _if_current(self, worker: Any, slot: Callable[..., None], *args: Any) -> None:
        if worker is self._worker:
            slot(*args)

    def _count_cancelled(self) -> None:
        self.jobs_cancelled += 1

    def _on_returned(self, job: Job, value: Any) -> None:
        if isinstance(value, _Failure):
            job.on_failed(value.message)
            return
        self.job_finished.emit(time.perf_counter() - self._started)
        job.on_returned(value)

    def _on_finished(self, worker: Any) -> None:
        if worker is not self._worker:
            return
        self._worker, self._current = None, None
        self._running[0] = None
        if self._pending is not None:
            self._start_pending()
        else:
            self.busy_changed.emit(False)
