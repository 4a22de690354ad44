"""The "Trajectory" dock: k-space trajectory plot (2D/3D) or Cartesian sampling mask.

Shows a raw dataset's trajectory (or, for Cartesian data, its sampling mask) or a Pulseq
sequence's ADC trajectory in a matplotlib figure inside the dock, coloured by time (or
acquisition order) or by a label/counter. Acquisitions selected in the Metadata dock's
table, or typed into the dock's "Highlight" box, are highlighted sample by sample.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from napari_mrrecon._qt.layer_choice import DatasetChoice
from napari_mrrecon.model.entries import AcquisitionSelection, RawDataset, SequenceDataset
from napari_mrrecon.model.trajectory import TrajectoryData, format_indices, parse_indices

if TYPE_CHECKING:
    import napari.viewer
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.image import AxesImage

__all__ = ["MAX_POINTS", "MAX_READOUT_ARTISTS", "TrajectoryWidget"]

#: Most samples drawn; above this every n-th sample of each readout is drawn.
MAX_POINTS = 150_000
#: Up to this many readouts each get their own scatter artist; above, one artist for all.
MAX_READOUT_ARTISTS = 256
_TIME = "time"


class TrajectoryWidget(QWidget):
    """Dock "Trajectory": plot of the sampled k-space of a raw dataset or a sequence.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    data
        What is plotted (None without a source).
    readout_artists
        The scatter artists of the readouts (one per readout up to
        :data:`MAX_READOUT_ARTISTS`, else one for all).
    mask_image
        The sampling-mask image for Cartesian data, else None.
    highlight
        The scatter artist of the highlighted samples, or None.
    highlighted_samples
        Number of samples of the selected acquisitions (all of them, drawn or not).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        from napari_mrrecon._qt.canvas import ThemedCanvas

        self.viewer = napari_viewer
        self.data: TrajectoryData | None = None
        self.readout_artists: list[PathCollection] = []
        self.mask_image: AxesImage | None = None
        self.highlight: PathCollection | None = None
        self.highlighted_samples = 0
        self._axes: Axes | None = None
        self._stride = 1
        self._selection: AcquisitionSelection | None = None
        self._cache: weakref.WeakKeyDictionary[object, TrajectoryData] = weakref.WeakKeyDictionary()

        self.source = DatasetChoice(
            napari_viewer,
            self,
            kinds=(RawDataset, SequenceDataset),
            tooltip="Raw dataset (k-space layer) or Pulseq sequence (trajectory layer)",
        )
        self.colour = QComboBox()
        self.colour.setToolTip("Colour the samples by time (acquisition order for raw data) or a label")
        self.three_d = QCheckBox("3D")
        self.three_d.setToolTip("Plot (kx, ky, kz) in 3D; 2D shows (kx, ky)")
        self.selection_box = QLineEdit()
        self.selection_box.setPlaceholderText("acquisitions, e.g. 0-3, 7")
        self.selection_box.setClearButtonEnabled(True)
        self.selection_box.setToolTip(
            "Acquisitions (rows of the Metadata table, or ADC events of a sequence) to highlight"
        )
        self.info = QLabel("")
        self.info.setWordWrap(True)

        self.plot = ThemedCanvas(
            self, viewer=napari_viewer, figsize=(4.5, 4.0), layout="constrained", min_height=260, toolbar=True
        )
        self.figure, self.canvas = self.plot.figure, self.plot.canvas

        colour_row = QHBoxLayout()
        colour_row.addWidget(self.colour, 1)
        colour_row.addWidget(self.three_d)
        form = QFormLayout()
        form.addRow("Source", self.source)
        form.addRow("Colour by", colour_row)
        form.addRow("Highlight", self.selection_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.info)
        layout.addWidget(self.plot, 1)

        self.source.currentIndexChanged.connect(self._on_source)
        self.colour.currentTextChanged.connect(self._on_option)
        self.three_d.toggled.connect(self._on_option)
        self.selection_box.editingFinished.connect(self._on_selection_typed)
        self._on_source()

    # ---- source -----------------------------------------------------------------------------
    def _trajectory_of(self, entry: object) -> TrajectoryData:
        from napari_mrrecon.model.trajectory import from_kspace, from_sequence

        if entry not in self._cache:
            if isinstance(entry, RawDataset):
                self._cache[entry] = from_kspace(entry.kspace)
            elif isinstance(entry, SequenceDataset):
                self._cache[entry] = entry.trajectory or from_sequence(entry.sequence)
        return self._cache[entry]

    def _on_source(self, *_: Any) -> None:
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError

        entry = self.source.entry()
        selection = entry.selection if isinstance(entry, RawDataset | SequenceDataset) else None
        if selection is not self._selection:
            if self._selection is not None:
                self._selection.changed.disconnect(self._on_selection)
            self._selection = selection
            if selection is not None:
                selection.changed.connect(self._on_selection)
        elif self.data is not None and entry is not None and self._cache.get(entry) is self.data:
            return  # the layer list changed, not the source
        data: TrajectoryData | None = None
        if entry is not None:
            try:
                data = self._trajectory_of(entry)
            except ReconError as exc:
                show_error(f"Trajectory: {exc}")
        self.data = data
        self._fill_options()
        self.selection_box.setText(format_indices(selection.indices) if selection is not None else "")
        self.redraw()

    def _fill_options(self) -> None:
        data = self.data
        current = self.colour.currentText()
        names = [_TIME, *(data.labels if data is not None else ())]
        with signals_blocked(self.colour), signals_blocked(self.three_d):
            self.colour.clear()
            self.colour.addItems(names)
            self.colour.setCurrentText(current if current in names else _TIME)
            is_3d = data is not None and data.is_3d and data.k is not None
            self.three_d.setEnabled(is_3d)
            self.three_d.setChecked(is_3d)

    def _on_option(self, *_: Any) -> None:
        self.redraw()

    # ---- selection ----------------------------------------------------------------------------
    def select_acquisitions(self, indices: Any) -> None:
        """Highlight the samples of these acquisitions (shared with the other docks)."""
        if self._selection is not None:
            self._selection.set(np.asarray(indices, dtype=np.int64).reshape(-1))

    def _on_selection_typed(self) -> None:
        from napari.utils.notifications import show_error

        try:
            indices = parse_indices(self.selection_box.text())
        except ValueError as exc:
            show_error(f"Highlight: {exc} (write e.g. 0-3, 7)")
            return
        self.select_acquisitions(indices)

    def _on_selection(self, indices: np.ndarray) -> None:
        self.selection_box.setText(format_indices(indices))
        self._draw_highlight()
        self._select_points(indices)
        self.canvas.draw_idle()

    def _select_points(self, indices: np.ndarray) -> None:
        """For a sequence, also select the highlighted ADC events' points in its layer."""
        layer = self.source.layer()
        if layer is None or not isinstance(self.source.entry(), SequenceDataset):
            return
        if "adc" in layer.features:
            adc = np.asarray(layer.features["adc"])
            layer.selected_data = set(np.flatnonzero(np.isin(adc, indices)).tolist())

    # ---- drawing ------------------------------------------------------------------------------
    def colour_values(self, stride: int = 1) -> tuple[np.ndarray, str, bool]:
        """Colour values of every ``stride``-th sample, their label, continuous or not.

        Values are ``(n_readouts, ceil(n_samples / stride))``; time is continuous, a label
        (counter) discrete.
        """
        assert self.data is not None
        name = self.colour.currentText() or _TIME
        if name == _TIME or name not in self.data.labels:
            return self.data.times(stride), self.data.time_label, True
        per_readout = np.asarray(self.data.labels[name], dtype=np.float64)
        n = len(range(0, max(self.data.n_samples, 1), stride))
        return np.repeat(per_readout[:, None], n, axis=1), name, False

    def redraw(self) -> None:
        """Draw the current source with the current options."""
        self.figure.clear()
        self.readout_artists = []
        self.mask_image = None
        self.highlight = None
        self._axes = None
        data = self.data
        if data is None or data.n_readouts == 0:
            self.info.setText("Open raw data or a Pulseq .seq file to see its trajectory.")
        elif data.k is None:
            self._draw_mask(data)
        else:
            self._draw_trajectory(data)
        self._draw_highlight()
        self.canvas.draw_idle()

    @staticmethod
    def _colour_map(values: np.ndarray, continuous: bool) -> tuple[str, Any, Any]:
        """Colormap, norm and colour-bar ticks for the colour values.

        viridis for time; distinct colours for a label with few values (ticks at the values).
        """
        from matplotlib.colors import BoundaryNorm, Normalize

        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        levels = np.unique(finite)
        if continuous or not 1 < levels.size <= 20:
            return "viridis", Normalize(lo, hi if hi > lo else lo + 1), None
        edges = np.r_[levels[0] - 0.5, (levels[1:] + levels[:-1]) / 2, levels[-1] + 0.5]
        ticks = levels if levels.size <= 10 else levels[:: math.ceil(levels.size / 10)]
        return ("tab10" if levels.size <= 10 else "tab20"), BoundaryNorm(edges, levels.size), ticks

    def _draw_trajectory(self, data: TrajectoryData) -> None:
        from matplotlib.cm import ScalarMappable

        assert data.k is not None
        total = data.n_readouts * data.n_samples
        self._stride = max(1, math.ceil(total / MAX_POINTS))
        values, label, continuous = self.colour_values(self._stride)
        cmap, norm, ticks = self._colour_map(values, continuous)
        k = data.k[:, :: self._stride]
        v = values
        three_d = self.three_d.isChecked()
        ax = self.figure.add_subplot(projection="3d") if three_d else self.figure.add_subplot()
        size = 2 if total / self._stride > 20_000 else 8
        style: dict[str, Any] = {"s": size, "cmap": cmap, "norm": norm, "linewidths": 0}
        groups = range(data.n_readouts) if data.n_readouts <= MAX_READOUT_ARTISTS else [slice(None)]
        for g in groups:
            kz, ky, kx = (k[g, ..., i].reshape(-1) for i in range(3))
            if three_d:
                artist = ax.scatter(kx, ky, kz, c=v[g].reshape(-1), depthshade=False, **style)
            else:
                artist = ax.scatter(kx, ky, c=v[g].reshape(-1), **style)
            self.readout_artists.append(artist)
        ax.set_xlabel(f"kx [{data.k_unit}]")
        ax.set_ylabel(f"ky [{data.k_unit}]")
        if three_d:
            ax.set_zlabel(f"kz [{data.k_unit}]")  # type: ignore[union-attr]
        else:
            ax.set_aspect("equal", adjustable="datalim")
        self.figure.colorbar(
            ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label, shrink=0.8, ticks=ticks
        )
        self._axes = ax
        drawn = "" if self._stride == 1 else f" (every {self._stride}th sample drawn)"
        self.info.setText(f"{data.n_readouts} readouts × {data.n_samples} samples{drawn}.")

    def _draw_mask(self, data: TrajectoryData) -> None:
        from matplotlib.cm import ScalarMappable

        assert data.mask is not None
        values, label, continuous = self.colour_values(max(data.n_samples, 1))  # one per readout
        cmap, norm, ticks = self._colour_map(values, continuous)
        n2, n1 = data.mask.shape
        in_first = int(data.mask.sum())  # readouts of the first `other` index come first
        per_readout = values[:in_first, 0]
        pos = data.positions[:in_first]
        ax = self.figure.add_subplot()
        if n2 == 1:  # 2D: the sampled k1 lines across the readout
            n0 = data.n_samples
            lines = np.full(n1, np.nan)
            lines[pos[:, 1]] = per_readout
            image = np.repeat(lines[:, None], n0, axis=1)
            extent = (-n0 // 2 - 0.5, n0 - n0 // 2 - 0.5, -n1 // 2 - 0.5, n1 - n1 // 2 - 0.5)
            ax.set_xlabel("k0 (readout)")
            ax.set_ylabel("k1 (phase encoding)")
        else:  # 3D: the sampled (k2, k1) phase-encoding positions
            image = np.full((n2, n1), np.nan)
            image[pos[:, 0], pos[:, 1]] = per_readout
            extent = (-n1 // 2 - 0.5, n1 - n1 // 2 - 0.5, -n2 // 2 - 0.5, n2 - n2 // 2 - 0.5)
            ax.set_xlabel("k1")
            ax.set_ylabel("k2")
        self.mask_image = ax.imshow(
            image, origin="lower", extent=extent, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest"
        )
        ax.set_facecolor("black")
        self.figure.colorbar(
            ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label, shrink=0.8, ticks=ticks
        )
        ax.set_title("Cartesian sampling mask", fontsize="medium")
        self._axes = ax
        n_sampled = int(data.mask.sum())
        self.info.setText(
            f"Cartesian: {n_sampled} of {data.mask.size} phase-encoding positions sampled "
            f"({data.n_readouts} readouts × {data.n_samples} samples)."
        )

    def _draw_highlight(self) -> None:
        if self.highlight is not None:
            self.highlight.remove()
            self.highlight = None
        data, ax = self.data, self._axes
        indices = self._selection.indices if self._selection is not None else np.zeros(0, np.int64)
        readouts = data.readouts(indices) if data is not None else np.zeros(0, np.int64)
        self.highlighted_samples = int(readouts.size) * (data.n_samples if data is not None else 0)
        if data is None or ax is None or readouts.size == 0:
            return
        style: dict[str, Any] = {"s": 4, "c": "black", "linewidths": 0, "label": "highlighted"}
        if data.k is not None:
            k = data.k[readouts, :: self._stride]
            kz, ky, kx = (k[..., i].reshape(-1) for i in range(3))
            if self.three_d.isChecked():
                self.highlight = ax.scatter(kx, ky, kz, depthshade=False, **style)
            else:
                self.highlight = ax.scatter(kx, ky, **style)
        else:
            assert data.mask is not None
            n2, n1 = data.mask.shape
            pos = data.positions[readouts]
            if n2 == 1:
                n0 = data.n_samples
                k0 = np.arange(n0) - n0 // 2
                kx = np.tile(k0, pos.shape[0])
                ky = np.repeat(pos[:, 1] - n1 // 2, n0)
                self.highlight = ax.scatter(kx, ky, marker="s", **{**style, "s": 1, "c": "white"})
            else:
                y, x = pos[:, 0] - n2 // 2, pos[:, 1] - n1 // 2
                self.highlight = ax.scatter(x, y, marker="s", **{**style, "c": "white"})
        text = self.info.text().split("  Highlighted")[0]
        self.info.setText(
            f"{text}  Highlighted: {readouts.size} readout{'s' if readouts.size != 1 else ''}, "
            f"{self.highlighted_samples} samples."
        )

    def highlighted_points(self) -> int:
        """Number of highlighted points drawn (all samples unless subsampled)."""
        if self.highlight is None:
            return 0
        return int(np.asarray(self.highlight.get_offsets()).shape[0])

    def closeEvent(self, event: Any) -> None:
        """Stop following the selection when the dock is closed."""
        if self._selection is not None:
            self._selection.changed.disconnect(self._on_selection)
            self._selection = None
        super().closeEvent(event)
