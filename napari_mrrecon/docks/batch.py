"""The "Batch" dock: one recipe over many raw files on a Dask cluster, a table that fills as files finish.

One engine call per run, :func:`recon_engine.batch.run_batch_steps` (a local
``dask.distributed`` cluster of worker processes, or a scheduler address), run through the
plugin's one background :class:`~napari_mrrecon._qt.runner.Runner`. Every
:class:`~recon_engine.batch.BatchEvent` that carries a finished file adds a row to the table
(status, seconds, output, error); double-clicking a row opens its output in the viewer.

The recipe is a YAML file (``mrrecon run`` / "Save recipe…" of MR Reconstruction) or the
current settings of an open MR Reconstruction dock (found through the viewer's public
``window.dock_widgets``; docks do not import each other).

Stop: the worker stops the engine generator itself (``close()`` in the worker thread), so its
``finally`` cancels the files not yet done, closes the Dask client and the local cluster, and
writes ``batch_report.json`` of what finished; the table then marks the rest.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_mrrecon._qt.run_dock import set_progress
from napari_mrrecon._qt.runner import Job, Runner

if TYPE_CHECKING:
    import napari.viewer

    from recon_engine.batch import BatchEvent, BatchReport, FileResult
    from recon_engine.recipe import Recipe

__all__ = [
    "COLUMNS",
    "CURRENT_SETTINGS",
    "RECIPE_FILE",
    "RECON_DOCK",
    "BatchWidget",
]

#: Table columns.
COLUMNS: tuple[str, ...] = ("Input", "Status", "Seconds", "Output", "Error")
#: Recipe sources.
RECIPE_FILE = "Recipe file"
CURRENT_SETTINGS = "Current MR Reconstruction settings"
#: Name of the MR Reconstruction dock in ``viewer.window.dock_widgets``.
RECON_DOCK = "MR Reconstruction (napari-mrrecon)"
_FORMATS = ("h5", "npy", "nii", "nii.gz")  # recon_engine.batch.OUTPUT_FORMATS (not imported at module load)
_DEVICES = ("recipe's", "cpu", "auto", "cuda")


class _RecipeSource(Protocol):
    def recipe(self) -> Recipe | None: ...


class BatchWidget(QWidget):
    """Dock "Batch": a recipe, inputs, output folder and workers; Run/Stop and a results table.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    results
        The :class:`~recon_engine.batch.FileResult` of every row, in table order.
    report
        The :class:`~recon_engine.batch.BatchReport` of the last batch that ran to its end.
    stopped_report
        ``batch_report.json`` (as a dict) of the last stopped batch, else None.
    last_error
        Message of the last failed run, or None.
    run_finished
        Qt signal emitted when a run ended (done, stopped or failed).
    """

    run_finished = Signal()

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.runner = Runner(self)
        self.results: list[FileResult] = []
        self.report: BatchReport | None = None
        self.stopped_report: dict[str, Any] | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._inputs: list[str] = []

        form = QFormLayout()
        self.recipe_source = QComboBox()
        self.recipe_source.addItems([RECIPE_FILE, CURRENT_SETTINGS])
        self.recipe_source.setToolTip(
            "A recipe YAML (MR Reconstruction ▸ Save recipe…), or the open MR Reconstruction dock's settings"
        )
        form.addRow("Recipe", self.recipe_source)
        self.recipe_path = QLineEdit()
        self.recipe_path.setPlaceholderText("recipe.yaml")
        browse_recipe = QPushButton("…")
        browse_recipe.setToolTip("Choose a recipe YAML")
        browse_recipe.clicked.connect(self._choose_recipe)
        form.addRow("Recipe file", _row(self.recipe_path, browse_recipe))
        self.recipe_source.currentTextChanged.connect(
            lambda text: self.recipe_path.setEnabled(text == RECIPE_FILE)
        )

        self.input_list = QListWidget()
        self.input_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.input_list.setToolTip("Raw files (ISMRMRD, twix), folders and glob patterns")
        add_files = QPushButton("Add files…")
        add_files.clicked.connect(self._choose_files)
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self._choose_folder)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected_inputs)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear_inputs)
        form.addRow("Inputs", self.input_list)
        form.addRow("", _row(add_files, add_folder, remove, clear))

        self.output_dir = QLineEdit()
        self.output_dir.setPlaceholderText("output folder")
        browse_out = QPushButton("…")
        browse_out.clicked.connect(self._choose_output)
        form.addRow("Output folder", _row(self.output_dir, browse_out))
        self.output_format = QComboBox()
        self.output_format.addItems(_FORMATS)
        self.output_format.setToolTip("h5: ISMRMRD images (opened by this plugin); npy, nii, nii.gz")
        form.addRow("Format", self.output_format)

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.workers = QSpinBox()
        self.workers.setRange(1, max(64, cores))
        self.workers.setValue(max(1, cores))
        self.workers.setToolTip("Worker processes of the local Dask cluster (one file at a time each)")
        self.threads = QSpinBox()
        self.threads.setRange(1, max(64, cores))
        self.threads.setValue(1)
        self.threads.setToolTip("torch / OpenMP threads inside each worker")
        form.addRow("Workers", _row(self.workers, QLabel("threads each"), self.threads))
        self.scheduler = QLineEdit()
        self.scheduler.setPlaceholderText("local cluster (or tcp://host:8786)")
        self.scheduler.setToolTip("Address of a running Dask scheduler; empty starts a local cluster")
        form.addRow("Scheduler", self.scheduler)
        self.device = QComboBox()
        self.device.addItems(_DEVICES)
        form.addRow("Device", self.device)
        self.resume = QCheckBox("Skip files whose output is up to date (same recipe)")
        form.addRow("Resume", self.resume)

        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Cancel the files not yet done; finished outputs stay")
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Choose a recipe, inputs and an output folder, then Run.")
        self.status.setWordWrap(True)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Double-click a row to open its result")
        self.table.cellDoubleClicked.connect(self.open_row)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_row(self.run_button, self.stop_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

    # ---- inputs -----------------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        """Files, folders and glob patterns of the batch, in order."""
        return list(self._inputs)

    def add_inputs(self, paths: list[str | os.PathLike[str]]) -> None:
        """Append files, folders or glob patterns (duplicates ignored)."""
        for p in paths:
            s = os.fspath(p)
            if s and s not in self._inputs:
                self._inputs.append(s)
                self.input_list.addItem(s)

    def remove_selected_inputs(self) -> None:
        """Remove the selected entries of the input list."""
        for item in self.input_list.selectedItems():
            self._inputs.remove(item.text())
            self.input_list.takeItem(self.input_list.row(item))

    def clear_inputs(self) -> None:
        """Empty the input list."""
        self._inputs.clear()
        self.input_list.clear()

    def _choose_recipe(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Recipe", "", "Reconstruction recipe (*.yaml *.yml)")
        if path:
            self.recipe_path.setText(path)
            self.recipe_source.setCurrentText(RECIPE_FILE)

    def _choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Raw files", "", "Raw data (*.h5 *.mrd *.dat);;All files (*)"
        )
        self.add_inputs(list(paths))

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of raw files")
        if path:
            self.add_inputs([path])

    def _choose_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.output_dir.setText(path)

    # ---- running ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a batch runs."""
        return self.runner.busy

    def recipe(self) -> Recipe | str:
        """The recipe to run: a YAML path, or the MR Reconstruction dock's current settings.

        Raises
        ------
        ValueError
            No recipe file given, or no MR Reconstruction dock (or it has no runnable settings).
        """
        if self.recipe_source.currentText() == RECIPE_FILE:
            text = self.recipe_path.text().strip()
            if not text:
                raise ValueError("Choose a recipe file (MR Reconstruction ▸ Save recipe… writes one).")
            return text
        dock: _RecipeSource | None = self.viewer.window.dock_widgets.get(RECON_DOCK)
        if dock is None or not callable(getattr(dock, "recipe", None)):
            raise ValueError("Open the MR Reconstruction dock and set it up, or choose a recipe file.")
        recipe = dock.recipe()  # notifies itself when its settings cannot make a recipe
        if recipe is None:
            raise ValueError("The MR Reconstruction settings do not make a recipe (see the message).")
        return recipe

    def gather(self) -> dict[str, Any]:
        """The keyword arguments of :func:`recon_engine.batch.run_batch_steps` from the form.

        Raises
        ------
        ValueError
            Missing recipe, inputs or output folder.
        """
        recipe = self.recipe()
        if not self._inputs:
            raise ValueError("Add raw files or a folder to the batch first.")
        out = self.output_dir.text().strip()
        if not out:
            raise ValueError("Choose an output folder.")
        device = self.device.currentText()
        return {
            "recipe": recipe,
            "inputs": list(self._inputs),
            "output_dir": out,
            "scheduler": self.scheduler.text().strip() or None,
            "workers": self.workers.value(),
            "threads_per_worker": self.threads.value(),
            "device": None if device == _DEVICES[0] else device,
            "resume": self.resume.isChecked(),
            "output_format": self.output_format.currentText(),
        }

    def run(self) -> bool:
        """Start the batch in the background; False (with a notification) when it cannot start."""
        from napari.utils.notifications import show_error

        if self.running:
            return False
        try:
            options = self.gather()
        except ValueError as exc:
            show_error(str(exc))
            self.status.setText(f"Not started: {exc}")
            return False
        self._stop = threading.Event()
        self.results.clear()
        self.report = None
        self.stopped_report = None
        self.last_error = None
        self.table.setRowCount(0)
        stop = self._stop

        def steps() -> Generator[Any, None, Any]:
            return _batch_steps(options, stop)

        self.runner.submit(
            Job(
                steps,
                on_yielded=self._on_event,
                on_returned=self._on_returned,
                on_failed=self._on_failed,
                on_errored=self._on_errored,
                on_aborted=self._on_aborted,
                on_finished=self._on_finished,
                label="batch",
                context="Batch",
            )
        )
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        set_progress(self.progress, 1, 0)
        self.status.setText("Starting the Dask cluster …" if options["scheduler"] is None else "Connecting …")
        return True

    def stop(self) -> None:
        """Stop the batch: files not yet done are cancelled, the cluster is closed (in the worker)."""
        if self.running:
            self._stop.set()
            self.status.setText("Stopping (cancelling files, closing the cluster) …")

    def closeEvent(self, event: Any) -> None:
        """Stop a running batch when the dock is closed."""
        self.stop()
        super().closeEvent(event)

    def _on_event(self, event: BatchEvent | None) -> None:
        if event is None:
            return
        result = getattr(event, "result", None)
        if result is not None:
            self._add_row(result)
        set_progress(self.progress, max(event.total, 1), min(event.iteration, max(event.total, 1)))
        m = event.metrics
        text = (
            f"{event.iteration}/{event.total} finished: {m.get('done', 0):.0f} ok, "
            f"{m.get('failed', 0):.0f} failed, {m.get('skipped', 0):.0f} skipped, "
            f"{m.get('running', 0):.0f} running"
        )
        eta = m.get("eta_s", -1.0)
        self.status.setText(text + (f" · ETA {eta:.0f} s" if eta > 0 else ""))

    def _add_row(self, result: FileResult) -> None:
        self.results.append(result)
        row = self.table.rowCount()
        self.table.insertRow(row)
        values = (
            Path(result.input).name,
            result.status,
            f"{result.seconds:.2f}",
            "" if result.output is None else result.output,
            result.error or "",
        )
        for col, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(result.input if col == 0 else value)
            self.table.setItem(row, col, item)

    def _on_returned(self, value: Any) -> None:
        from napari.utils.notifications import show_info

        if isinstance(value, _Stopped):
            self.stopped_report = value.report
            shown = {r.input for r in self.results}
            if value.report is not None:
                from recon_engine.batch import FileResult

                for f in value.report.get("files", []):
                    if f["input"] not in shown:
                        status = "stopped" if f.get("error") == "not run" else f["status"]
                        self._add_row(FileResult(f["input"], status, 0.0, f.get("output"), f.get("error")))
            self.status.setText(f"Stopped: {sum(r.status == 'ok' for r in self.results)} file(s) done.")
            return
        report: BatchReport = value
        self.report = report
        shown = {r.input for r in self.results}
        for f in report.files:
            if f.input not in shown:
                self._add_row(f)
        set_progress(self.progress, max(len(report.files), 1), max(len(report.files), 1))
        text = (
            f"Done in {report.seconds:.1f} s: {report.count('ok')} ok, {report.count('failed')} failed, "
            f"{report.count('skipped')} skipped → {report.output_dir}"
        )
        self.status.setText(text)
        show_info(f"Batch: {text}")

    def _on_failed(self, message: str) -> None:
        self.last_error = message
        self.status.setText(f"Failed: {message}")

    def _on_errored(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Failed: {self.last_error}")

    def _on_aborted(self) -> None:
        self.status.setText("Stopped.")

    def _on_finished(self) -> None:
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.run_finished.emit()

    # ---- results ----------------------------------------------------------------------------
    def open_row(self, row: int, column: int = 0) -> bool:
        """Open the output of table row ``row`` in the viewer; False when it has none."""
        from napari.utils.notifications import show_error

        if not 0 <= row < len(self.results):
            return False
        result = self.results[row]
        if result.output is None or not Path(result.output).exists():
            show_error(f"{Path(result.input).name}: no output to open ({result.error or result.status}).")
            return False
        plugin = "napari-mrrecon" if result.output.endswith((".h5", ".mrd")) else None
        self.viewer.open(result.output, plugin=plugin)
        return True


class _Stopped:
    """What the worker returns after a Stop: the report written so far (or None)."""

    def __init__(self, report: dict[str, Any] | None) -> None:
        self.report = report


def _batch_steps(options: dict[str, Any], stop: threading.Event) -> Generator[Any, None, Any]:
    """The engine's batch generator, closed in this (worker) thread when ``stop`` is set.

    Closing runs the engine's ``finally``: pending files cancelled, Dask client and local
    cluster closed, ``batch_report.json`` written. Returns the report, or :class:`_Stopped`.
    """
    from recon_engine.batch import REPORT_NAME, run_batch_steps

    opts = dict(options)
    gen = run_batch_steps(opts.pop("recipe"), opts.pop("inputs"), opts.pop("output_dir"), **opts)
    try:
        while not stop.is_set():
            try:
                item = next(gen)
            except StopIteration as end:
                return end.value
            yield item
    finally:
        gen.close()
    report_path = Path(options["output_dir"]).expanduser().absolute() / REPORT_NAME
    try:
        return _Stopped(json.loads(report_path.read_text()))
    except (OSError, ValueError):
        return _Stopped(None)


def _row(*widgets: QWidget) -> QWidget:
    """The widgets side by side in one borderless row widget."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        row.addWidget(w)
    return box
