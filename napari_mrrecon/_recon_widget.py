"""The "MR Reconstruction" dock: raw dataset → reconstruction → complex image layer.

One engine call, :func:`recon_engine.reconstruct_steps`, runs in the background (see
:class:`~napari_mrrecon._base.EngineRunWidget`). The method's options form comes from
its signature. The result is shown as one float32 view of the complex image
(magnitude, phase, real, imaginary), and "Save…" exports from the complex master.
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
    QPushButton,
)

from napari_mrrecon._base import EngineRunWidget
from napari_mrrecon._forms import form_values, options_form
from napari_mrrecon._model import (
    METADATA_KEY,
    RawDataset,
    ReconResult,
    find_layer,
    layers_with,
    result_name,
    result_of,
)
from napari_mrrecon._views import COMPLEX_VIEWS, apply_view, image_layer

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer

    from recon_engine.data import ImageData
    from recon_engine.progress import ProgressEvent

__all__ = ["DEVICES", "SAVE_FILTERS", "ReconWidget"]

#: Device choices (``"auto"`` takes CUDA when there is a GPU).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

#: File types offered by "Save…" (the engine picks the writer from the extension).
SAVE_FILTERS = "NIfTI (*.nii.gz *.nii);;NumPy complex (*.npy);;ISMRMRD images (*.h5)"

_SUPPLIED = ("kspace", "device")  # parameters the dock fills in itself


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
        self.form.addRow("Method", self.method)
        self.form.addRow(self.options.native)
        self.form.addRow("Device", self.device)
        self.method.currentTextChanged.connect(self._on_method_changed)

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
        """Method, device and the method's options from the form."""
        return {
            "method": self.method.currentText(),
            "device": self.device.currentText(),
            **form_values(self.options),
        }

    # ---- engine call --------------------------------------------------------------------
    def make_steps(self, dataset: RawDataset, **options: Any) -> Generator[ProgressEvent, None, ImageData]:
        """:func:`recon_engine.reconstruct_steps` on the dataset's k-space."""
        import recon_engine

        return recon_engine.reconstruct_steps(dataset.kspace, **options)

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
