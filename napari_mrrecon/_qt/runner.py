"""The one background runner of the docks: engine generators in napari thread workers.

A :class:`Job` is a generator function (no arguments) that runs in a napari
``thread_worker`` and must not touch layers or widgets; what it yields goes to
``on_yielded`` and what it returns to ``on_returned``, both on the main thread. Every dock
runs its work through a :class:`Runner`, which does the four things each of them needs:

- **Stale signals are dropped.** Every job gets a new generation number; the signals of a
  worker that is no longer the current one (a superseded or cancelled job: late previews,
  a late result) never reach the job's callbacks. The runner also outlives its Qt object
  safely: signals that arrive after it was deleted (viewer closed) are ignored.
- **Engine errors become notifications.** A :class:`~recon_engine.errors.ReconError` (bad
  input, bad settings) is caught in the worker and returned as a :class:`Failure`; the
  runner shows its message with ``show_error`` (one line, prefixed with the job's
  ``context``) and calls ``on_failed``. Anything else is a bug: it reaches
  ``worker.errored``, where napari already shows it with the traceback; the runner logs
  it and calls ``on_errored``.
- **The caller's torch thread count.** torch keeps the intra-op thread count per thread
  and a pool thread keeps the one it first saw, so a job runs with the count of the
  thread that submitted it (:func:`in_caller_threads`); a dock run then gives the same
  bits as the same engine call in a script.
- **Warnings become notifications.** superqt catches the warnings of a worker thread and
  emits them (``worker.warned``); the runner shows each as a napari warning notification
  (once per message and source line, as napari does for the main thread), so an engine
  warning such as "field of view looks like metres" reaches the user, not the terminal.
- **A stopped job's generator is closed.** superqt's worker only stops calling ``send``;
  the runner then closes the job's generator in the worker thread, before the main thread
  hears of the abort, so its ``finally`` blocks run at once (a training run saves its
  checkpoint, a batch run shuts its cluster down) and not whenever the garbage collector
  finds it.
- **Two policies.** By default a new job replaces the running one at once (the old worker
  is asked to stop at its next ``yield``; a Live re-run). With ``latest_wins=True`` (the
  K-space Explorer, whose controls move far faster than a SENSE run finishes) at most one
  job runs and one waits: a new job replaces the waiting one and asks the running one to
  stop; the waiting job starts when the running one has ended, so no two jobs compete
  for the CPU and a fast job still runs to its end.

What a worker yields is a :data:`WorkerItem`: a progress event, a progress event with the
contrast limits of its preview (:class:`PreviewWithLimits`, made in the worker by
:func:`with_limits`), a :class:`PartialResult` of the dock (e.g. one finished run of a sweep)
or None (a bare checkpoint where a cancelled job may stop).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

from qtpy.QtCore import QObject, Qt, Signal

from napari_mrrecon.layers.preview import preview_limits

if TYPE_CHECKING:
    from napari.qt.threading import GeneratorWorker

    from recon_engine.progress import ProgressEvent

__all__ = [
    "Failure",
    "Job",
    "PartialResult",
    "PreviewWithLimits",
    "Runner",
    "WorkerItem",
    "in_caller_threads",
    "map_items",
    "with_limits",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """What a worker returns when the engine rejected the input (a ReconError): its message."""

    message: str


@dataclass(frozen=True)
class PreviewWithLimits:
    """A progress event with a preview, and the preview's contrast limits (made in the worker)."""

    event: ProgressEvent
    limits: tuple[float, float]


class PartialResult:
    """Base of what a dock's worker yields besides progress events (made in the worker).

    A dock derives its own (frozen dataclass) item, e.g. one finished run of a sweep with
    its display arrays; :meth:`~napari_mrrecon._qt.run_dock.EngineRunWidget.show_partial`
    receives it on the main thread.
    """


#: Everything a worker yields: progress, progress with preview limits, a dock's partial
#: result, or None (a checkpoint where a cancelled job stops before any work).
WorkerItem: TypeAlias = "ProgressEvent | PreviewWithLimits | PartialResult | None"

#: A job's work: a generator of :data:`WorkerItem` that returns the result.
Steps: TypeAlias = "Generator[WorkerItem, None, Any]"


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


def with_limits(steps: Generator[Any, None, Any]) -> Generator[Any, None, Any]:
    """``steps``, with each progress event that has a preview wrapped with its contrast limits."""
    return map_items(steps, _attach_limits)


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


def _ignore(*_: Any) -> None:
    """Default callback: nothing to do."""


@dataclass
class Job:
    """One background computation.

    Attributes
    ----------
    steps
        Generator function (no arguments) run in the worker thread; it must not touch
        layers or widgets.
    on_yielded
        Main thread: every :data:`WorkerItem` the generator yields.
    on_returned
        Main thread: the generator's return value (not for a :class:`Failure`).
    on_failed
        Main thread: the message of an engine error, after the notification.
    on_errored
        Main thread: an exception that is not an engine error (a bug; napari shows it).
    on_aborted
        Main thread: the job was stopped before its end.
    on_finished
        Main thread: the worker ended (returned, failed, errored or stopped); not for a
        job that a newer one superseded.
    label
        What the job computes (:attr:`Runner.current_label`).
    context
        Prefix of the error notification, e.g. the dataset's name (none when empty).
    """

    steps: Callable[[], Generator[Any, None, Any]]
    on_yielded: Callable[[Any], None] = _ignore
    on_returned: Callable[[Any], None] = _ignore
    on_failed: Callable[[str], None] = _ignore
    on_errored: Callable[[BaseException], None] = _ignore
    on_aborted: Callable[[], None] = _ignore
    on_finished: Callable[[], None] = _ignore
    label: str = ""
    context: str = ""


def _close_steps(started: list[Generator[Any, None, Any]], *_: Any) -> None:
    """Close the job's generator (worker thread; a no-op when it has ended or never started)."""
    while started:
        steps = started.pop()
        try:
            steps.close()
        except Exception:  # a failing cleanup must not kill the worker thread
            logger.exception("napari-mrrecon: closing a stopped job failed")


def _notify_warning(showwarning_args: tuple[Any, ...]) -> None:
    """Main thread: a warning raised in a worker, shown as a napari warning notification."""
    from napari.utils.notifications import notification_manager

    notification_manager.receive_warning(*showwarning_args)


def _guarded(alive: list[bool], slot: Callable[..., None], *args: Any) -> None:
    """Call ``slot(*args)`` unless the runner was deleted (``alive[0]`` False)."""
    if alive[0]:
        slot(*args)


class Runner(QObject):
    """Runs :class:`Job` s in napari thread workers, newest first (see the module docstring).

    Parameters
    ----------
    parent
        Parent Qt object (the dock); deleting it stops the running worker.
    latest_wins
        False: a new job stops the running one and starts at once. True: at most one job
        runs and one waits; the newest waiting job starts when the running one has ended.

    Attributes
    ----------
    busy_changed
        Qt signal emitted with True when a job starts after idleness and False when the
        last job ended and none is waiting.
    job_finished
        Qt signal emitted with the job's wall time (s) after each job that ran to its end.
    jobs_started, jobs_cancelled
        Counters (all time).
    """

    busy_changed = Signal(bool)
    job_finished = Signal(float)

    def __init__(self, parent: QObject | None = None, *, latest_wins: bool = False) -> None:
        super().__init__(parent)
        self.latest_wins = latest_wins
        self._worker: GeneratorWorker | None = None
        self._current: Job | None = None
        self._pending: Job | None = None
        self._started = 0.0
        self._generation = 0
        self.jobs_started = 0
        self.jobs_cancelled = 0
        # the workers' signals may arrive after this object was deleted (viewer closed): the
        # callbacks check this flag, which outlives the Qt object
        alive = self._alive = [True]
        running: list[Any] = [None]  # the running worker, stopped when this object is deleted
        self._running = running
        self.destroyed.connect(lambda *_: (alive.__setitem__(0, False), running[0] and running[0].quit()))

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        return self._worker is not None or self._pending is not None

    @property
    def worker(self) -> GeneratorWorker | None:
        """The worker of the current job, or None when idle."""
        return self._worker

    @property
    def generation(self) -> int:
        """Number of the current (or last) job; signals of older jobs are ignored."""
        return self._generation

    @property
    def current_label(self) -> str:
        """Label of the running job ("" when idle)."""
        return "" if self._current is None else self._current.label

    def submit(self, job: Job) -> GeneratorWorker | None:
        """Run ``job`` as soon as the policy allows; returns its worker if it started now.

        Replace policy: the running job is asked to stop (its signals no longer count) and
        ``job`` starts now. Latest-wins: ``job`` replaces the waiting one; the running one
        is asked to stop, and ``job`` starts when it has ended (None is returned then).
        """
        if self.latest_wins:
            self._pending = job
            if self._worker is None:
                return self._start(job, announce=True)
            self._worker.quit()
            return None
        idle = self._worker is None
        if not idle:
            self._stop_current()
        return self._start(job, announce=idle)

    def cancel(self) -> None:
        """Drop the waiting job and ask the running one to stop at its next step."""
        self._pending = None
        if self._worker is not None:
            self._worker.quit()

    def _stop_current(self) -> None:
        """Replace policy: stop the running worker; it is no longer current (its end is ignored)."""
        assert self._worker is not None
        self._worker.quit()
        self._worker, self._current = None, None

    def _start(self, job: Job, *, announce: bool) -> GeneratorWorker:
        from napari.qt.threading import thread_worker

        if self._pending is job:
            self._pending = None
        make_steps = in_caller_threads(job.steps)

        started: list[Generator[Any, None, Any]] = []

        @thread_worker(start_thread=False)
        def work() -> Generator[Any, None, Any]:
            from recon_engine.errors import ReconError

            try:
                steps = make_steps()
                started.append(steps)
                return (yield from steps)
            except ReconError as exc:  # bad input: a message for the user, not a traceback
                return Failure(" ".join(str(exc).split()))

        worker = work()
        # connected first and direct: runs in the worker thread before the queued signals below
        # reach the main thread, so on_aborted/on_finished see the generator's cleanup done
        close = partial(_close_steps, started)
        worker.aborted.connect(close, Qt.ConnectionType.DirectConnection)
        worker.finished.connect(close, Qt.ConnectionType.DirectConnection)
        self._generation += 1
        alive, gen = self._alive, self._generation
        connect = partial(_guarded, alive, self._if_current, gen)
        worker.yielded.connect(partial(connect, job.on_yielded))
        worker.returned.connect(partial(connect, self._on_returned, job))
        worker.errored.connect(partial(connect, self._on_errored, job))
        worker.warned.connect(partial(_guarded, alive, _notify_warning))
        worker.aborted.connect(partial(_guarded, alive, self._on_aborted, gen, job))
        worker.finished.connect(partial(_guarded, alive, self._on_finished, gen, job))
        self._worker, self._current = worker, job
        self._running[0] = worker
        self._started = time.perf_counter()
        self.jobs_started += 1
        worker.start()
        if announce:
            self.busy_changed.emit(True)
        return worker

    def _if_current(self, gen: int, slot: Callable[..., None], *args: Any) -> None:
        if gen == self._generation and self._worker is not None:
            slot(*args)

    def _on_returned(self, job: Job, value: Any) -> None:
        if isinstance(value, Failure):
            from napari.utils.notifications import show_error

            show_error(f"{job.context}: {value.message}" if job.context else value.message)
            job.on_failed(value.message)
            return
        self.job_finished.emit(time.perf_counter() - self._started)
        job.on_returned(value)

    def _on_errored(self, job: Job, exc: BaseException) -> None:
        # a bug, not an engine error: napari's worker already shows it (with the traceback)
        logger.error("napari-mrrecon worker failed", exc_info=exc)
        job.on_errored(exc)

    def _on_aborted(self, gen: int, job: Job) -> None:
        self.jobs_cancelled += 1
        if gen == self._generation and self._worker is not None:
            job.on_aborted()

    def _on_finished(self, gen: int, job: Job) -> None:
        if gen != self._generation or self._worker is None:
            return  # superseded (replace policy): the newer job's worker is current
        self._worker, self._current = None, None
        self._running[0] = None
        job.on_finished()
        if self._pending is not None:
            self._start(self._pending, announce=False)
        else:
            self.busy_changed.emit(False)
