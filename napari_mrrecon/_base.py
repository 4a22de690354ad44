"""Shared dock parts: the dataset choice, and a base widget with Run/Stop and progress.

A dock derived from :class:`EngineRunWidget` fills in :meth:`~EngineRunWidget.make_steps`
(the ONE engine call, a generator of :class:`~recon_engine.progress.ProgressEvent`) and
:meth:`~EngineRunWidget.show_result`. The base runs the generator in a napari
``thread_worker``, shows progress and previews from ``yielded`` (main thread; one preview
layer, reused), stops with ``worker.quit()``, and keeps the dock usable after errors.

Errors: a :class:`~recon_engine.errors.ReconError` (bad input) is caught inside the worker
and returned as a failure, which the main thread shows with ``show_error``, the engine's
message for a physicist and nothing else. Anything else is a bug: it reaches
``worker.errored``, where napari's worker already shows a notification with the traceback
(so catching engine errors there too would show each one twice).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_mrrecon._model import RawDataset, entry_of, find_layer, layers_with, raw_of

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer
    from napari.qt.threading import GeneratorWorker

    from recon_engine.progress import ProgressEvent

__all__ = ["PREVIEW_LAYER", "DatasetChoice", "EngineRunWidget"]

logger = logging.getLogger(__name__)

#: Name of the single layer that shows live previews of a running computation.
PREVIEW_LAYER = "mrrecon preview"


@dataclass(frozen=True)
class _Failure:
    """What the worker returns when the engine rejected the input (a ReconError)."""

    message: str


class DatasetChoice(QComboBox):
    """Combo box of the viewer's loaded raw datasets (k-space layers of the plugin).

    Follows the layer list: new datasets are added (and selected), removed or renamed
    layers update the list.

    Parameters
    ----------
    viewer
        The napari viewer.
    parent
        Parent widget.
    kinds
        Model entry types listed (default: raw datasets only; the Trajectory dock also
        lists :class:`~napari_mrrecon._model.SequenceDataset`).
    tooltip
        Tooltip of the combo box.
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        parent: QWidget | None = None,
        *,
        kinds: tuple[type, ...] = (RawDataset,),
        tooltip: str = "Raw dataset (a k-space layer opened from an ISMRMRD or twix file)",
    ) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._kinds = kinds
        self.setToolTip(tooltip)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self.refresh)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _on_inserted(self, event: Any) -> None:
        layer = event.value
        layer.events.name.connect(self.refresh)
        self.refresh()
        if isinstance(entry_of(layer), self._kinds):
            self.setCurrentText(layer.name)

    def refresh(self, event: Any = None) -> None:
        """Rebuild the list from the viewer's layers, keeping the selection if possible."""
        current = self.currentText()
        names = [layer.name for layer in layers_with(self._viewer, self._kinds)]
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        self.blockSignals(False)
        if current in names:
            self.setCurrentText(current)
        elif names:
            self.setCurrentIndex(len(names) - 1)
        self.currentIndexChanged.emit(self.currentIndex())

    def layer(self) -> napari.layers.Layer | None:
        """The chosen k-space layer, or None."""
        return find_layer(self._viewer.layers, self.currentText()) if self.currentText() else None

    def dataset(self) -> RawDataset | None:
        """The chosen raw dataset, or None."""
        return raw_of(self.layer())

    def entry(self) -> object:
        """The chosen layer's model entry (any of ``kinds``), or None."""
        return entry_of(self.layer())


class EngineRunWidget(QWidget):
    """Base dock: dataset choice, a form, Run/Stop and progress around one engine generator.

    Subclasses add their controls to :attr:`form` and implement :meth:`make_steps` and
    :meth:`show_result`.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    run_finished
        Qt signal emitted after every run (done, stopped or failed).
    last_error
        Message of the last failed run, or None.
    last_duration_s
        Wall time of the last run that finished, in seconds.
    """

    run_finished = Signal()

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: GeneratorWorker | None = None
        self.last_error: str | None = None
        self.last_duration_s: float | None = None
        self._started = 0.0

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
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel(
            "Open raw data (ISMRMRD .h5, twix .dat: File ▸ Open) or a sample (File ▸ Open Sample)."
        )
        self.status.setWordWrap(True)

        self.main_layout = QVBoxLayout(self)
        self.main_layout.addLayout(self.form)
        self.main_layout.addLayout(buttons)
        self.main_layout.addWidget(self.progress)
        self.main_layout.addWidget(self.status)

    # ---- hooks ---------------------------------------------------------------------------
    def make_steps(self, dataset: RawDataset, **options: Any) -> Generator[ProgressEvent, None, Any]:
        """The engine call: a generator of progress events that returns the result.

        Runs in the worker thread, so it must not touch layers or widgets; ``options``
        are the values :meth:`gather` read from the form beforehand.
        """
        raise NotImplementedError

    def gather(self) -> dict[str, Any]:
        """Read the form's values (main thread) for :meth:`make_steps`."""
        return {}

    def show_result(self, result: Any, dataset_layer: napari.layers.Layer) -> None:
        """Show the value returned by the generator (main thread)."""
        raise NotImplementedError

    # ---- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a worker is running."""
        return self.worker is not None

    def run(self) -> GeneratorWorker | None:
        """Start the computation on the chosen dataset in a ``thread_worker``.

        Returns
        -------
        GeneratorWorker or None
            The started worker, or None (with a notification) when there is nothing to run.
        """
        from napari.qt.threading import thread_worker
        from napari.utils.notifications import show_error

        if self.worker is not None:
            return self.worker
        layer = self.dataset_choice.layer()
        dataset = raw_of(layer)
        if layer is None or dataset is None:
            show_error("No raw dataset chosen: open an ISMRMRD or twix file or a sample first.")
            return None
        options = self.gather()

        @thread_worker(start_thread=False, connect={"errored": self._on_errored})
        def work() -> Generator[ProgressEvent, None, Any]:
            from recon_engine.errors import ReconError

            try:
                return (yield from self.make_steps(dataset, **options))
            except ReconError as exc:  # bad input: a message for the user, not a traceback
                return _Failure(str(exc))

        worker = work()
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(lambda result: self._on_returned(result, layer))
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.last_error = None
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first event gives the total
        self.status.setText(f"Running on {layer.name} …")
        self._started = time.perf_counter()
        worker.start()
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

    def _on_yielded(self, event: ProgressEvent) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(min(event.iteration, max(event.total, 1)))
        metrics = "  ".join(f"{k} {v:.3g}" for k, v in event.metrics.items())
        self.status.setText(f"{event.stage} ({event.iteration}/{event.total}) {metrics}".rstrip())
        if event.preview is not None and event.iteration < event.total:
            # the last event's preview is followed at once by the result: skip the layer churn
            self._show_preview(event.preview)

    def _show_preview(self, preview: Any) -> None:
        layer = find_layer(self.viewer.layers, PREVIEW_LAYER)
        if layer is None:
            self.viewer.add_image(preview, name=PREVIEW_LAYER, colormap="gray")
        else:
            layer.data = preview
            layer.reset_contrast_limits()

    def _remove_preview(self) -> None:
        layer = find_layer(self.viewer.layers, PREVIEW_LAYER)
        if layer is not None:
            self.viewer.layers.remove(layer)

    def _on_returned(self, result: Any, layer: napari.layers.Layer) -> None:
        from napari.utils.notifications import show_error

        self._remove_preview()
        if isinstance(result, _Failure):
            self.last_error = result.message
            self.status.setText(f"Failed: {result.message}")
            show_error(f"{layer.name}: {result.message}")
            return
        self.last_duration_s = time.perf_counter() - self._started
        self.show_result(result, layer)
        self.status.setText(f"Done in {self.last_duration_s:.2f} s.")

    def _on_errored(self, exc: BaseException) -> None:
        # Not an engine error but a bug: napari's worker already shows it as a
        # notification (with the traceback); record it and keep the dock usable.
        logger.error("napari-mrrecon worker failed", exc_info=exc)
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Failed: {self.last_error}")

    def _on_aborted(self) -> None:
        self.status.setText("Stopped.")

    def _on_finished(self) -> None:
        self.worker = None
        self._remove_preview()
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.run_finished.emit()
