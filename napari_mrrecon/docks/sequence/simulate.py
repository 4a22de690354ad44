"""The Sequence dock's "Simulate…" panel: a Pulseq sequence simulated on a phantom.

One engine call, :func:`recon_engine.simulate.simulate_seq_steps` (isochromat Bloch
simulation, see docs/simulation.md), on the sequence chosen in the dock, with the phantom
(``brain``, ``shepp-logan`` or a maps file: ``.npz`` of named maps, ``.npy``/NIfTI PD),
the simulation matrix, FOV, coils, noise, off-resonance (B0), isochromats per voxel,
spoiling (the sequence's own or ideal) and device from the form. It runs through the
plugin's :class:`~napari_mrrecon._qt.runner.Runner` (worker thread; Stop closes the engine
generator, so the simulation ends at its next progress event), the progress bar follows its
events and the signal simulated so far is shown in the preview layer. The result is added
as a raw dataset layer built exactly as the ISMRMRD reader builds one
(:func:`napari_mrrecon.io.reader.raw_layer`): MR Reconstruction, the K-space Explorer and
the Metadata dock take it like any opened file. Engine errors (a
sequence without ADC events, no FOV, a missing maps file, ...) become notifications and
leave the panel usable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_mrrecon._qt.run_dock import set_progress
from napari_mrrecon._qt.runner import Job, PreviewWithLimits, Runner, with_limits
from napari_mrrecon.layers.preview import PREVIEW_LAYER, show_preview
from napari_mrrecon.model.entries import SequenceDataset, find_layer

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer
    from napari.qt.threading import GeneratorWorker

    from recon_engine.data import KSpace

__all__ = ["MAPS_FILE", "PHANTOM_CHOICES", "SIMULATED_SUFFIX", "SimulatePanel", "simulation_steps"]

#: Phantom choice that reads the maps from :attr:`SimulatePanel.maps_path`.
MAPS_FILE = "maps file…"
#: The phantom combo box: the engine's built-in phantoms and a maps file.
PHANTOM_CHOICES: tuple[str, ...] = ("brain", "shepp-logan", MAPS_FILE)
#: The simulated dataset is named after the sequence with this suffix.
SIMULATED_SUFFIX = " simulated"


def simulation_steps(seq: Any, options: dict[str, Any]) -> Generator[Any, None, Any]:
    """Worker thread: the engine's simulation (previews with limits), then the raw layer data.

    Returns
    -------
    tuple
        ``(kspace, layer data)`` with the layer data of :func:`napari_mrrecon.io.reader.raw_layer`.
    """
    from napari_mrrecon.io.reader import raw_layer
    from recon_engine.simulate import simulate_seq_steps

    opts = dict(options)
    name = opts.pop("name")
    kspace = yield from with_limits(simulate_seq_steps(seq, **opts))
    return kspace, raw_layer(kspace, name)


class SimulatePanel(QWidget):
    """The simulation form, Simulate/Stop, progress and status (part of the Sequence dock).

    Parameters
    ----------
    napari_viewer
        The viewer the result is added to.
    sequence
        Callable returning the dock's chosen sequence entry (or None).

    Attributes
    ----------
    runner
        The panel's background runner (a new simulation replaces a running one).
    result_layer
        The raw dataset layer of the last finished simulation, or None.
    last_error
        Message of the last failed simulation, or None.
    last_duration_s
        Wall time of the last finished simulation (s).
    simulation_finished
        Qt signal emitted when a simulation ended (done, stopped or failed).
    """

    simulation_finished = Signal()

    def __init__(
        self, napari_viewer: napari.viewer.Viewer, sequence: Callable[[], SequenceDataset | None]
    ) -> None:
        super().__init__()
        import torch

        self.viewer = napari_viewer
        self._sequence = sequence
        self.runner = Runner(self)
        self.worker: GeneratorWorker | None = None
        self.result_layer: napari.layers.Image | None = None
        self.last_error: str | None = None
        self.last_duration_s: float | None = None
        self._started = 0.0

        self.phantom = QComboBox()
        self.phantom.addItems(PHANTOM_CHOICES)
        self.phantom.setToolTip(
            "brain: PD/T1/T2 tissue maps at 3 T; shepp-logan: PD only (T1 1000 ms, T2 100 ms); "
            "maps file: .npz with pd, t1_ms, t2_ms, t2s_ms, b0_hz (any subset with pd), or .npy/NIfTI PD"
        )
        self.maps_path = QLineEdit()
        self.maps_path.setPlaceholderText("maps .npz / .npy / .nii")
        self.browse = QPushButton("…")
        self.browse.setToolTip("Choose a maps file")
        self.browse.clicked.connect(self._browse)
        maps_row = QWidget()
        row = QHBoxLayout(maps_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.maps_path, 1)
        row.addWidget(self.browse)
        self.maps_row = maps_row

        self.matrix = QSpinBox()
        self.matrix.setRange(0, 512)
        self.matrix.setSpecialValueText("from sequence")
        self.matrix.setValue(0)
        self.matrix.setToolTip("Phantom grid N × N (0: the sequence's reconstruction matrix)")
        self.fov_mm = QDoubleSpinBox()
        self.fov_mm.setRange(0.0, 1000.0)
        self.fov_mm.setDecimals(1)
        self.fov_mm.setSuffix(" mm")
        self.fov_mm.setSpecialValueText("from sequence")
        self.fov_mm.setValue(0.0)
        self.fov_mm.setToolTip("FOV of the phantom (0: the sequence's FOV definition)")
        self.coils = QSpinBox()
        self.coils.setRange(1, 64)
        self.coils.setValue(8)
        self.coils.setToolTip("Receive coils (ring array); 1: a uniform coil")
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.0, 100.0)
        self.noise.setDecimals(4)
        self.noise.setSingleStep(0.001)
        self.noise.setToolTip("Standard deviation of complex Gaussian noise per k-space sample")
        self.b0 = QCheckBox("off-resonance")
        self.b0.setToolTip(
            "Off: no B0 offsets. On: a maps file's own b0 map, else a smooth bump of the given peak "
            "(like the field near the frontal sinuses)"
        )
        self.b0_peak = QDoubleSpinBox()
        self.b0_peak.setRange(-2000.0, 2000.0)
        self.b0_peak.setDecimals(1)
        self.b0_peak.setSuffix(" Hz")
        self.b0_peak.setValue(100.0)
        self.b0_peak.setEnabled(False)
        self.b0.toggled.connect(self._on_b0)
        b0_row = QWidget()
        row = QHBoxLayout(b0_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.b0)
        row.addWidget(self.b0_peak, 1)
        self.isochromats = QSpinBox()
        self.isochromats.setRange(1, 64)
        self.isochromats.setValue(2)
        self.isochromats.setToolTip(
            "Isochromats per voxel (gradient spoiling, T2' spread); the time grows with them"
        )
        self.spoiling = QComboBox()
        self.spoiling.addItems(["sequence", "ideal"])
        self.spoiling.setToolTip(
            "sequence: only what the sequence does (its spoiler gradients, RF spoiling); "
            "ideal: transverse magnetisation set to 0 before every excitation"
        )
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", *(["cuda"] if torch.cuda.is_available() else [])])
        self.device.setToolTip("Where the simulation runs (auto: CUDA when available)")

        self.simulate_button = QPushButton("Simulate")
        self.simulate_button.setToolTip("Simulate the chosen sequence on the phantom in the background")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the simulation at its next progress event")
        self.stop_button.setEnabled(False)
        self.simulate_button.clicked.connect(self.simulate)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.simulate_button)
        buttons.addWidget(self.stop_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Simulate the sequence on a phantom: the raw data appears as a k-space layer.")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Phantom", self.phantom)
        form.addRow("Maps file", maps_row)
        form.addRow("Resolution", self.matrix)
        form.addRow("FOV", self.fov_mm)
        form.addRow("Coils", self.coils)
        form.addRow("Noise σ", self.noise)
        form.addRow("B0", b0_row)
        form.addRow("Isochromats", self.isochromats)
        form.addRow("Spoiling", self.spoiling)
        form.addRow("Device", self.device)
        self._form = form
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.phantom.currentTextChanged.connect(self._on_phantom)
        self._on_phantom(self.phantom.currentText())

    # ---- form ---------------------------------------------------------------------------------
    def _on_phantom(self, text: str) -> None:
        shown = text == MAPS_FILE
        self.maps_row.setVisible(shown)
        label = self._form.labelForField(self.maps_row)
        if label is not None:
            label.setVisible(shown)

    def _on_b0(self, on: bool) -> None:
        self.b0_peak.setEnabled(on)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Phantom maps", "", "Maps (*.npz *.npy *.nii *.nii.gz);;All files (*)"
        )
        if path:
            self.maps_path.setText(path)

    def gather(self) -> dict[str, Any]:
        """The engine options from the form (main thread).

        Raises
        ------
        ValueError
            No maps file given for the "maps file…" phantom.
        """
        phantom: str = self.phantom.currentText()
        maps_file = phantom == MAPS_FILE
        if maps_file:
            phantom = os.path.expanduser(self.maps_path.text().strip())
            if not phantom:
                raise ValueError("Simulate: choose a maps file (.npz, .npy or NIfTI) for the phantom")
        n = self.matrix.value()
        options: dict[str, Any] = {
            "phantom": phantom,
            "coils": self.coils.value(),
            "noise": self.noise.value(),
            "isochromats": self.isochromats.value(),
            "spoiling": self.spoiling.currentText(),
            "device": self.device.currentText(),
            "matrix": (n, n) if n else None,
            "fov_mm": self.fov_mm.value() or None,
        }
        if not self.b0.isChecked():
            options["b0"] = 0.0
        elif not maps_file:
            options["b0"] = _bump(float(self.b0_peak.value()))
        return options

    # ---- running --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a simulation runs."""
        return self.worker is not None

    def simulate(self) -> GeneratorWorker | None:
        """Simulate the dock's sequence with the form's options in a worker.

        Returns
        -------
        GeneratorWorker or None
            The worker, or None (with a notification) when nothing can be simulated.
        """
        from napari.utils.notifications import show_error

        entry = self._sequence()
        if entry is None:
            show_error("Simulate: open a Pulseq .seq file first (File ▸ Open)")
            return None
        try:
            options = self.gather()
        except ValueError as exc:
            show_error(str(exc))
            self.status.setText(f"Not started: {exc}")
            return None
        options["name"] = f"{entry.name}{SIMULATED_SUFFIX}"
        worker = self.runner.submit(
            Job(
                partial(simulation_steps, entry.sequence, options),
                on_yielded=self._on_yielded,
                on_returned=self._on_returned,
                on_failed=self._on_failed,
                on_aborted=self._on_aborted,
                on_errored=self._on_errored,
                on_finished=self._on_finished,
                label="simulate",
                context=f"Simulate {entry.name}",
            )
        )
        self.worker = worker
        self.last_error = None
        self.simulate_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        set_progress(self.progress, 1, 0)
        self.status.setText(f"Simulating {entry.name} …")
        self._started = time.perf_counter()
        return worker

    def stop(self) -> None:
        """Ask the running simulation to stop (its generator is closed; no layer is added)."""
        if self.worker is not None:
            self.status.setText("Stopping …")
            self.runner.cancel()

    def _on_yielded(self, item: Any) -> None:
        event = item.event if isinstance(item, PreviewWithLimits) else item
        if event is None or not hasattr(event, "total"):
            return
        total = max(int(event.total), 1)
        set_progress(self.progress, total, min(int(event.iteration), total))
        steps = event.metrics.get("isochromat_steps", 0.0)
        self.status.setText(f"simulate: event {event.iteration}/{event.total}, {steps:.3g} isochromat steps")
        if isinstance(item, PreviewWithLimits) and event.iteration < event.total:
            show_preview(self.viewer, PREVIEW_LAYER, np.asarray(event.preview), item.limits)

    def _on_returned(self, result: tuple[KSpace, tuple[Any, ...]]) -> None:
        kspace, (data, kwargs, _) = result
        self._remove_preview()
        self.last_duration_s = time.perf_counter() - self._started
        self.result_layer = self.viewer.add_image(data, **kwargs)
        set_progress(self.progress, 1, 1)
        info = kspace.meta.get("simulation", {})
        steps = float(info.get("isochromat_steps", 0)) if isinstance(info, dict) else 0.0
        self.status.setText(
            f"Done in {self.last_duration_s:.2f} s: {len(kspace.acquisitions)} readouts, "
            f"{kspace.n_coils} coils, {steps:.3g} isochromat steps → {self.result_layer.name}"
        )

    def _on_failed(self, message: str) -> None:
        self.last_error = message  # the runner showed the notification
        self.status.setText(f"Failed: {message}")

    def _on_errored(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Failed: {self.last_error}")

    def _on_aborted(self) -> None:
        self.status.setText("Stopped: no dataset added.")

    def _on_finished(self) -> None:
        self.worker = None
        self._remove_preview()
        self.simulate_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.simulation_finished.emit()

    def _remove_preview(self) -> None:
        layer = find_layer(self.viewer.layers, PREVIEW_LAYER)
        if layer is not None:
            self.viewer.layers.remove(layer)

    def closeEvent(self, event: Any) -> None:
        """Stop a running simulation when the panel is closed."""
        self.stop()
        super().closeEvent(event)


def _bump(peak_hz: float) -> np.ndarray:
    """The engine's smooth demonstration B0 map (Hz) on a fine grid (the engine resamples it)."""
    from recon_engine.simulate import smooth_b0_map

    return smooth_b0_map((128, 128), peak_hz)
