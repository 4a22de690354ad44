"""The "MR Reconstruction" dock: raw dataset → reconstruction → complex image layer.

One engine call, :func:`recon_engine.reconstruct_steps`, runs in the background (see
:class:`~napari_mrrecon._base.EngineRunWidget`). The method's options form comes from
its signature. The result is shown as one float32 view of the complex image
(magnitude, phase, real, imaginary), and "Save…" exports from the complex master.

When Pulseq sequences are loaded (``.seq`` trajectory layers), "Trajectory from" offers
them: Run then re-reads the raw file with the sequence (``recon_engine.read(raw,
seq=seq)``: trajectory, labels and reversed readouts from the sequence) before the same
reconstruction. A sequence that does not match the data gives a notification.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
)

from napari_mrrecon._base import EngineRunWidget
from napari_mrrecon._forms import form_values, options_form
from napari_mrrecon._model import (
    METADATA_KEY,
    RawDataset,
    ReconResult,
    SequenceDataset,
    find_layer,
    layers_with,
    result_name,
    result_of,
    sequence_of,
)
from napari_mrrecon._views import COMPLEX_VIEWS, apply_view, image_layer

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer

    from recon_engine.data import ImageData
    from recon_engine.progress import ProgressEvent

__all__ = ["DEVICES", "OWN_TRAJECTORY", "SAVE_FILTERS", "ReconWidget"]

#: Device choices (``"auto"`` takes CUDA when there is a GPU).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

#: File types offered by "Save…" (the engine picks the writer from the extension).
SAVE_FILTERS = "NIfTI (*.nii.gz *.nii);;NumPy complex (*.npy);;ISMRMRD images (*.h5)"

_SUPPLIED = ("kspace", "device")  # parameters the dock fills in itself

#: "Trajectory from" entry that keeps the raw file's own trajectory (or Cartesian counters).
OWN_TRAJECTORY = "file's own"


class ReconWidget(EngineRunWidget):
    """Dock "MR Reconstruction": choose a raw dataset, a method and its options; Run.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(napari_viewer)
        from recon_engine.reconstructions import METHODS

        self._methods = METHODS
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.method.setCurrentText("direct")
        self.method.setToolTip("Reconstruction method")
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setToolTip("Compute device; auto uses a CUDA GPU when there is one")
        self.options = options_form(METHODS[self.method.currentText()], skip=_SUPPLIED)
        self.trajectory_source = QComboBox()
        self.trajectory_source.setToolTip(
            "Trajectory, counters and reversed readouts from the raw file itself, or from a "
            "loaded Pulseq .seq (the raw file is re-read with it)"
        )
        self._trajectory_label = QLabel("Trajectory from")
        self.form.addRow(self._trajectory_label, self.trajectory_source)
        self.form.addRow("Method", self.method)
        self.form.addRow(self.options.native)
        self.form.addRow("Device", self.device)
        self.method.currentTextChanged.connect(self._on_method_changed)
        napari_viewer.layers.events.inserted.connect(self._on_layers_changed)
        napari_viewer.layers.events.removed.connect(self._on_layers_changed)
        self.dataset_choice.currentIndexChanged.connect(self._match_sequence)
        self._refresh_sequences()

        self.view = QComboBox()
        self.view.addItems(list(COMPLEX_VIEWS))
        self.view.setToolTip("Which real-valued view of the complex image the layer shows")
        self.view.currentTextChanged.connect(self.set_view)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Export the complex result (not the displayed view)")
        self.save_button.clicked.connect(self._save_dialog)
        self.save_phase = QCheckBox("with phase")
        self.save_phase.setToolTip("NIfTI: also write <name>_phase.nii.gz (radians)")
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_button)
        save_row.addWidget(self.save_phase)
        result_box = QGroupBox("Result")
        result_form = QFormLayout(result_box)
        result_form.addRow("View", self.view)
        result_form.addRow(save_row)
        self.main_layout.addWidget(result_box)
        self.main_layout.addStretch(1)
        napari_viewer.layers.selection.events.active.connect(self._on_active_layer)

    # ---- form ---------------------------------------------------------------------------
    def _on_method_changed(self, method: str) -> None:
        new = options_form(self._methods[method], skip=_SUPPLIED)
        self.form.replaceWidget(self.options.native, new.native)
        self.options.native.deleteLater()
        self.options = new

    def gather(self) -> dict[str, Any]:
        """Method, device, the method's options, and the ``.seq`` chosen (if any)."""
        options = {
            "method": self.method.currentText(),
            "device": self.device.currentText(),
            **form_values(self.options),
        }
        seq = self.chosen_sequence()
        if seq is not None:
            options["seq"] = seq.path
        return options

    # ---- trajectory source ----------------------------------------------------------------
    def _on_layers_changed(self, event: Any = None) -> None:
        layer = getattr(event, "value", None)
        if layer is not None and sequence_of(layer) is not None and event.type == "inserted":
            layer.events.name.connect(self._refresh_sequences)
        self._refresh_sequences()

    def _refresh_sequences(self, event: Any = None) -> None:
        """List the loaded sequences; the row shows only when there is one."""
        current = self.trajectory_source.currentText()
        names = [layer.name for layer in layers_with(self.viewer, SequenceDataset)]
        self.trajectory_source.blockSignals(True)
        self.trajectory_source.clear()
        self.trajectory_source.addItems([OWN_TRAJECTORY, *names])
        self.trajectory_source.setCurrentText(current if current in names else OWN_TRAJECTORY)
        self.trajectory_source.blockSignals(False)
        self.trajectory_source.setVisible(bool(names))
        self._trajectory_label.setVisible(bool(names))
        if current not in names:
            self._match_sequence()

    def _match_sequence(self, *_: Any) -> None:
        """Pre-select the sequence whose file has the raw file's name (e.g. ``x.dat`` + ``x.seq``)."""
        dataset = self.dataset_choice.dataset()
        if dataset is None:
            return
        for layer in layers_with(self.viewer, SequenceDataset):
            seq = sequence_of(layer)
            if seq is not None and seq.name == dataset.name:
                self.trajectory_source.setCurrentText(layer.name)
                return

    def chosen_sequence(self) -> SequenceDataset | None:
        """The sequence chosen in "Trajectory from", or None for the file's own."""
        name = self.trajectory_source.currentText()
        if not name or name == OWN_TRAJECTORY:
            return None
        return sequence_of(find_layer(self.viewer.layers, name))

    # ---- engine call --------------------------------------------------------------------
    def make_steps(
        self, dataset: RawDataset, *, seq: str | None = None, **options: Any
    ) -> Generator[ProgressEvent, None, ImageData]:
        """:func:`recon_engine.reconstruct_steps` on the dataset's k-space (or the file + ``seq``).

        With ``seq`` the raw file is re-read with that Pulseq sequence first (worker thread).
        """
        import recon_engine

        if seq is None:
            return recon_engine.reconstruct_steps(dataset.kspace, **options)
        return _with_sequence(dataset, seq, options)

    def show_result(self, result: ImageData, dataset_layer: napari.layers.Layer) -> None:
        """Show the reconstruction in its layer (reused on re-runs) and select it."""
        dataset = dataset_layer.metadata[METADATA_KEY]
        name = result_name(dataset_layer.name)
        view = self.view.currentText()
        entry = ReconResult(image=result, name=dataset.name, view=view)
        data, kwargs = image_layer(result, name, view)
        layer = find_layer(self.viewer.layers, name)
        if layer is not None and result_of(layer) is not None and layer.ndim == data.ndim:
            layer.metadata[METADATA_KEY] = entry
            layer.scale = kwargs["scale"]
            apply_view(layer, result, view)
        else:
            if layer is not None:
                self.viewer.layers.remove(layer)
            layer = self.viewer.add_image(data, metadata={METADATA_KEY: entry}, **kwargs)
        self.viewer.layers.selection.active = layer

    # ---- result view and export ---------------------------------------------------------
    def result_layer(self) -> napari.layers.Layer | None:
        """The reconstruction the view and "Save…" apply to.

        The active layer if it is a reconstruction, else the one of the chosen dataset,
        else the last reconstruction in the layer list.
        """
        active = self.viewer.layers.selection.active
        if result_of(active) is not None:
            return active
        dataset_layer = self.dataset_choice.layer()
        if dataset_layer is not None:
            layer = find_layer(self.viewer.layers, result_name(dataset_layer.name))
            if result_of(layer) is not None:
                return layer
        results = layers_with(self.viewer, ReconResult)
        return results[-1] if results else None

    def set_view(self, view: str) -> None:
        """Show ``view`` (magnitude, phase, real, imaginary) of the current result."""
        if self.view.currentText() != view:
            self.view.setCurrentText(view)  # re-enters through currentTextChanged
            return
        layer = self.result_layer()
        entry = result_of(layer)
        if layer is None or entry is None:
            return
        apply_view(layer, entry.image, view)
        entry.view = view

    def _on_active_layer(self, event: Any = None) -> None:
        entry = result_of(self.viewer.layers.selection.active)
        if entry is not None and entry.view != self.view.currentText():
            self.view.blockSignals(True)
            self.view.setCurrentText(entry.view)
            self.view.blockSignals(False)

    def save_result(self, path: str | Path, *, phase: bool = False) -> list[Path]:
        """Export the current result's complex image (format from the extension).

        Errors are shown as notifications; returns the files written (empty on error).
        """
        from napari.utils.notifications import show_error, show_info

        import recon_engine
        from recon_engine.errors import ReconError

        entry = result_of(self.result_layer())
        if entry is None:
            show_error("Nothing to save yet: run a reconstruction first.")
            return []
        try:
            written = recon_engine.save(entry.image, path, phase=phase)
        except ReconError as exc:
            show_error(f"Save failed: {exc}")
            return []
        show_info("Saved " + ", ".join(p.name for p in written))
        return written

    def _save_dialog(self) -> None:
        layer = self.result_layer()
        default = f"{layer.name if layer is not None else 'recon'}.nii.gz"
        path, _ = QFileDialog.getSaveFileName(self, "Save reconstruction", default, SAVE_FILTERS)
        if path:
            self.save_result(path, phase=self.save_phase.isChecked())


def _with_sequence(
    dataset: RawDataset, seq: str, options: dict[str, Any]
) -> Generator[ProgressEvent, None, ImageData]:
    """Re-read the dataset's raw file with a Pulseq sequence, then reconstruct it."""
    import recon_engine
    from recon_engine.errors import ParameterError
    from recon_engine.progress import ProgressEvent

    source = dataset.kspace.source
    if source is None:
        raise ParameterError(f"{dataset.name} has no raw file to read again with {Path(seq).name}")
    yield ProgressEvent(f"reading {Path(source).name} with {Path(seq).name}", 0, 1)
    kspace = recon_engine.read(source, seq=seq)
    return (yield from recon_engine.reconstruct_steps(kspace, **options))
