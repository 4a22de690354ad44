"""Shared dock parts: the dataset choice, and a base widget with Run/Stop and progress.

A dock derived from :class:`EngineRunWidget` fills in :meth:`~EngineRunWidget.make_steps`
(the ONE engine call, a generator of :class:`~recon_engine.progress.ProgressEvent`) and
:meth:`~EngineRunWidget.show_result`. The base runs the generator in a napari
``thread_worker``, shows progress and previews from ``yielded`` (main thread; one preview
layer, reused), stops with ``worker.quit()``, and keeps the dock usable after errors.
Previews and the status line are throttled (≤ 10 updates a second, whatever rate the
engine yields at). Every run has a generation number; a run can be restarted (Live mode)
and the signals of the superseded worker (late previews, a late result) are ignored.

Keeping the GUI responsive (issue 7: no main-thread stall over 50 ms while a run goes on):
array work for display (views, contrast limits) happens in the worker —
:meth:`~EngineRunWidget.prepare_result` for the result, the preview's contrast limits in
the base — so the main thread only assigns ready arrays; status, progress,
:meth:`~EngineRunWidget.on_frame` (e.g. a plot) and the preview are updated together in
one *frame* at most every 100 ms, so the window (whose GL canvas makes every repaint
costly) repaints once for all of them; the preview is written into the reused layer in
place (:mod:`napari_mrrecon.layers.preview`); a finished run's preview layer can be hidden and
reused instead of removed (removing a layer makes napari collect garbage); and work that
must happen on the main thread can be cut into steps that run one per event-loop turn
(:meth:`~EngineRunWidget.defer`), with :attr:`~EngineRunWidget.run_finished` emitted after
the last of them.

Errors: a :class:`~recon_engine.errors.ReconError` (bad input) is caught inside the worker
and returned as a failure, which the main thread shows with ``show_error``, the engine's
message for a physicist and nothing else. Anything else is a bug: it reaches
``worker.errored``, where napari's worker already shows a notification with the traceback
(so catching engine errors there too would show each one twice).
"""

from __future__ import annotations

import logging
import time
from abc import ABCMeta, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_mrrecon._qt.layer_choice import DatasetChoice, LayerChoice, replace_items
from napari_mrrecon._qt.runner import PreviewWithLimits, in_caller_threads, with_limits
from napari_mrrecon.layers.preview import PREVIEW_LAYER, preview_limits, show_preview
from napari_mrrecon.model.entries import RawDataset, find_layer, raw_of

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer
    from napari.qt.threading import GeneratorWorker

    from recon_engine.progress import ProgressEvent

__all__ = [
    "PREVIEW_LAYER",
    "DatasetChoice",
    "EngineRunWidget",
    "LayerChoice",
    "preview_limits",
    "replace_items",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Failure:
    """What the worker returns when the engine rejected the input (a ReconError)."""

    message: str


class _QtABCMeta(type(QWidget), ABCMeta):  # type: ignore[misc]
    """Qt's metaclass and ABCMeta together, so a QWidget base can have abstract methods."""


class EngineRunWidget(QWidget, metaclass=_QtABCMeta):
    """Base dock: dataset choice, a form, Run/Stop and progress around one engine generator.

    Subclasses add their controls to :attr:`form` and implement :meth:`make_steps` and
    :meth:`show_result`; :meth:`show_partial` receives anything else the generator yields
    (e.g. each result of a sweep) and :meth:`on_progress` every progress event.

    Every run gets a new *generation* number. Signals of a worker that is no longer the
    current one (a run cancelled by :meth:`run` with ``restart=True``) are ignored, so
    late previews or results of a cancelled run never reach the layers.

    Previews, status line and progress bar are updated at most every
    :attr:`PREVIEW_INTERVAL_S` seconds (the latest event wins), whatever rate the engine
    yields at.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    run_started
        Qt signal emitted with the generation number when a run starts.
    run_finished
        Qt signal emitted when the current run ends (done, stopped or failed), after the
        result is shown (including the steps :meth:`defer` queued); not for runs that were
        superseded by a restart.
    last_error
        Message of the last failed run, or None.
    last_duration_s
        Wall time of the last run that finished, in seconds.
    previews_shown
        Number of previews put into the preview layer (all runs).
    """

    run_started = Signal(int)
    run_finished = Signal()

    #: Shortest time between two frames (status, progress, plot, preview; s): ≤ 10 a second.
    PREVIEW_INTERVAL_S = 0.1

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: GeneratorWorker | None = None
        self.last_error: str | None = None
        self.last_duration_s: float | None = None
        self.previews_shown = 0
        self._started = 0.0
        self._generation = 0
        # the latest event and preview, shown together at the next frame (one repaint for all)
        self._pending_event: ProgressEvent | None = None
        self._pending_preview: Any = None
        self._preview_limits: tuple[float, float] | None = None
        self._frame_at = -float("inf")
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.timeout.connect(self._flush_frame)
        # main-thread steps of the current run, one per event-loop turn (see defer)
        self._steps: deque[Callable[[], None]] = deque()  # cleared when a run starts
        self._step_timer = QTimer(self)
        self._step_timer.setSingleShot(True)
        self._step_timer.setInterval(0)
        self._step_timer.timeout.connect(self._run_step)
        self.dataset_choice = DatasetChoice(napari_viewer, self)
        self.form = QFormLayout()
        self.form.addRow("Dataset", self.dataset_choice)

        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Start the computation in the background")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Cancel at the next step")
        self.stop_button.setEnabled(False)
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        self.buttons = QHBoxLayout()
        self.buttons.addWidget(self.run_button)
        self.buttons.addWidget(self.stop_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel(
            "Open raw data (ISMRMRD .h5, twix .dat: File ▸ Open) or a sample (File ▸ Open Sample)."
        )
        self.status.setWordWrap(True)

        self.main_layout = QVBoxLayout(self)
        self.main_layout.addLayout(self.form)
        self.main_layout.addLayout(self.buttons)
        self.main_layout.addWidget(self.progress)
        self.main_layout.addWidget(self.status)

    # ---- hooks ---------------------------------------------------------------------------
    @abstractmethod
    def make_steps(self, dataset: RawDataset, **options: Any) -> Generator[Any, None, Any]:
        """The engine call: a generator of progress events that returns the result.

        Runs in the worker thread, so it must not touch layers or widgets; ``options``
        are the values :meth:`gather` read from the form beforehand.
        """

    def gather(self) -> dict[str, Any]:
        """Read the form's values (main thread) for :meth:`make_steps`.

        Raises
        ------
        ValueError
            A value is invalid; the message is shown and nothing runs.
        """
        return {}

    def prepare_result(self, result: Any) -> Any:
        """Turn the generator's result into what :meth:`show_result` shows (worker thread).

        Array work for display (float views of complex data, contrast limits, percentiles)
        belongs here, so the main thread only assigns ready arrays. Must not touch layers
        or widgets. The default returns ``result`` unchanged.
        """
        return result

    @abstractmethod
    def show_result(self, result: Any, dataset_layer: napari.layers.Layer) -> None:
        """Show the value :meth:`prepare_result` returned (main thread).

        Slow layer work (each ``add_image`` builds GL visuals and layer controls) can be
        spread over event-loop turns with :meth:`defer`.
        """

    def show_partial(self, item: Any, dataset_layer: napari.layers.Layer) -> None:
        """Show something the generator yielded that is not a progress event (main thread)."""

    def on_progress(self, event: ProgressEvent) -> None:
        """Called with every progress event of the current run (main thread); keep it cheap.

        Record what the event brings here and draw it in :meth:`on_frame`.
        """

    def on_frame(self) -> None:
        """Draw what :meth:`on_progress` recorded (main thread).

        Called at most every :attr:`PREVIEW_INTERVAL_S` seconds during a run and once with
        the result, in the same event-loop turn as the status, progress and preview updates,
        so the window repaints once for all of them.
        """

    # ---- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a worker is running."""
        return self.worker is not None

    @property
    def generation(self) -> int:
        """Number of the current (or last) run; results of older runs are ignored."""
        return self._generation

    def run(self, *, restart: bool = False) -> GeneratorWorker | None:
        """Start the computation on the chosen dataset in a ``thread_worker``.

        Parameters
        ----------
        restart
            If a run is in progress, cancel it (its late results are ignored) and start
            a new one; otherwise the running worker is returned and nothing starts.

        Returns
        -------
        GeneratorWorker or None
            The started worker, or None (with a notification) when there is nothing to run.
        """
        from napari.utils.notifications import show_error

        if self.worker is not None and not restart:
            return self.worker
        layer = self.dataset_choice.layer()
        dataset = raw_of(layer)
        if layer is None or dataset is None:
            show_error("No raw dataset chosen: open an ISMRMRD or twix file or a sample first.")
            return None
        try:
            options = self.gather()
        except ValueError as exc:
            show_error(str(exc))
            self.status.setText(f"Not started: {exc}")
            return None
        return self._start_worker(dataset, options, layer, f"Running on {layer.name} …")

    def _start_worker(
        self, dataset: Any, options: dict[str, Any], layer: napari.layers.Layer, status: str
    ) -> GeneratorWorker:
        """Start :meth:`make_steps` ``(dataset, **options)`` as the new current run.

        Cancels a running worker (its late signals are ignored), connects the new
        worker's signals for ``layer``, resets the preview, buttons and progress bar,
        shows ``status`` and emits :attr:`run_started`.
        """
        from napari.qt.threading import thread_worker

        if self.worker is not None:
            self.worker.quit()  # stops at its next step; its signals no longer count
        self._generation += 1
        gen = self._generation

        make_steps = in_caller_threads(partial(self.make_steps, dataset, **options))

        @thread_worker(start_thread=False)
        def work() -> Generator[Any, None, Any]:
            from recon_engine.errors import ReconError

            try:
                return self.prepare_result((yield from with_limits(make_steps())))
            except ReconError as exc:  # bad input: a message for the user, not a traceback
                return _Failure(str(exc))

        worker = work()
        worker.yielded.connect(partial(self._if_current, gen, self._on_yielded, layer))
        worker.returned.connect(partial(self._if_current, gen, self._on_returned, layer))
        worker.errored.connect(partial(self._if_current, gen, self._on_errored))
        worker.aborted.connect(partial(self._if_current, gen, self._on_aborted))
        worker.finished.connect(partial(self._if_current, gen, self._on_finished))
        self.worker = worker
        self.last_error = None
        self._steps.clear()  # steps of a superseded run
        self._drop_frame()
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        # not the busy indicator (range 0–0): its animation repaints the window ~25 times a second
        set_progress(self.progress, 1, 0)
        self.status.setText(status)
        self._started = time.perf_counter()
        worker.start()
        self.run_started.emit(gen)
        return worker

    def stop(self) -> None:
        """Ask the running worker to stop at its next step."""
        if self.worker is not None:
            self.status.setText("Stopping …")
            self.worker.quit()

    def closeEvent(self, event: Any) -> None:
        """Stop a running worker when the dock is closed."""
        self.stop()
        super().closeEvent(event)

    def _if_current(self, gen: int, slot: Callable[..., None], *args: Any) -> None:
        if gen == self._generation:
            slot(*args)

    def defer(self, step: Callable[[], None]) -> None:
        """Run ``step`` on the main thread in a later event-loop turn, after the steps queued before.

        One step per turn, so the GUI can react (repaint, handle input) between slow layer
        operations. Steps of a run that a new run superseded are dropped.
        """
        self._steps.append(step)
        if not self._step_timer.isActive():
            self._step_timer.start()

    @property
    def steps_pending(self) -> int:
        """Number of deferred main-thread steps not yet run."""
        return len(self._steps)

    def _run_step(self) -> None:
        if not self._steps:
            return
        step = self._steps.popleft()
        try:
            step()
        finally:
            if self._steps:
                self._step_timer.start()

    def _on_yielded(self, layer: napari.layers.Layer, event: Any) -> None:
        from recon_engine.progress import ProgressEvent

        limits = None
        if isinstance(event, PreviewWithLimits):
            event, limits = event.event, event.limits
        if not isinstance(event, ProgressEvent):
            self.show_partial(event, layer)
            return
        self.on_progress(event)
        self._pending_event = event
        if event.preview is not None and event.iteration < event.total:
            # the last event's preview is followed at once by the result: skip the layer churn
            self._pending_preview, self._preview_limits = event.preview, limits
        wait = self._frame_at + self.PREVIEW_INTERVAL_S - time.perf_counter()
        if wait <= 0:
            self._flush_frame()
        elif not self._frame_timer.isActive():
            self._frame_timer.start(int(wait * 1000) + 1)

    def _flush_frame(self) -> None:
        """Status, progress, :meth:`on_frame` and the preview for the latest event, in one turn."""
        event, self._pending_event = self._pending_event, None
        preview, self._pending_preview = self._pending_preview, None
        if self.worker is None:
            return
        self._frame_at = time.perf_counter()
        if event is not None:
            self._display_event(event)
        self.on_frame()
        if preview is not None:
            self._show_preview(preview)
            self.previews_shown += 1

    def _drop_frame(self) -> None:
        self._frame_timer.stop()
        self._pending_event = self._pending_preview = None

    def _display_event(self, event: ProgressEvent) -> None:
        """Progress bar and status line for ``event``."""
        total = max(event.total, 1)
        set_progress(self.progress, total, min(event.iteration, total))
        metrics = "  ".join(f"{k} {v:.3g}" for k, v in event.metrics.items())
        text = f"{event.stage} ({event.iteration}/{event.total}) {metrics}".rstrip()
        eta = self._eta(event.fraction)
        self.status.setText(f"{text} · ETA {eta}" if eta else text)

    def _eta(self, fraction: float) -> str:
        """Remaining time from the elapsed time and the completed fraction ("" when unknown)."""
        elapsed = time.perf_counter() - self._started
        if not 0.0 < fraction < 1.0:
            return ""
        return _format_seconds(elapsed * (1.0 - fraction) / fraction)

    def _show_preview(self, preview: Any) -> None:
        """Put ``preview`` into the preview layer (added once, then reused; limits from the worker)."""
        show_preview(self.viewer, PREVIEW_LAYER, preview, self._preview_limits or preview_limits(preview))

    def _end_preview(self, *, remove: bool) -> None:
        """Drop pending updates; remove the preview layer, or only hide it (instant).

        Removing a layer makes napari collect garbage (can take ~0.5 s in a big session),
        so a stopped run and Live re-runs only hide the layer, and the next run reuses it.
        """
        self._drop_frame()
        layer = find_layer(self.viewer.layers, PREVIEW_LAYER)
        if layer is None:
            return
        if remove and not self.keep_preview_layer():
            self.viewer.layers.remove(layer)
        else:
            layer.visible = False

    def keep_preview_layer(self) -> bool:
        """True to hide the preview layer after a run instead of removing it (e.g. Live mode)."""
        return False

    def _on_returned(self, layer: napari.layers.Layer, result: Any) -> None:
        from napari.utils.notifications import show_error

        self._end_preview(remove=True)
        if isinstance(result, _Failure):
            self.last_error = result.message
            self.status.setText(f"Failed: {result.message}")
            show_error(f"{layer.name}: {result.message}")
            return
        self.last_duration_s = time.perf_counter() - self._started
        set_progress(self.progress, self.progress.maximum(), self.progress.maximum())
        self.status.setText(f"Done in {self.last_duration_s:.2f} s.")
        self.on_frame()  # the last values (frames are throttled)
        self.show_result(result, layer)

    def _on_errored(self, exc: BaseException) -> None:
        # Not an engine error but a bug: napari's worker already shows it as a
        # notification (with the traceback); record it and keep the dock usable.
        logger.error("napari-mrrecon worker failed", exc_info=exc)
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Failed: {self.last_error}")

    def _on_aborted(self) -> None:
        self._drop_frame()
        self.status.setText("Stopped.")

    def _on_finished(self) -> None:
        if self._steps:  # the result is still being shown: finish after its last step
            self.defer(self._finish)
        else:
            self._finish()

    def _finish(self) -> None:
        self.worker = None
        self._end_preview(remove=False)  # stopped or failed: hide (a finished run removed it)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.run_finished.emit()


def _format_seconds(seconds: float) -> str:
    """``"4 s"``, ``"2 min 05 s"``."""
    s = max(0, round(seconds))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


def set_progress(bar: QProgressBar, maximum: int, value: int) -> None:
    """Set a progress bar's range ``0..maximum`` and value with a deferred repaint.

    ``QProgressBar.setValue`` repaints at once; with a GL canvas in the window every
    immediate repaint composes the whole window. Disabling updates around it turns that
    into one ``update()``, painted with everything else changed in this event-loop turn.
    """
    bar.setUpdatesEnabled(False)
    try:
        bar.setRange(0, maximum)
        bar.setValue(value)
    finally:
        bar.setUpdatesEnabled(True)
