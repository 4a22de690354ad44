"""The "Batch" dock: one recipe over many files on a Dask cluster, a table that fills as files finish.

One engine call per run, :func:`recon_engine.batch.run_batch_steps`, run through the
plugin's one background :class:`~napari_mrrecon._qt.runner.Runner`. Every
:class:`~recon_engine.batch.BatchEvent` that carries a finished file adds a row to the
results table (status, seconds, output, one-line error); the progress bar counts files
done, failed and running; double-clicking a row opens its output in the viewer.

**Where it runs.** With the Scheduler field empty the engine starts a
``dask.distributed.LocalCluster`` of *Workers* processes (one file at a time each, *threads*
torch/OpenMP threads inside), so a crash or a memory blow-up in one file kills one worker
process, not napari, and the GUI thread never competes with the reconstructions for the
interpreter. With an address (``tcp://host:8786``) it connects to that scheduler (``dask
scheduler`` + ``dask worker``, dask-jobqueue on SLURM, Kubernetes, ...) and leaves it
running; inputs and output folder must then be visible to the workers under the same paths.

**The recipe.** A YAML file (MR Reconstruction ▸ Save recipe…, ``mrrecon run``, or a fit
recipe of qMRI Fitting ▸ Save recipe… or ``mrrecon fit --save-recipe``: image series or raw
k-space in, qMRI maps out), or the current settings of the MR Reconstruction
dock of this viewer. Docks never import each other and the reconstruction layers do not
record their recipe, so the settings are asked from that dock through the viewer
(``viewer.window.dock_widgets`` and its public ``recipe()``, the same call as its "Save
recipe…").

**Stop.** The Runner closes the engine generator in the worker thread: its ``finally``
cancels the files not yet done, shuts the local cluster down, removes what a killed task
left half-written and writes ``batch_report.json``; the table then marks the rest
"stopped". Outputs are written atomically, so every output file in the folder is complete.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_mrrecon._qt.runner import Job, Runner
from napari_mrrecon.docks.batch.inputs import InputList
from napari_mrrecon.docks.batch.inputs import row as hbox
from napari_mrrecon.docks.batch.results import STOPPED, ResultsTable, open_output

if TYPE_CHECKING:
    import napari.viewer
    from napari.qt.threading import GeneratorWorker

    from recon_engine.batch import BatchEvent, BatchReport
    from recon_engine.qmri.fit_recipe import FitRecipe
    from recon_engine.recipe import Recipe

__all__ = [
    "CURRENT_SETTINGS",
    "DEVICES",
    "FORMATS",
    "RECIPE_FILE",
    "RECON_DOCK",
    "BatchWidget",
    "current_settings",
]

#: Recipe sources.
RECIPE_FILE = "Recipe file"
CURRENT_SETTINGS = "Current MR Reconstruction settings"
#: Name of the MR Reconstruction dock in ``viewer.window.dock_widgets``.
RECON_DOCK = "MR Reconstruction (napari-mrrecon)"
#: Output formats ("auto": h5 for reconstructions, npz for fits); the engine checks the pairing.
FORMATS: tuple[str, ...] = ("auto", "h5", "npy", "nii", "nii.gz", "npz")
#: The engine's error of a file a stopped batch never ran.
NOT_RUN = "not run (batch stopped)"
#: Device choices; the first keeps the recipe's.
DEVICES: tuple[str, ...] = ("recipe's", "cpu", "auto", "cuda")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def current_settings(viewer: napari.viewer.Viewer) -> Recipe:
    """The recipe of the MR Reconstruction dock of ``viewer`` (its current dataset, method, options).

    Raises
    ------
    ValueError
        No MR Reconstruction dock is open, or its settings make no recipe (it says why).
    """
    docks = getattr(viewer.window, "dock_widgets", {})
    make = getattr(docks.get(RECON_DOCK), "recipe", None)
    if not callable(make):
        raise ValueError("Open the MR Reconstruction dock and set it up, or choose a recipe file.")
    recipe = make()  # notifies itself when its settings cannot make a recipe
    if recipe is None:
        raise ValueError("The MR Reconstruction settings do not make a recipe (see its message).")
    return getattr(recipe, "__wrapped__", recipe)  # type: ignore[no-any-return]  # napari's proxy


class BatchWidget(QWidget):
    """Dock "Batch": recipe, inputs, output folder and cluster; Run/Stop, progress and a results table.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    table
        The results table (:attr:`ResultsTable.results` holds each row's result).
    report
        The :class:`~recon_engine.batch.BatchReport` of the last batch that ran to its end.
    stopped_report
        ``batch_report.json`` (dict) of the last stopped batch, else None.
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
        self.worker: GeneratorWorker | None = None
        self.report: BatchReport | None = None
        self.stopped_report: dict[str, Any] | None = None
        self.last_error: str | None = None
        self._output_dir: Path | None = None
        self._started_at = 0.0
        self._counts: dict[str, float] = {}

        form = QFormLayout()
        self.recipe_source = QComboBox()
        self.recipe_source.addItems([RECIPE_FILE, CURRENT_SETTINGS])
        self.recipe_source.setToolTip("A recipe YAML (reconstruction or fit), or MR Reconstruction settings")
        form.addRow("Recipe", self.recipe_source)
        self.recipe_path = QLineEdit()
        self.recipe_path.setPlaceholderText("recipe.yaml")
        browse_recipe = QPushButton("…")
        browse_recipe.clicked.connect(self._choose_recipe)
        form.addRow("Recipe file", hbox(self.recipe_path, browse_recipe))
        self.recipe_source.currentTextChanged.connect(lambda t: self.recipe_path.setEnabled(t == RECIPE_FILE))

        self.input_panel = InputList(self)
        self.input_list = self.input_panel.list
        form.addRow("Inputs", self.input_panel)

        self.output_dir = QLineEdit()
        self.output_dir.setPlaceholderText("output folder")
        browse_out = QPushButton("…")
        browse_out.clicked.connect(self._choose_output)
        form.addRow("Output folder", hbox(self.output_dir, browse_out))
        self.output_format = QComboBox()
        self.output_format.addItems(FORMATS)
        self.output_format.setToolTip("auto: ISMRMRD images (h5) for reconstructions, npz maps for fits")
        form.addRow("Format", self.output_format)

        cores = _cores()
        self.workers = QSpinBox()
        self.workers.setRange(1, max(64, cores))
        self.workers.setValue(cores)
        self.workers.setToolTip("Worker processes of the local Dask cluster (one file at a time each)")
        self.threads = QSpinBox()
        self.threads.setRange(1, max(64, cores))
        self.threads.setValue(1)
        self.threads.setToolTip("torch / OpenMP threads inside each worker")
        form.addRow("Workers", hbox(self.workers, QLabel("threads each"), self.threads))
        self.scheduler = QLineEdit()
        self.scheduler.setPlaceholderText("empty: local cluster; or tcp://host:8786")
        self.scheduler.setToolTip("Address of a running Dask scheduler; empty starts a local cluster")
        form.addRow("Scheduler", self.scheduler)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        form.addRow("Device", self.device)
        self.resume = QCheckBox("Skip files whose output is up to date (same recipe)")
        form.addRow("Resume", self.resume)

        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip(
            "Cancel the files not yet done and shut the cluster down; finished outputs stay"
        )
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("no batch yet")
        self.status = QLabel("Choose a recipe, inputs and an output folder, then Run.")
        self.status.setWordWrap(True)
        self.table = ResultsTable(self)
        self.table.cellDoubleClicked.connect(self.open_row)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hbox(self.run_button, self.stop_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

    # ---- inputs -----------------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        """Files, folders and glob patterns of the batch, in order."""
        return self.input_panel.entries()

    def add_inputs(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Append files, folders or glob patterns (duplicates ignored)."""
        self.input_panel.add(paths)

    def remove_selected_inputs(self) -> None:
        """Remove the selected entries of the input list."""
        self.input_panel.remove_selected()

    def _choose_recipe(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Recipe", "", "Recipe (*.yaml *.yml)")
        if path:
            self.recipe_path.setText(path)
            self.recipe_source.setCurrentText(RECIPE_FILE)

    def _choose_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.output_dir.setText(path)

    # ---- running ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a batch runs."""
        return self.runner.busy

    @property
    def steps_pending(self) -> int:
        """Main-thread steps left of the last run (always 0: rows are added as events arrive)."""
        return 0

    def recipe(self) -> Recipe | FitRecipe | str:
        """The recipe to run: a YAML path, or the MR Reconstruction dock's current settings.

        Raises
        ------
        ValueError
            No recipe file given, or no usable MR Reconstruction settings.
        """
        if self.recipe_source.currentText() == RECIPE_FILE:
            text = self.recipe_path.text().strip()
            if not text:
                raise ValueError("Choose a recipe file (Save recipe… of MR Reconstruction or qMRI Fitting).")
            return text
        return current_settings(self.viewer)

    def gather(self) -> dict[str, Any]:
        """The keyword arguments of :func:`recon_engine.batch.run_batch_steps` from the form.

        Raises
        ------
        ValueError
            Missing recipe, inputs or output folder.
        """
        recipe = self.recipe()
        if not self.inputs:
            raise ValueError("Add files, a folder or a pattern to the batch first.")
        out = self.output_dir.text().strip()
        if not out:
            raise ValueError("Choose an output folder.")
        device, fmt = self.device.currentText(), self.output_format.currentText()
        return {
            "recipe": recipe,
            "inputs": self.inputs,
            "output_dir": out,
            "scheduler": self.scheduler.text().strip() or None,
            "workers": self.workers.value(),
            "threads_per_worker": self.threads.value(),
            "device": None if device == DEVICES[0] else device,
            "resume": self.resume.isChecked(),
            "output_format": None if fmt == FORMATS[0] else fmt,
        }

    def run(self) -> GeneratorWorker | None:
        """Start the batch in the background; None (with a notification) when it cannot start."""
        from napari.utils.notifications import show_error

        if self.running:
            return None
        try:
            options = self.gather()
        except ValueError as exc:
            show_error(str(exc))
            self.status.setText(f"Not started: {exc}")
            return None
        self.report, self.stopped_report, self.last_error = None, None, None
        self._output_dir = Path(options["output_dir"]).expanduser().absolute()
        self._started_at = time.time() - 1.0  # file times may be coarse
        self._counts = {}
        self.table.clear_rows()

        def steps() -> Generator[Any, None, Any]:
            from recon_engine.batch import run_batch_steps

            opts = dict(options)
            return run_batch_steps(opts.pop("recipe"), opts.pop("inputs"), opts.pop("output_dir"), **opts)

        self.worker = self.runner.submit(
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
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("starting …")
        where = "Starting a local Dask cluster" if options["scheduler"] is None else "Connecting"
        self.status.setText(f"{where} …")
        return self.worker

    def stop(self) -> None:
        """Stop the batch: files not yet done are cancelled and the cluster shut down (in the worker)."""
        if self.running:
            self.runner.cancel()
            self.status.setText("Stopping (cancelling files, shutting the cluster down) …")

    def closeEvent(self, event: Any) -> None:
        """Stop a running batch when the dock is closed."""
        self.stop()
        super().closeEvent(event)

    def _show_counts(self, total: int, finished: int) -> None:
        m = self._counts
        total = max(total, 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(finished, total))
        self.progress.setFormat(
            f"%v/%m files · {m.get('done', 0):.0f} ok · {m.get('failed', 0):.0f} failed · "
            f"{m.get('running', 0):.0f} running"
        )

    def _on_event(self, event: BatchEvent | None) -> None:
        if event is None or not hasattr(event, "metrics"):
            return
        result = getattr(event, "result", None)
        if result is not None:
            self.table.add(result)
        self._counts = dict(event.metrics)
        self._show_counts(event.total, event.iteration)
        eta = float(self._counts.get("eta_s", -1.0))
        skipped = int(self._counts.get("skipped", 0))
        self.status.setText(
            f"{event.iteration}/{event.total} finished"
            + (f", {skipped} skipped (up to date)" if skipped else "")
            + (f" · ETA {eta:.0f} s" if eta > 0 else "")
        )

    def _on_returned(self, report: BatchReport) -> None:
        from napari.utils.notifications import show_info

        self.report = report
        shown = self.table.shown()
        for f in report.files:
            if f.input not in shown:
                self.table.add(f)
        n = len(report.files)
        self._counts = {"done": report.count("ok"), "failed": report.count("failed"), "running": 0}
        self._show_counts(n, n)
        text = (
            f"Done in {report.seconds:.1f} s: {report.count('ok')} ok, {report.count('failed')} failed, "
            f"{report.count('skipped')} skipped → {report.output_dir}"
        )
        self.status.setText(text)
        show_info(f"Batch: {text}")

    def _on_aborted(self) -> None:
        """The engine generator was closed in the worker: its report of what finished is on disk."""
        from recon_engine.batch import REPORT_NAME, FileResult

        saved: dict[str, Any] | None = None
        if self._output_dir is not None:
            path = self._output_dir / REPORT_NAME
            try:
                if path.stat().st_mtime >= self._started_at:  # not an earlier batch's report
                    saved = json.loads(path.read_text())
            except (OSError, ValueError):
                saved = None
        self.stopped_report = saved
        shown = self.table.shown()
        for f in (saved or {}).get("files", []):
            if f["input"] not in shown:
                result = FileResult(
                    f["input"], f["status"], f.get("seconds", 0.0), f.get("output"), f.get("error")
                )
                self.table.add(result, STOPPED if f.get("error") == NOT_RUN else None)
        counts = self.table.counts()
        self._counts = {"done": counts.get("ok", 0), "failed": counts.get("failed", 0), "running": 0}
        self._show_counts(len(self.table.results), counts.get("ok", 0) + counts.get("failed", 0))
        self.status.setText(
            f"Stopped: {counts.get('ok', 0)} done, {counts.get(STOPPED, 0)} not run; "
            "the cluster was shut down."
        )

    def _on_failed(self, message: str) -> None:
        self.last_error = message
        self.status.setText(f"Failed: {message}")

    def _on_errored(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Failed: {self.last_error}")

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.run_finished.emit()

    # ---- results ----------------------------------------------------------------------------
    def open_row(self, row: int, column: int = 0) -> list[Any]:
        """Open the output of table row ``row`` in the viewer; the layers added (none: notified why)."""
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError

        if not 0 <= row < len(self.table.results):
            return []
        result = self.table.results[row]
        name = Path(result.input).name
        if result.output is None or not Path(result.output).exists():
            show_error(f"{name}: no output to open ({result.error or result.status}).")
            return []
        try:
            return open_output(self.viewer, result.output)
        except (OSError, ValueError, ReconError) as exc:
            show_error(f"{name}: cannot open {Path(result.output).name}: {' '.join(str(exc).split())}")
            return []
