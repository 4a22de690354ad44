"""The "Training" dock: train the denoiser of ``pnp`` or the MoDL network of ``modl``.

The training data are the image layers open in the viewer (tick which; every 2D plane of a
stack is one image; a reconstruction layer gives its complex image) or a folder of files
(``.npy``, NIfTI, DICOM, ISMRMRD images). One engine call,
:func:`recon_engine.learned.train_steps`, runs in a worker through the plugin's
:class:`~napari_mrrecon._qt.runner.Runner`; the dock only gathers its inputs and shows its
events:

- the model's options form is generated from the engine's training function (epochs, steps
  per epoch, batch size, patch size, network size, learning rate, seed, …);
- a live plot of the loss of every optimiser step and of the validation NRMSE after every
  epoch (:class:`~napari_mrrecon.docks.training.plot.LossPlot`), a progress bar and a status
  line with the latest values;
- after every epoch the validation reconstruction (the first validation image, magnitude)
  in the layer :data:`TRAINING_PREVIEW`;
- the engine writes the weights file after every epoch; "Stop" closes the engine generator,
  which writes the weights trained so far (with the optimiser and random state, so "resume"
  continues exactly) before the dock hears of the stop.

At the end (or after Stop) the dock shows the weights file; the MR Reconstruction dock's
weights chooser lists it (the engine's :func:`recon_engine.learned.trained_weights`) for the
method it fits (denoiser → ``pnp``, MoDL → ``modl``).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_mrrecon._qt.forms import form_values, options_form, set_form_values
from napari_mrrecon._qt.method_panel import DEVICES
from napari_mrrecon._qt.run_dock import set_progress
from napari_mrrecon._qt.runner import Job, PreviewWithLimits, Runner, with_limits
from napari_mrrecon.layers.preview import PREVIEW_LAYER, preview_limits, show_preview
from napari_mrrecon.model.entries import RawDataset, SequenceDataset, entry_of, result_of

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer
    from magicgui.widgets import Container
    from napari.qt.threading import GeneratorWorker

    from recon_engine.learned import TrainResult
    from recon_engine.progress import ProgressEvent

__all__ = [
    "FOLDER",
    "REDRAW_INTERVAL_MS",
    "SUPPLIED",
    "TRAINING_PREVIEW",
    "VIEWER_IMAGES",
    "ImageList",
    "TrainingWidget",
    "default_output",
    "layer_image",
]

#: Layer that shows the validation reconstruction after each epoch.
TRAINING_PREVIEW = "training validation"
#: "Train on" choices.
VIEWER_IMAGES = "images in the viewer"
FOLDER = "folder"
#: Options of the training functions that the dock fills in itself.
SUPPLIED: tuple[str, ...] = ("data", "device", "output", "resume", "init_denoiser")
#: Shortest time between two redraws of the plot, progress and status (ms).
REDRAW_INTERVAL_MS = 200
#: Which reconstruction method a trained model is for.
_METHOD_OF = {"denoiser": "pnp", "modl": "modl"}


def default_output(model: str) -> Path:
    """Where a model's weights go unless the user says otherwise: ``~/mrrecon_weights/<model>.pt``."""
    return Path.home() / "mrrecon_weights" / f"{model}.pt"


def _trainable(layer: napari.layers.Layer) -> bool:
    """Image layers that hold images (not k-space, not a sequence, not a preview, not RGB)."""
    from napari.layers import Image

    return (
        isinstance(layer, Image)
        and layer.name not in (TRAINING_PREVIEW, PREVIEW_LAYER)
        and not getattr(layer, "rgb", False)
        and not isinstance(entry_of(layer), (RawDataset, SequenceDataset))
    )


def layer_image(layer: napari.layers.Layer) -> np.ndarray:
    """The image a layer holds for training: a reconstruction's complex image, else the layer data.

    Multiscale layers give their full-resolution level.
    """
    result = result_of(layer)
    if result is not None:
        return result.image.numpy()
    data = layer.data
    if getattr(layer, "multiscale", False):
        data = data[0]
    return np.asarray(data)


class ImageList(QListWidget):
    """The viewer's trainable image layers with a check box each (new layers come checked).

    Follows the layer list (added, removed, renamed layers); keeps the check states by name.
    """

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._unchecked: set[str] = set()
        self.setToolTip("Image layers to train on (every 2D plane of a stack is one image)")
        self.setMaximumHeight(110)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self.refresh)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.itemChanged.connect(self._on_item_changed)
        self.destroyed.connect(partial(_unfollow, viewer, self._on_inserted, self.refresh))
        self.refresh()

    def _on_inserted(self, event: Any) -> None:
        event.value.events.name.connect(self.refresh)
        self.refresh()

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if item.checkState() == Qt.CheckState.Checked:
            self._unchecked.discard(item.text())
        else:
            self._unchecked.add(item.text())

    def refresh(self, event: Any = None) -> None:
        """Rebuild the list from the viewer's layers."""
        self.blockSignals(True)
        try:
            self.clear()
            for layer in self._viewer.layers:
                if _trainable(layer):
                    item = QListWidgetItem(layer.name, self)
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    unchecked = layer.name in self._unchecked
                    item.setCheckState(Qt.CheckState.Unchecked if unchecked else Qt.CheckState.Checked)
        finally:
            self.blockSignals(False)

    def names(self) -> list[str]:
        """Names of the layers listed."""
        return [self.item(i).text() for i in range(self.count())]  # type: ignore[union-attr]

    def set_checked(self, name: str, checked: bool) -> None:
        """Tick or untick the layer ``name``."""
        for i in range(self.count()):
            item = self.item(i)
            if item is not None and item.text() == name:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def checked(self) -> list[napari.layers.Layer]:
        """The ticked layers, in the viewer's order."""
        names = {
            item.text()
            for i in range(self.count())
            if (item := self.item(i)) is not None and item.checkState() == Qt.CheckState.Checked
        }
        return [layer for layer in self._viewer.layers if layer.name in names]


def _unfollow(viewer: napari.viewer.Viewer, on_inserted: Any, refresh: Any, *_: Any) -> None:
    viewer.layers.events.inserted.disconnect(on_inserted)
    viewer.layers.events.removed.disconnect(refresh)
    for layer in viewer.layers:
        layer.events.name.disconnect(refresh)


class TrainingWidget(QWidget):
    """Dock "Training": model, its options, training images or folder, output file; Run/Stop.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    model
        Which network to train (``"denoiser"`` for pnp, ``"modl"``).
    options
        The model's training options (generated from the engine's training function).
    source, images, folder
        "Train on" (viewer images or a folder), the image layers to use, the folder.
    output, resume, device
        The weights file written, "continue from it", the compute device.
    plot
        Loss per step and validation NRMSE per epoch of the current run.
    runner, worker
        The background runner and the current run's worker (None when idle).
    history
        The validation records (one dict per epoch) of the current run.
    output_path
        The weights file of the last run (finished or stopped), or None.
    last_error
        Message of the last failed run, or None.
    run_started, run_finished
        Qt signals: a run started; the current run ended (done, stopped or failed).
    """

    run_started = Signal(int)
    run_finished = Signal()

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        from napari_mrrecon.docks.training.plot import LossPlot
        from recon_engine.learned import TRAINABLE

        self.viewer = napari_viewer
        self.runner = Runner(self)
        self.worker: GeneratorWorker | None = None
        self.history: list[dict[str, float]] = []
        self.output_path: Path | None = None
        self.last_error: str | None = None
        self.result: TrainResult | None = None
        self._trainers = TRAINABLE
        self._last_preview: tuple[np.ndarray, tuple[float, float]] | None = None
        self._pending: ProgressEvent | None = None
        self._started = 0.0

        self.model = QComboBox()
        self.model.addItems(list(TRAINABLE))
        self.model.setToolTip("denoiser: the prior of pnp; modl: the unrolled network of modl")
        self.options: Container = options_form(TRAINABLE[self.model.currentText()], skip=SUPPLIED)
        self.source = QComboBox()
        self.source.addItems([VIEWER_IMAGES, FOLDER])
        self.source.setToolTip("Train on the ticked image layers, or on the image files of a folder")
        self.images = ImageList(napari_viewer, self)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of .npy, NIfTI, DICOM or ISMRMRD image files")
        folder_button = QPushButton("…")
        folder_button.setToolTip("Choose the folder")
        folder_button.clicked.connect(self._folder_dialog)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(folder_button)
        self._folder_widget = QWidget()
        self._folder_widget.setLayout(folder_row)
        folder_row.setContentsMargins(0, 0, 0, 0)
        self.output = QLineEdit(str(default_output(self.model.currentText())))
        self.output.setToolTip("Weights file (.pt), written after every epoch and when stopped")
        output_button = QPushButton("…")
        output_button.clicked.connect(self._output_dialog)
        output_row = QHBoxLayout()
        output_row.setContentsMargins(0, 0, 0, 0)
        output_row.addWidget(self.output, 1)
        output_row.addWidget(output_button)
        self.resume = QCheckBox("continue from the output file")
        self.resume.setToolTip("Resume a stopped or finished run from its checkpoint (same options)")
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText("cpu")
        self.device.setToolTip("cpu: deterministic for a seed; auto/cuda: a GPU when there is one")

        self.form = QFormLayout()
        self.form.addRow("Model", self.model)
        self.form.addRow(self.options.native)
        self.form.addRow("Train on", self.source)
        self.form.addRow(self.images)
        self.form.addRow(self._folder_widget)
        self.form.addRow("Output", output_row)
        self.form.addRow(self.resume)
        self.form.addRow("Device", self.device)

        self.run_button = QPushButton("Train")
        self.run_button.setToolTip("Start training in the background")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step; the weights trained so far are kept")
        self.stop_button.setEnabled(False)
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Open images (or choose a folder), set the options, then Train.")
        self.status.setWordWrap(True)
        self.plot = LossPlot(self, viewer=napari_viewer)
        self.plot.setToolTip("Training loss per step (left) and validation NRMSE per epoch (right)")
        self.weights_label = QLabel("")
        self.weights_label.setWordWrap(True)
        self.weights_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot)
        layout.addWidget(self.weights_label)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)
        self.model.currentTextChanged.connect(self._on_model_changed)
        self.source.currentTextChanged.connect(self._on_source_changed)
        self._on_source_changed(self.source.currentText())

    # ---- form ----------------------------------------------------------------------------
    def _on_model_changed(self, model: str) -> None:
        new = options_form(self._trainers[model], skip=SUPPLIED)
        self.form.replaceWidget(self.options.native, new.native)
        self.options.native.deleteLater()
        self.options = new
        for name in self._trainers:  # the default file follows the model unless the user chose one
            if self.output.text() == str(default_output(name)):
                self.output.setText(str(default_output(model)))

    def _on_source_changed(self, source: str) -> None:
        self.images.setVisible(source == VIEWER_IMAGES)
        self._folder_widget.setVisible(source == FOLDER)

    def set_options(self, values: dict[str, Any]) -> list[str]:
        """Set the model's options form; returns the names it has no field for."""
        return set_form_values(self.options, dict(values))

    def gather(self) -> dict[str, Any]:
        """The engine call's keyword options (main thread): model, data, options, output, device.

        Raises
        ------
        ValueError
            No images ticked, no folder, no output file, or an invalid option value.
        """
        options = form_values(self.options)
        if self.source.currentText() == FOLDER:
            folder = self.folder.text().strip()
            if not folder:
                raise ValueError("No training folder chosen")
            data: Any = folder
        else:
            layers = self.images.checked()
            if not layers:
                raise ValueError("No training images: open image layers and tick them (or use a folder)")
            data = [layer_image(layer) for layer in layers]
        output = self.output.text().strip()
        if not output:
            raise ValueError("No output weights file")
        resume = output if self.resume.isChecked() else None
        if resume is not None and not Path(resume).expanduser().is_file():
            raise ValueError(f"Cannot continue: {resume} does not exist yet")
        return {
            "model": self.model.currentText(),
            "data": data,
            "output": str(Path(output).expanduser()),
            "resume": resume,
            "device": self.device.currentText(),
            **options,
        }

    def _folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Training images folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def _output_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Weights file", self.output.text(), "Weights (*.pt)")
        if path:
            self.output.setText(path)

    # ---- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a training run is going on."""
        return self.worker is not None

    @property
    def steps_pending(self) -> int:
        """Main-thread steps still to run after a run (none: the dock shows its result at once)."""
        return 0

    def run(self) -> GeneratorWorker | None:
        """Start training in a worker; None (with a notification) when the inputs are not usable."""
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError

        if self.worker is not None:
            return self.worker
        try:
            options = self.gather()
        except (ValueError, ReconError) as exc:
            show_error(str(exc))
            self.status.setText(f"Not started: {exc}")
            return None
        self.history = []
        self.result = None
        self.last_error = None
        self._last_preview = None
        self.output_path = Path(options["output"])
        total = int(options.get("epochs", 0)) * int(options.get("steps_per_epoch", 0))
        self.plot.clear(total)
        self.weights_label.setText("")
        worker = self.runner.submit(
            Job(
                partial(_train, options),
                on_yielded=self._on_yielded,
                on_returned=self._on_returned,
                on_failed=self._on_failed,
                on_errored=self._on_errored,
                on_aborted=self._on_aborted,
                on_finished=self._on_finished,
                label=f"training {options['model']}",
                context=f"Training {options['model']}",
            )
        )
        assert worker is not None  # the replace policy starts at once
        self.worker = worker
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        set_progress(self.progress, max(total, 1), 0)
        self.status.setText(f"Training {options['model']} …")
        self._started = time.perf_counter()
        self.run_started.emit(self.runner.generation)
        return worker

    def stop(self) -> None:
        """Stop after the current optimiser step; the engine writes the weights trained so far."""
        if self.worker is not None:
            self.status.setText("Stopping …")
            self.runner.cancel()

    def closeEvent(self, event: Any) -> None:
        """Stop a running training when the dock is closed."""
        self.stop()
        super().closeEvent(event)

    def _on_yielded(self, item: Any) -> None:
        limits = None
        if isinstance(item, PreviewWithLimits):
            event, limits = item.event, item.limits
        elif item is None:
            return
        else:
            event = item
        metrics = event.metrics
        if "val_nrmse" in metrics:
            self.history.append(dict(metrics))
            self.plot.add_epoch(event.iteration, metrics["val_nrmse"])
            if event.preview is not None:
                preview = np.asarray(event.preview, dtype=np.float32)
                self._last_preview = (preview, limits or preview_limits(preview))
                show_preview(self.viewer, TRAINING_PREVIEW, *self._last_preview)
        elif "loss" in metrics:
            self.plot.add_step(event.iteration, metrics["loss"], event.total)
        self._pending = event
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        """Progress, status and plot for the latest event (at most every REDRAW_INTERVAL_MS)."""
        event, self._pending = self._pending, None
        if event is not None:
            set_progress(self.progress, max(event.total, 1), min(event.iteration, max(event.total, 1)))
            shown = {k: v for k, v in event.metrics.items() if k in ("loss", "val_nrmse", "val_ssim")}
            values = "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
            self.status.setText(f"{event.stage} ({event.iteration}/{event.total}) {values}".rstrip())
        self.plot.redraw()

    def _on_returned(self, result: TrainResult) -> None:
        self._timer.stop()
        self._flush()
        self.result = result
        set_progress(self.progress, self.progress.maximum(), self.progress.maximum())
        seconds = time.perf_counter() - self._started
        final = result.history[-1] if result.history else {}
        nrmse = f", validation NRMSE {final['val_nrmse']:.4f}" if "val_nrmse" in final else ""
        self.status.setText(f"Done in {seconds:.1f} s{nrmse}.")
        self._show_weights("Weights")

    def _on_failed(self, message: str) -> None:
        # the runner showed the notification
        self.last_error = message
        self.status.setText(f"Failed: {message}")

    def _on_errored(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Failed: {self.last_error}")

    def _on_aborted(self) -> None:
        # the engine generator was closed in the worker: its checkpoint is written already
        self._timer.stop()
        self._flush()
        self.status.setText("Stopped.")
        self._show_weights("Stopped; weights trained so far")

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.run_finished.emit()

    def _show_weights(self, what: str) -> None:
        """Name the weights file (and where it was: epoch and step) below the plot."""
        from recon_engine.errors import ReconError
        from recon_engine.learned import read_weights

        path = self.output_path
        if path is None or not path.is_file():
            self.weights_label.setText(f"{what}: none written (stopped before the first step ended)")
            self.output_path = None
            return
        try:
            meta = read_weights(path)["meta"]
        except ReconError:
            meta = {}
        where = f"epoch {meta.get('epoch', '?')} of {meta.get('epochs', '?')}"
        if meta.get("step"):
            where += f" + {meta['step']} steps"
        method = _METHOD_OF.get(str(meta.get("kind_trained", self.model.currentText())), "pnp")
        self.weights_label.setText(
            f"{what}: {path} ({where}). In MR Reconstruction choose the method {method}: "
            "its weights list offers this file."
        )


def _train(options: dict[str, Any]) -> Generator[Any, None, Any]:
    """The engine call (worker thread): :func:`recon_engine.learned.train_steps` with preview limits."""
    from recon_engine.learned import train_steps

    opts = dict(options)
    model = opts.pop("model")
    return with_limits(train_steps(model, **opts))
