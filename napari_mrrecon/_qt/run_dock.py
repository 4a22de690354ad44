"""The run-dock base: an input layer choice, a form, Run/Stop and progress around one engine call.

A dock derived from :class:`EngineRunWidget` fills in :meth:`~EngineRunWidget.make_steps`
(the ONE engine call, a generator of :class:`~recon_engine.progress.ProgressEvent`) and
:meth:`~EngineRunWidget.show_result`. The base runs the generator through the plugin's one
:class:`~napari_mrrecon._qt.runner.Runner` (thread worker, stale-signal guard, engine errors
as notifications, the caller's torch thread count), shows progress and previews from what
it yields (main thread; one preview layer, reused), stops with ``worker.quit()``, and keeps
the dock usable after errors. A run can be restarted (Live mode); the signals of the
superseded worker (late previews, a late result) are ignored.

Hooks, each optional except the two above:

- the input (the napari-matplotlib ``input_layer_types`` idea): :meth:`make_input_choice`
  gives the layer combo box (default: raw datasets), :meth:`read_input` turns the chosen
  layer into the first argument of :meth:`make_steps`, :attr:`INPUT_LABEL` and
  :attr:`MISSING_INPUT` are its row label and the message when nothing is chosen;
- :meth:`gather` reads the form (main thread), :meth:`before_run` sees a run start,
  :meth:`prepare_result` turns the result into display arrays (worker thread);
- :meth:`show_preview` puts a preview into the preview layer, :meth:`show_partial` shows a
  :class:`~napari_mrrecon._qt.runner.PartialResult`, :meth:`on_progress` / :meth:`on_frame`
  record and draw per-iteration values (e.g. a plot);
- :meth:`keep_preview_layer` hides the preview layer after a run instead of removing it.

Keeping the GUI responsive (no main-thread stall over 50 ms while a run goes on): array work
for display (views, contrast limits) happens in the worker — :meth:`prepare_result` for the
result, the preview's contrast limits in the base — so the main thread only assigns ready
arrays; status, progress, :meth:`on_frame` and the preview are updated together in one
*frame* at most every :attr:`~EngineRunWidget.PREVIEW_INTERVAL_S`, so the window (whose GL
canvas makes every repaint costly) repaints once for all of them; the preview is written into
the reused layer in place (:mod:`napari_mrrecon.layers.preview`); a finished run's preview
layer can be hidden and reused instead of removed (removing a layer makes napari collect
garbage); and work that must happen on the main thread can be cut into steps that run one
per event-loop turn (:meth:`defer`), with :attr:`run_finished` emitted after the last of them.
"""

from __future__ import annotations

import logging
import time
from abc import ABCMeta, abstractmethod
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
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

from napari_mrrecon._qt.layer_choice import DatasetChoice, LayerChoice
from napari_mrrecon._qt.runner import Job, PartialResult, PreviewWithLimits, Runner, WorkerItem, with_limits
from napari_mrrecon.layers.preview import PREVIEW_LAYER, preview_limits, show_preview
from napari_mrrecon.model.entries import find_layer, raw_of

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer
    from napari.qt.threading import GeneratorWorker

    from recon_engine.progress import ProgressEvent

__all__ = ["EngineRunWidget", "set_progress"]

logger = logging.getLogger(__name__)


class _QtABCMeta(type(QWidget), ABCMeta):  # type: ignore[misc]
    """Qt's metaclass and ABCMeta together, so a QWidget base can have abstract methods."""


class EngineRunWidget(QWidget, metaclass=_QtABCMeta):
    """Base dock: an input choice, a form, Run/Stop and progress around one engine generator.

    Subclasses add their controls to :attr:`form` and implement :meth:`make_steps` and
    :meth:`show_result`; the other hooks are listed in the module docstring.

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
    input_choice
        The input layer choice (:meth:`make_input_choice`).
    runner
        The background runner (replace policy: a restart stops the running worker).
    worker
        The current run's worker until the run (and its deferred steps) ended, else None.
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
    #: Form label of the input choice.
    INPUT_LABEL = "Dataset"
    #: Notification when Run finds no input.
    MISSING_INPUT = "No raw dataset chosen: open an ISMRMRD or twix file or a sample first."

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.runner = Runner(self)
        self.worker: GeneratorWorker | None = None
        self.last_error: str | None = None
        self.last_duration_s: float | None = None
        self.previews_shown = 0
        self._started = 0.0
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
        self.input_choice = self.make_input_choice()
        self.form = QFormLayout()
        self.form.addRow(self.INPUT_LABEL, self.input_choice)

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

    @property
    def dataset_choice(self) -> DatasetChoice:
        """The input choice of a dock whose input is a raw dataset (the default)."""
        choice = self.input_choice
        if not isinstance(choice, DatasetChoice):
            raise TypeError(f"{type(self).__name__} does not take a raw dataset")
        return choice

    # ---- hooks ---------------------------------------------------------------------------
    def make_input_choice(self) -> LayerChoice:
        """The combo box of the layers this dock runs on (called once, by the base's constructor).

        The default lists the plugin's raw datasets (k-space layers).
        """
        return DatasetChoice(self.viewer, self)

    def read_input(self, layer: napari.layers.Layer) -> Any:
        """The first argument of :meth:`make_steps` from the chosen layer (main thread).

        The default returns the layer's :class:`~napari_mrrecon.model.entries.RawDataset`.

        Raises
        ------
        ValueError or recon_engine.errors.ReconError
            The layer cannot be this dock's input; the message is shown and nothing runs.
        """
        dataset = raw_of(layer)
        if dataset is None:
            raise ValueError(self.MISSING_INPUT)
        return dataset

    @abstractmethod
    def make_steps(self, data: Any, /, **options: Any) -> Generator[WorkerItem, None, Any]:
        """The engine call: a generator of progress events that returns the result.

        Runs in the worker thread, so it must not touch layers or widgets; ``data`` is what
        :meth:`read_input` returned and ``options`` are the values :meth:`gather` read from
        the form beforehand.
        """

    def gather(self) -> dict[str, Any]:
        """Read the form's values (main thread) for :meth:`make_steps`.

        Raises
        ------
        ValueError
            A value is invalid; the message is shown and nothing runs.
        """
        return {}

    def before_run(self, layer: napari.layers.Layer, options: dict[str, Any]) -> str:
        """A run on ``layer`` with ``options`` starts now (main thread); returns the status text.

        Override to reset what the previous run showed (call the base for the text).
        """
        return f"Running on {layer.name} …"

    def prepare_result(self, result: Any) -> Any:
        """Turn the generator's result into what :meth:`show_result` shows (worker thread).

        Array work for display (float views of complex data, contrast limits, percentiles)
        belongs here, so the main thread only assigns ready arrays. Must not touch layers
        or widgets. The default returns ``result`` unchanged.
        """
        return result

    @abstractmethod
    def show_result(self, result: Any, input_layer: napari.layers.Layer) -> None:
        """Show the value :meth:`prepare_result` returned (main thread).

        Slow layer work (each ``add_image`` builds GL visuals and layer controls) can be
        spread over event-loop turns with :meth:`defer`.
        """

    def show_partial(self, item: PartialResult, input_layer: napari.layers.Layer) -> None:
        """Show a dock item the generator yielded (not a progress event; main thread)."""

    def show_preview(self, preview: np.ndarray, limits: tuple[float, float]) -> None:
        """Put ``preview`` into the preview layer (main thread; ``limits`` made in the worker).

        The default: grey, added once and then written in place. Override for another look
        (e.g. a map's colormap) and call :func:`napari_mrrecon.layers.preview.show_preview`.
        """
        show_preview(self.viewer, PREVIEW_LAYER, preview, limits)

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

    def keep_preview_layer(self) -> bool:
        """True to hide the preview layer after a run instead of removing it (e.g. Live mode)."""
        return False

    # ---- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a worker is running."""
        return self.worker is not None

    @property
    def generation(self) -> int:
        """Number of the current (or last) run; results of older runs are ignored."""
        return self.runner.generation

    def run(self, *, restart: bool = False) -> GeneratorWorker | None:
        """Start the computation on the chosen input layer in a worker.

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

        from recon_engine.errors import ReconError

        if self.worker is not None and not restart:
            return self.worker
        layer = self.input_choice.layer()
        if layer is None:
            show_error(self.MISSING_INPUT)
            return None
        try:
            data = self.read_input(layer)
            options = self.gather()
        except (ValueError, ReconError) as exc:
            show_error(str(exc))
            self.status.setText(f"Not started: {exc}")
            return None
        status = self.before_run(layer, options)
        steps = partial(self._worker_steps, data, options)
        worker = self.runner.submit(
            Job(
                steps,
                on_yielded=partial(self._on_yielded, layer),
                on_returned=partial(self._on_returned, layer),
                on_failed=self._on_failed,
                on_errored=self._on_errored,
                on_aborted=self._on_aborted,
                on_finished=self._on_finished,
                context=layer.name,
            )
        )
        assert worker is not None  # the replace policy starts at once
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
        self.run_started.emit(self.generation)
        return worker

    def _worker_steps(self, data: Any, options: dict[str, Any]) -> Generator[WorkerItem, None, Any]:
        """:meth:`make_steps` with preview limits attached, then :meth:`prepare_result` (worker thread)."""
        return self.prepare_result((yield from with_limits(self.make_steps(data, **options))))

    def stop(self) -> None:
        """Ask the running worker to stop at its next step."""
        if self.worker is not None:
            self.status.setText("Stopping …")
            self.worker.quit()

    def closeEvent(self, event: Any) -> None:
        """Stop a running worker when the dock is closed."""
        self.stop()
        super().closeEvent(event)

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

    def _on_yielded(self, layer: napari.layers.Layer, item: WorkerItem) -> None:
        limits = None
        if isinstance(item, PreviewWithLimits):
            event, limits = item.event, item.limits
        elif isinstance(item, PartialResult):
            self.show_partial(item, layer)
            return
        elif item is None:
            return
        else:
            event = item
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
            data = np.asarray(preview)
            self.show_preview(data, self._preview_limits or preview_limits(data))
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

    def _on_returned(self, layer: napari.layers.Layer, result: Any) -> None:
        self._end_preview(remove=True)
        self.last_duration_s = time.perf_counter() - self._started
        set_progress(self.progress, self.progress.maximum(), self.progress.maximum())
        self.status.setText(f"Done in {self.last_duration_s:.2f} s.")
        self.on_frame()  # the last values (frames are throttled)
        self.show_result(result, layer)

    def _on_failed(self, message: str) -> None:
        # the runner showed the notification
        self._end_preview(remove=True)
        self.last_error = message
        self.status.setText(f"Failed: {message}")

    def _on_errored(self, exc: BaseException) -> None:
        # Not an engine error but a bug: napari's worker already shows it (with the traceback)
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
