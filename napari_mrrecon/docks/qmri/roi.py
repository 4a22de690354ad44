"""ROI statistics of fitted maps: a Shapes or Labels layer → table of mean, SD, median, N per map.

:func:`roi_labels` turns the ROI layer into an integer label image on the maps' voxel grid
(Shapes are rasterised with :meth:`napari.layers.Shapes.to_labels`, one label per shape, after
mapping their vertices from world coordinates onto the map layer's grid); the statistics
themselves are :func:`recon_engine.qmri.roi_statistics`. :func:`write_csv` exports the rows
atomically.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced

from napari_mrrecon._qt.layer_choice import LayerChoice

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from recon_engine.qmri import FitResult

__all__ = ["COLUMNS", "EDIT_DEBOUNCE_MS", "RoiPanel", "format_stat", "roi_labels", "write_csv"]

#: The statistics follow the ROI layer's edits this long after the last one (ms).
EDIT_DEBOUNCE_MS = 300

#: Columns of the table and of the CSV file (keys of the engine's rows).
COLUMNS: tuple[str, ...] = ("label", "map", "unit", "mean", "sd", "median", "n")
_HEADERS = ("label", "map", "unit", "mean", "SD", "median", "N")

Row = Mapping[str, Any]


def roi_labels(roi: napari.layers.Layer, target: napari.layers.Layer) -> np.ndarray:
    """Integer labels ``([z,] y, x)`` of ``roi`` on the voxel grid of the map layer ``target``.

    Raises
    ------
    ValueError
        A Labels layer whose shape differs from the maps', or a layer that is neither
        Shapes nor Labels.
    """
    shape = tuple(target.data.shape)
    kind = type(roi).__name__
    if kind == "Labels":
        labels = np.asarray(roi.data)
        if labels.shape != shape:
            raise ValueError(f"ROI layer {roi.name} has shape {labels.shape}; the maps are {shape}.")
        return labels.astype(np.int64, copy=False)
    if kind != "Shapes":
        raise ValueError(f"ROI layer {roi.name} is neither a Shapes nor a Labels layer.")
    if len(roi.data) == 0:
        return np.zeros(shape, dtype=np.int64)
    if roi.ndim != len(shape):
        raise ValueError(f"ROI layer {roi.name} has {roi.ndim} axes; the maps have {len(shape)}.")
    same_grid = np.allclose(roi.scale, target.scale) and np.allclose(roi.translate, target.translate)
    if same_grid:
        return np.asarray(roi.to_labels(labels_shape=shape), dtype=np.int64)
    from napari.layers import Shapes

    # vertices: ROI data → world → map data coordinates (scale and translate; no rotation)
    scale, shift = np.asarray(roi.scale), np.asarray(roi.translate)
    t_scale, t_shift = np.asarray(target.scale), np.asarray(target.translate)
    moved = [((np.asarray(v) * scale + shift) - t_shift) / t_scale for v in roi.data]
    on_grid = Shapes(moved, shape_type=list(roi.shape_type))
    return np.asarray(on_grid.to_labels(labels_shape=shape), dtype=np.int64)


def format_stat(value: Any) -> str:
    """Table text of one value: integers as they are, floats with 4 significant digits."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


def write_csv(rows: Sequence[Row], path: str | Path) -> Path:
    """Write the statistics rows as CSV (header = :data:`COLUMNS`), atomically.

    Raises
    ------
    recon_engine.errors.ExportError
        The target directory does not exist.
    """
    from recon_engine.io import atomic_file, check_parent

    target = check_parent(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.get(key, "") for key in COLUMNS])
    with atomic_file(target) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return target


class RoiPanel(QWidget):
    """ROI layer choice, "Statistics" and "Export CSV…" buttons, and the table.

    Attributes
    ----------
    roi_choice
        Shapes and Labels layers of the viewer.
    table
        One row per (label, map): label, map, unit, mean, SD, median, N.
    rows
        The rows shown (as the engine returned them).
    roi_edited
        Emitted (debounced, :data:`EDIT_DEBOUNCE_MS`) when the chosen ROI layer's regions change
        (a shape drawn, moved or deleted; labels painted).
    """

    roi_edited = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self.rows: list[dict[str, Any]] = []
        self.roi_choice = LayerChoice(
            viewer,
            _is_roi,
            _is_roi,
            self,
            tooltip="Shapes (one region per shape) or Labels layer (one region per label)",
        )
        self.stats_button = QPushButton("Statistics")
        self.stats_button.setToolTip("Mean, SD, median and voxel count of every map in every region")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the table as a CSV file")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        row = QHBoxLayout()
        row.addWidget(self.roi_choice, 1)
        row.addWidget(self.stats_button)
        row.addWidget(self.export_button)
        self.table = QTableWidget(0, len(_HEADERS))
        self.table.setHorizontalHeaderLabels(list(_HEADERS))
        header, vertical = self.table.horizontalHeader(), self.table.verticalHeader()
        if header is not None and vertical is not None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            vertical.setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(120)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.table)
        self._watched: Any = None
        self._edited = qdebounced(self.roi_edited.emit, timeout=EDIT_DEBOUNCE_MS, parent=self)
        self.roi_choice.currentTextChanged.connect(self._watch)

    def _watch(self, *_: Any) -> None:
        """Follow the edits of the chosen ROI layer only."""
        if self._watched is not None:
            for emitter in (self._watched.events.data, getattr(self._watched.events, "paint", None)):
                if emitter is not None:
                    emitter.disconnect(self._on_edit)
        layer = self.roi_layer()
        self._watched = layer
        if layer is not None:
            layer.events.data.connect(self._on_edit)
            if hasattr(layer.events, "paint"):
                layer.events.paint.connect(self._on_edit)

    def _on_edit(self, event: Any = None) -> None:
        self._edited()

    def roi_layer(self) -> napari.layers.Layer | None:
        """The chosen ROI layer, or None."""
        return self.roi_choice.layer()

    def show_rows(self, rows: Sequence[Row]) -> None:
        """Fill the table with ``rows`` (dicts with the keys of :data:`COLUMNS`)."""
        self.rows = [dict(r) for r in rows]
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            for j, key in enumerate(COLUMNS):
                self.table.setItem(i, j, QTableWidgetItem(format_stat(r.get(key, ""))))
        self.export_button.setEnabled(bool(self.rows))

    def compute(
        self,
        result: FitResult | None,
        target: napari.layers.Layer | None,
        *,
        quiet: bool = False,
        first: str | None = None,
    ) -> list[dict[str, Any]]:
        """Statistics of every map of ``result`` in the chosen ROI, on the grid of map layer ``target``.

        Rows are by label, then map (``first``, e.g. ``"t1"``, at the top of each label). Problems
        are notifications; with ``quiet`` (an ROI edit) a missing fit or ROI is not one.
        """
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError
        from recon_engine.qmri import roi_statistics

        roi = self.roi_layer()
        if result is None or target is None or roi is None:
            if not quiet:
                show_error(
                    "ROI statistics: run a fit first."
                    if roi is not None
                    else "ROI statistics: add a Shapes or Labels layer and draw the regions."
                )
            return []
        try:
            labels = roi_labels(roi, target)
            order = sorted(result.maps, key=lambda k: k != first)  # stable: the rest keep their order
            rows = roi_statistics({k: result.maps[k] for k in order}, labels, result.units)
        except (ValueError, ReconError) as exc:
            show_error(f"ROI statistics: {exc}")
            return []
        self.show_rows(rows)
        return list(self.rows)

    def export(self, path: str | Path) -> Path | None:
        """Write the table as CSV (atomically); errors as notifications."""
        from napari.utils.notifications import show_error, show_info

        from recon_engine.errors import ReconError

        if not self.rows:
            show_error("Nothing to export: compute the ROI statistics first.")
            return None
        try:
            written = write_csv(self.rows, path)
        except (ReconError, OSError) as exc:
            show_error(f"Export CSV failed: {exc}")
            return None
        show_info(f"Saved {written.name}")
        return written

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export ROI statistics", "roi.csv", "CSV (*.csv)")
        if path:
            self.export(path)


def _is_roi(layer: napari.layers.Layer) -> bool:
    """Shapes and Labels layers can be ROIs."""
    return type(layer).__name__ in ("Shapes", "Labels")
