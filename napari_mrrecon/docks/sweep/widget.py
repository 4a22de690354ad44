"""The "Sweep" dock: one parameter over a list of values, results side by side.

Pick a dataset, a method (its options form, device and memory estimate as in MR
Reconstruction), the parameter to vary and its values (e.g. five λ). Run reconstructs
once per value, one after the other in a single worker
(:func:`~napari_mrrecon.docks.sweep.steps.sweep_steps`); each result appears as soon as it is
ready: as its own layer with the viewer in grid mode ("grid"), or as one layer with the
values along a slider ("stack"). With a reference layer chosen (e.g. the reconstruction
of fully sampled data), the table lists NRMSE and SSIM of every result's magnitude
(:mod:`recon_engine.metrics`, computed in the worker); the best NRMSE is marked bold.
A new sweep replaces the layers of the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
)
from superqt.utils import signals_blocked

from napari_mrrecon._qt.forms import OptionSpec, option_specs
from napari_mrrecon._qt.layer_choice import LayerChoice
from napari_mrrecon._qt.method_panel import SUPPLIED, MethodPanel
from napari_mrrecon._qt.run_dock import EngineRunWidget
from napari_mrrecon._qt.runner import PartialResult, map_items
from napari_mrrecon.docks.sweep.steps import (
    SWEEPABLE,
    SweepItem,
    format_value,
    magnitude_of,
    parse_values,
    short_name,
    suggest_values,
    sweep_steps,
)
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.layers.views import image_layer, viewer_grid
from napari_mrrecon.model.entries import (
    METADATA_KEY,
    RawDataset,
    ReconResult,
    entry_of,
    result_of,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer

    from recon_engine.progress import ProgressEvent

__all__ = ["LAYOUTS", "NO_REFERENCE", "SweepWidget"]

#: How the results are shown: one layer each in grid mode, or one layer with a slider.
LAYOUTS: tuple[str, ...] = ("grid", "stack")
#: Reference entry meaning "no comparison".
NO_REFERENCE = "none"
_COLUMNS = ("value", "NRMSE", "SSIM", "time (s)")
_PREFERRED = ("regularization_weight", "iterations")


class SweepWidget(EngineRunWidget):
    """Dock "Sweep": reconstruct with one parameter over a list of values.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    panel
        Method, options form, device and memory estimate.
    parameter, values, reference, layout_choice
        The swept option, its values (text), the reference layer and the layout.
    table
        One row per finished run: value, NRMSE, SSIM, time.
    items
        The finished runs of the current sweep.
    result_layers
        The layers showing the current sweep.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(napari_viewer)
        from recon_engine.reconstructions import METHODS

        default = next((m for m in ("tv", "wavelet", "sense") if m in METHODS), "direct")
        self.panel = MethodPanel(self.form, self, default=default)
        self.parameter = QComboBox()
        self.parameter.setToolTip("The option that takes each of the values in turn")
        self.values = QLineEdit()
        self.values.setToolTip("Values, separated by commas or spaces (e.g. 0.001, 0.003, 0.01)")
        self.reference = LayerChoice(
            napari_viewer,
            self._is_reference,
            parent=self,
            tooltip="Image layer to compare each result with (NRMSE, SSIM of the magnitude)",
            first=(NO_REFERENCE,),
        )
        self.layout_choice = QComboBox()
        self.layout_choice.addItems(list(LAYOUTS))
        self.layout_choice.setToolTip("grid: one layer per value, side by side; stack: one layer, a slider")
        self.form.addRow("Sweep", self.parameter)
        self.form.addRow("Values", self.values)
        self.form.addRow("Reference", self.reference)
        self.form.addRow("Show as", self.layout_choice)

        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        header, rows = self.table.horizontalHeader(), self.table.verticalHeader()
        if header is not None and rows is not None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            rows.setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMinimumHeight(140)
        self.table.cellClicked.connect(self._on_row_clicked)
        self.main_layout.addWidget(self.table)
        self.main_layout.addStretch(1)

        self.items: list[SweepItem] = []
        self._top = 0.0  # largest magnitude shown (grid layers, or the stack since it was made)
        self.result_layers: list[napari.layers.Layer] = []
        self._run: dict[str, Any] = {}
        self._gathered: dict[str, Any] = {}
        self._stack: np.ndarray | None = None

        self.panel.method_changed.connect(self._refresh_parameters)
        self.panel.changed.connect(self._update_memory)
        self.parameter.currentTextChanged.connect(self._on_parameter_changed)
        self.dataset_choice.currentIndexChanged.connect(self._update_memory)
        self._refresh_parameters()
        self._update_memory()

    # ---- form ---------------------------------------------------------------------------
    def specs(self) -> dict[str, OptionSpec]:
        """The current method's options that can be swept, by name."""
        fn = self.panel.methods.get(self.panel.method.currentText())
        if fn is None:
            return {}
        return {s.name: s for s in option_specs(fn, skip=SUPPLIED) if s.kind in SWEEPABLE}

    def _refresh_parameters(self, *_: Any) -> None:
        names = list(self.specs())
        current = self.parameter.currentText()
        with signals_blocked(self.parameter):
            self.parameter.clear()
            self.parameter.addItems(names)
        preferred = [n for n in (current, *_PREFERRED) if n in names]
        self.parameter.setCurrentText(preferred[0] if preferred else (names[0] if names else ""))
        self._on_parameter_changed(self.parameter.currentText())

    def _on_parameter_changed(self, name: str) -> None:
        """Suggest values for the new parameter; its field in the form is disabled (the sweep sets it)."""
        spec = self.specs().get(name)
        self.values.setText(suggest_values(spec) if spec is not None else "")
        for widget in self.panel.options:
            widget.enabled = widget.name != name

    def _is_reference(self, layer: napari.layers.Layer) -> bool:
        """The image layers that are not raw data, previews or this sweep's results."""
        own = getattr(self, "result_layers", ())
        return (
            type(layer).__name__ == "Image"
            and not isinstance(entry_of(layer), RawDataset)
            and layer.name != PREVIEW_LAYER
            and all(layer is not mine for mine in own)
        )

    def _update_memory(self, *_: Any) -> None:
        dataset = self.dataset_choice.dataset()
        self.panel.update_memory(None if dataset is None else dataset.kspace)

    def reference_image(self) -> np.ndarray | None:
        """Magnitude of the chosen reference (a copy, made on the main thread), or None."""
        layer = self.reference.layer()
        if layer is None:
            return None
        entry = result_of(layer)
        if entry is not None:
            return magnitude_of(entry.image)
        return np.array(layer.data, dtype=np.float32)

    def gather(self) -> dict[str, Any]:
        """Method, device, the other options, the parameter, its values, the reference image."""
        settings = self.panel.values()
        name = self.parameter.currentText()
        spec = self.specs().get(name)
        if spec is None:
            raise ValueError(f"Sweep: method {settings['method']!r} has no option that can be swept")
        values = parse_values(self.values.text(), spec)
        method, device = settings.pop("method"), settings.pop("device")
        settings.pop(name, None)
        self._gathered = {
            "method": method,
            "device": device,
            "parameter": name,
            "values": values,
            "options": settings,
            "reference": self.reference_image(),
        }
        return dict(self._gathered)

    # ---- running ------------------------------------------------------------------------
    def before_run(self, layer: napari.layers.Layer, options: dict[str, Any]) -> str:
        """A new sweep: the previous sweep's layers and table rows are removed."""
        self._start_sweep(self.layout_choice.currentText())
        return super().before_run(layer, options)

    def make_steps(
        self, dataset: RawDataset, /, **settings: Any
    ) -> Generator[ProgressEvent | _Ready, None, Any]:
        """:func:`~napari_mrrecon.docks.sweep.steps.sweep_steps` on the dataset's k-space (worker thread).

        Each result comes with its magnitude layer made here, so the main thread only adds it.
        """
        return map_items(sweep_steps(dataset.kspace, **settings), _ready)

    def _start_sweep(self, layout: str) -> None:
        for layer in self.result_layers:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.result_layers = []
        self.items = []
        self._top = 0.0
        self._stack = None
        self._run = {**self._gathered, "layout": layout}
        self.table.setRowCount(0)
        self.table.setHorizontalHeaderItem(0, QTableWidgetItem(short_name(self._run["parameter"])))

    def show_partial(self, item: PartialResult, dataset_layer: napari.layers.Layer) -> None:
        """A run finished: its layer (or stack slice) and its table row."""
        if not isinstance(item, _Ready):
            return
        self.items.append(item.item)
        self._add_row(item.item)
        dataset = dataset_layer.metadata[METADATA_KEY]
        if self._run["layout"] == "grid":
            self._show_in_grid(item, dataset.name)
        else:
            self._show_in_stack(item, dataset.name)

    def show_result(self, result: list[SweepItem], dataset_layer: napari.layers.Layer) -> None:
        """All runs done: mark the best NRMSE."""
        scored = [it for it in result if it.nrmse is not None]
        best = min(scored, key=lambda it: it.nrmse or 0.0) if scored else None
        text = f"{len(result)} runs in {self.last_duration_s or 0.0:.1f} s."
        if best is not None:
            text += f" Lowest NRMSE at {short_name(self._run['parameter'])} = {format_value(best.value)}."
            font = QFont()
            font.setBold(True)
            for col in range(self.table.columnCount()):
                cell = self.table.item(best.index, col)
                if cell is not None:
                    cell.setFont(font)
        self.status.setText(text)

    def _add_row(self, item: SweepItem) -> None:
        def fmt(v: float | None, digits: int) -> str:
            return "–" if v is None else f"{v:.{digits}f}"

        row = self.table.rowCount()
        self.table.insertRow(row)
        cells = (format_value(item.value), fmt(item.nrmse, 4), fmt(item.ssim, 4), fmt(item.seconds, 2))
        for col, text in enumerate(cells):
            self.table.setItem(row, col, QTableWidgetItem(text))

    def _label(self, item: SweepItem) -> str:
        text = f"{short_name(self._run['parameter'])}={format_value(item.value)}"
        if item.nrmse is not None:
            text += f" NRMSE {item.nrmse:.3f}"
        if item.ssim is not None:
            text += f" SSIM {item.ssim:.3f}"
        return text

    def _show_in_grid(self, ready: _Ready, dataset_name: str) -> None:
        item = ready.item
        name = f"{self._label(item)} ({dataset_name})"  # value first: the grid cell shows the name
        entry = ReconResult(image=item.image, name=dataset_name)
        self._top = max(self._top, ready.top)
        top = self._top or 1.0  # one contrast for all, so that they compare
        kwargs = {**ready.kwargs, "name": name, "contrast_limits": (0.0, top)}
        layer = self.viewer.add_image(ready.data, metadata={METADATA_KEY: entry}, **kwargs)
        layer.name_overlay.visible = True
        layer.name_overlay.font_size = 8
        self.result_layers.append(layer)
        for la in self.result_layers:
            if tuple(la.contrast_limits) != (0.0, top):
                la.contrast_limits_range = (0.0, top)
                la.contrast_limits = (0.0, top)
        viewer_grid(self.viewer).enabled = True

    def _show_in_stack(self, ready: _Ready, dataset_name: str) -> None:
        item, mag = ready.item, ready.data
        n = len(self._run["values"])
        short = short_name(self._run["parameter"])
        if self._stack is None or self._stack.shape[1:] != mag.shape:
            self._stack = np.zeros((n, *mag.shape), dtype=np.float32)
            self._top = 0.0
            for layer in self.result_layers:
                self.viewer.layers.remove(layer)
            kwargs = {
                **ready.kwargs,
                "name": f"{dataset_name} sweep {short}",
                "axis_labels": (short, *ready.kwargs["axis_labels"]),
                "scale": (1.0, *ready.kwargs["scale"]),
            }
            self._stack[item.index] = mag
            self.result_layers = [self.viewer.add_image(self._stack, **kwargs)]
        else:
            self._stack[item.index] = mag
        layer = self.result_layers[0]
        self._top = max(self._top, ready.top)
        top = self._top or 1.0
        layer.contrast_limits_range = (0.0, top)
        layer.contrast_limits = (0.0, top)
        layer.refresh()
        self._show_index(item.index)

    def _show_index(self, index: int) -> None:
        """Move the stack's slider to ``index``."""
        if self._run.get("layout") != "stack" or not self.result_layers:
            return
        layer = self.result_layers[0]
        self.viewer.dims.set_current_step(self.viewer.dims.ndim - layer.ndim, index)

    def _on_row_clicked(self, row: int, _column: int) -> None:
        """Show the run of that row: select its layer (grid) or move the slider (stack)."""
        if self._run.get("layout") == "grid" and row < len(self.result_layers):
            self.viewer.layers.selection.active = self.result_layers[row]
        else:
            self._show_index(row)


@dataclass(frozen=True)
class _Ready(PartialResult):
    """A sweep result with its display made in the worker thread.

    ``data``/``kwargs`` are the magnitude layer of :func:`~napari_mrrecon.layers.views.image_layer`
    (float32 ``(*other, z, y, x)``, the coil axis dropped when combined; name still to be
    set), ``top`` its largest value.
    """

    item: SweepItem
    data: np.ndarray
    kwargs: dict[str, Any]
    top: float


def _ready(item: Any) -> Any:
    """A :class:`SweepItem` as a :class:`_Ready` with its magnitude view (worker thread)."""
    if not isinstance(item, SweepItem):
        return item
    data, kwargs = image_layer(item.image, "", "magnitude")
    return _Ready(item, data, kwargs, float(data.max()) if data.size else 0.0)
