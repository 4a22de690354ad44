"""The "qMRI Fitting" dock: image series or raw k-space → model fit → parameter maps as layers.

Choose the input — a series (a layer opened with "Open series…" — ``.npy``/NIfTI/ISMRMRD file or
DICOM folder through :func:`recon_engine.qmri.load_series` —, a multi-contrast result of the MR
Reconstruction dock, or any image layer with the contrast axis first) or a multi-contrast raw
dataset (a k-space layer: an ISMRMRD file with contrasts, or File ▸ Open Sample ▸ qMRI phantom
raw) —, the model, the times (pre-filled from the series or the raw header, editable), TR and
options, and the mask (threshold and/or a Labels layer, series only). Raw data also get the
mapping method (two-step, model-based, subspace, subspace-LLR, PnP) and its options
(:mod:`~napari_mrrecon.docks.qmri.raw_methods`). Non-Cartesian MR fingerprinting raw data (a
trajectory, one readout per frame; File ▸ Open Sample ▸ qMRI phantom: MRF raw radial) get the
model ``mrf``, the flip-angle schedule as a one-line summary of the header (TR and TI from the
header too) and only the methods that map them: gridding, subspace(-LLR), PnP. Run calls ONE
engine function, :func:`recon_engine.qmri.fit_steps` for a series or
:func:`recon_engine.qmri.model_based.map_raw_steps` for raw data, in a ``thread_worker``
(progress, a throttled preview of the main map, Stop; see
:class:`~napari_mrrecon._qt.run_dock.EngineRunWidget`); "Save recipe…" writes the raw-data fit
as the YAML recipe of ``mrrecon fit RAW --method … --save-recipe``. Each map becomes a layer
("T1 [ms]", "R²", …) with a colormap and contrast limits in ms and its unit in
``metadata["unit"]``; the layers carry the :class:`~recon_engine.qmri.FitResult`, which "Save maps…" exports
(:func:`recon_engine.qmri.write_maps`). Clicking a voxel plots its signal and fitted curve; a
Shapes or Labels ROI gives mean, SD, median and N per map (:func:`recon_engine.qmri.roi_statistics`),
exportable as CSV.

npe2 imports this module when napari starts: it imports neither torch nor the engine; they are
imported when the dock opens (the model list) and when something runs.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from napari_mrrecon._qt.layer_choice import LayerChoice
from napari_mrrecon._qt.method_panel import DEVICES
from napari_mrrecon._qt.run_dock import EngineRunWidget
from napari_mrrecon.docks.qmri.series_choice import SeriesChoice
from napari_mrrecon.layers.preview import PREVIEW_LAYER, show_preview
from napari_mrrecon.layers.qmri import map_style, series_layer
from napari_mrrecon.model.entries import find_layer, raw_of
from napari_mrrecon.model.qmri import SeriesEntry, maps_of, series_of

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer

    from napari_mrrecon.docks.qmri.plot import VoxelCurve
    from recon_engine.data import KSpace
    from recon_engine.progress import ProgressEvent
    from recon_engine.qmri import FitResult, QMRISeries
    from recon_engine.qmri.fit_recipe import FitRecipe

__all__ = ["IMAGE_PREVIEW_STAGES", "MAPS_FILTER", "NO_MASK_LAYER", "SERIES_FILTER", "QMRIWidget"]

#: File types of "Open series…".
SERIES_FILTER = "Image series (*.npy *.nii *.nii.gz *.h5 *.mrd);;All files (*)"
#: File types of "Save maps…" (anything but .npz: a folder of NIfTI files).
MAPS_FILTER = "NumPy maps (*.npz);;Folder of NIfTI maps (*)"
#: Mask-layer entry meaning "threshold only".
NO_MASK_LAYER = "none"
#: Stages of the engine's raw-data methods whose previews are images (a.u.), not maps.
IMAGE_PREVIEW_STAGES: frozenset[str] = frozenset({"subspace", "pnp", "gridding"})
#: File type of "Save recipe…".
RECIPE_FILTER = "Fit recipe (*.yaml *.yml)"


class QMRIWidget(EngineRunWidget):
    """Dock "qMRI Fitting".

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    series_choice, model_form, mask_threshold, mask_layer, device, max_iterations
        The inputs of the fit.
    raw_method
        Method and options for raw-data input (its box is shown only then).
    result
        The last fit (:class:`~recon_engine.qmri.FitResult`), or None.
    map_names
        Names of the layers showing it (the main map last).
    plot
        Signal and fitted curve of the last clicked voxel.
    roi
        ROI layer choice and statistics table.
    """

    INPUT_LABEL = "Input"
    MISSING_INPUT = "No series or raw data chosen: open one (Open series…, File ▸ Open) or a sample first."

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(napari_viewer)
        from napari_mrrecon.docks.qmri.form import ModelForm
        from napari_mrrecon.docks.qmri.plot import CurvePlot
        from napari_mrrecon.docks.qmri.raw_methods import RawMethodPanel
        from napari_mrrecon.docks.qmri.roi import RoiPanel

        self.result: FitResult | None = None
        self.map_names: list[str] = []
        self._main = "t1"
        self._series_layer: napari.layers.Layer | None = None
        self._prefilled: str | None = None
        self._header_values: np.ndarray | None = None
        self._image_preview = False
        self.series_choice: SeriesChoice = self.input_choice  # type: ignore[assignment]
        self.open_button = QPushButton("Open series…")
        self.open_button.setToolTip(
            "Load a .npy (contrast first), NIfTI (4th axis = contrast) or ISMRMRD file"
        )
        self.open_button.clicked.connect(self._open_dialog)
        self.open_dicom_button = QPushButton("DICOM folder…")
        self.open_dicom_button.setToolTip("Load a DICOM series (times from InversionTime/EchoTime/FlipAngle)")
        self.open_dicom_button.clicked.connect(self._open_dicom_dialog)
        open_row = QHBoxLayout()
        open_row.addWidget(self.open_button)
        open_row.addWidget(self.open_dicom_button)
        self.form.addRow(open_row)
        self.model_form = ModelForm(self.form, self, viewer=napari_viewer)

        self.mask_threshold = QDoubleSpinBox()
        self.mask_threshold.setRange(0.0, 0.99)
        self.mask_threshold.setDecimals(3)
        self.mask_threshold.setSingleStep(0.01)
        self.mask_threshold.setValue(0.05)
        self.mask_threshold.setToolTip(
            "Fit voxels above this fraction of the series' maximum (0: no threshold)"
        )
        self.mask_layer = LayerChoice(
            napari_viewer,
            lambda layer: type(layer).__name__ == "Labels",
            parent=self,
            tooltip="Fit only the voxels labelled > 0 in this Labels layer",
            first=(NO_MASK_LAYER,),
        )
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setToolTip("auto: a GPU when there is one")
        self.max_iterations = QSpinBox()
        self.max_iterations.setRange(1, 1000)
        self.max_iterations.setValue(30)
        self.max_iterations.setToolTip("Levenberg–Marquardt iterations of the voxel fit")
        self.form.addRow("Mask threshold", self.mask_threshold)
        self.form.addRow("Mask layer", self.mask_layer)
        self.form.addRow("Device", self.device)
        self.form.addRow("Iterations", self.max_iterations)
        self.status.setText(
            "Open a series or multi-contrast raw data (Open series…, File ▸ Open, or File ▸ Open Sample ▸ "
            "qMRI phantom) and Run."
        )
        self.raw_method = RawMethodPanel(self.main_layout, self)
        self.raw_method.box.setVisible(False)
        self.save_recipe_button = QPushButton("Save recipe…")
        self.save_recipe_button.setToolTip(
            "Write the raw-data fit (input file and SHA-256, model, method, options) as a YAML recipe"
        )
        self.save_recipe_button.clicked.connect(self._save_recipe_dialog)
        self.raw_method.box.layout().addWidget(self.save_recipe_button)  # type: ignore[union-attr]

        self.plot = CurvePlot(self, viewer=napari_viewer)
        self.main_layout.addWidget(self.plot)
        self.save_button = QPushButton("Save maps…")
        self.save_button.setToolTip(
            "Write every map (.npz, or a folder of NIfTI files) from the float master"
        )
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_dialog)
        self.roi = RoiPanel(napari_viewer, self)
        self.roi.stats_button.clicked.connect(self.compute_statistics)
        self.roi.roi_edited.connect(partial(self.compute_statistics, quiet=True))
        box = QGroupBox("Maps")
        box_layout = QVBoxLayout(box)
        box_layout.addWidget(self.save_button)
        box_layout.addWidget(self.roi)
        self.main_layout.addWidget(box)
        self.main_layout.addStretch(1)

        self.series_choice.currentIndexChanged.connect(self._on_series_changed)
        napari_viewer.mouse_drag_callbacks.append(self._on_click)
        self.destroyed.connect(partial(_unhook, napari_viewer.mouse_drag_callbacks, self._on_click))
        self._on_series_changed()

    # ---- inputs ------------------------------------------------------------------------------
    def open_series(self, path: str | Path) -> napari.layers.Layer | None:
        """Load a series file or DICOM folder as a layer (errors: notification, None)."""
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError
        from recon_engine.qmri import load_series

        try:
            series = load_series(path)
        except ReconError as exc:
            show_error(f"Open series: {exc}")
            return None
        name = (
            Path(path).name.removesuffix(".gz").rsplit(".", 1)[0] if Path(path).is_file() else Path(path).name
        )
        data, kwargs, _ = series_layer(series, name, times_label=self.model_form.info.times_label)
        return self.viewer.add_image(data, **kwargs)

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image series", "", SERIES_FILTER)
        if path:
            self.open_series(path)

    def _open_dicom_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open DICOM series folder")
        if path:
            self.open_series(path)

    def _on_series_changed(self, *_: Any) -> None:
        """Pre-fill the times table (and TR) when another series is chosen (typed values stay otherwise)."""
        layer = self.series_choice.layer()
        name = None if layer is None else layer.name
        if name == self._prefilled and name is not None:
            return  # the list was rebuilt (a layer came or went): same series, keep the table
        self._prefilled = name
        dataset = None if layer is None else raw_of(layer)
        self.raw_method.box.setVisible(dataset is not None)
        self.raw_method.set_noncartesian(dataset is not None and dataset.kspace.trajectory is not None)
        self._header_values = None
        if layer is None:
            self.model_form.set_series(None, None, 0, None)
            return
        if dataset is not None:
            self._prefill_from_raw(dataset.kspace)
            return
        try:
            series: QMRISeries | None = series_of(layer)
        except Exception:  # not a series (or not yet readable): one empty row per image
            series = None
        if series is None:
            self.model_form.set_series(None, None, int(layer.data.shape[0]), None)
        else:
            n = int(series.data.shape[0])
            self.model_form.set_series(series.times, series.flip_angles, n, series.tr)

    def _prefill_from_raw(self, kspace: KSpace) -> None:
        """Times table and TR from a raw header; a model that the header's variable suits.

        Non-Cartesian data, or a header with more flip angles than :data:`MAX_TABLE_ROWS`, are MR
        fingerprinting (model ``mrf``); a schedule that long is summarised instead of tabled.
        """
        from napari_mrrecon.docks.qmri.form import MAX_TABLE_ROWS, format_number

        h = kspace.header
        n = int(kspace.data.shape[0]) if len(kspace.other_axes) == 1 else 0
        fits = {label: len(v) == n and n > 0 for label, v in (("TI", h.ti_ms), ("TE", h.te_ms))}
        angles = np.asarray(h.flip_angle_deg, float) if len(h.flip_angle_deg) == n and n > 1 else None
        label = self.model_form.info.times_label
        fingerprinting = angles is not None and (kspace.trajectory is not None or n > MAX_TABLE_ROWS)
        note = ""
        if fingerprinting:
            if self.model_form.model.currentText() != "mrf":
                self.model_form.model.setCurrentText("mrf")
            if len(h.ti_ms) == 1:
                note = f"inversion time {format_number(float(h.ti_ms[0]))} ms from the header"
        elif fits["TI"] and label not in ("TI", "TS"):
            self.model_form.model.setCurrentText("ir")
        elif not fits["TI"] and fits["TE"] and label != "TE":
            self.model_form.model.setCurrentText("mese")
        elif not fits["TI"] and not fits["TE"] and angles is not None and not self.model_form.uses_angles:
            self.model_form.model.setCurrentText("vfa")
        times = h.ti_ms if fits["TI"] else (h.te_ms if fits["TE"] else None)
        tr = float(h.tr_ms[0]) if h.tr_ms else None
        self.model_form.set_series(
            None if times is None else np.asarray(times, float), angles, n, tr, summarize=True, note=note
        )
        self._header_values = self.model_form.values()

    def gather(self) -> dict[str, Any]:
        """The fit's keyword arguments from the form (main thread).

        For raw data: ``method`` and its options too; times equal to the header's are left to
        the engine (so it reads the variable the chosen model needs, and says when it is missing).

        Raises
        ------
        ValueError
            An invalid table cell, TR, option or mask layer.
        """
        options = self.model_form.gather()
        threshold = self.mask_threshold.value()
        options["mask_threshold"] = threshold if threshold > 0 else None
        options["device"] = self.device.currentText()
        mask_layer = self.mask_layer.layer()
        layer = self.series_choice.layer()
        if layer is not None and raw_of(layer) is not None:
            if mask_layer is not None:
                raise ValueError("A mask layer applies to image series; for raw data use the mask threshold.")
            given = options.get("flip_angles", options.get("times"))
            if (
                given is not None
                and self._header_values is not None
                and np.array_equal(given, self._header_values)
            ):
                options.pop("times", None)
                options.pop("flip_angles", None)
            options.update(self.raw_method.values())
            if self.raw_method.accepts("max_iterations"):
                options["max_iterations"] = self.max_iterations.value()
            return options
        options["max_iterations"] = self.max_iterations.value()
        if mask_layer is not None:
            options["mask"] = np.asarray(mask_layer.data) > 0
        return options

    # ---- running -----------------------------------------------------------------------------
    def make_input_choice(self) -> SeriesChoice:
        """The layers a fit can start from (series, reconstructions, ≥ 3-axis images, raw datasets)."""
        return SeriesChoice(self.viewer)

    def read_input(self, layer: napari.layers.Layer) -> QMRISeries | KSpace:
        """The k-space of a raw dataset, else the series (:func:`~napari_mrrecon.model.qmri.series_of`)."""
        dataset = raw_of(layer)
        return dataset.kspace if dataset is not None else series_of(layer)

    def before_run(self, layer: napari.layers.Layer, options: dict[str, Any]) -> str:
        """Remember the series layer (the preview's scale) and the model's main map."""
        self._series_layer = layer
        self._main = _main_parameter(options["model"])
        how = f" ({options['method']})" if "method" in options else ""
        return f"Fitting {options['model']}{how} on {layer.name} …"

    def make_steps(
        self, data: QMRISeries | KSpace, /, **options: Any
    ) -> Generator[ProgressEvent, None, FitResult]:
        """``fit_steps`` on a series, or ``map_raw_steps`` on raw data (worker thread)."""
        model = options.pop("model")
        if "method" in options:
            from recon_engine.qmri.model_based import map_raw_steps

            return map_raw_steps(data, model, options.pop("method"), **options)  # type: ignore[arg-type]
        from recon_engine.qmri import fit_steps

        return fit_steps(data, model, **options)  # type: ignore[arg-type]

    def on_progress(self, event: ProgressEvent) -> None:
        """Note whether the event's preview is an image (subspace, PnP, gridding) or a map."""
        if event.preview is not None:
            self._image_preview = event.stage in IMAGE_PREVIEW_STAGES

    def show_preview(self, preview: np.ndarray, limits: tuple[float, float]) -> None:
        """The main map as it converges, in the preview layer, with the map's colormap and limits.

        The iterations of the subspace, PnP and gridding methods preview an image (a coefficient
        or contrast image, a.u.), not a map: grey, with the limits the worker computed.
        """
        if self._image_preview:
            colormap, shown_limits = "gray", limits
        else:
            colormap, shown_limits = map_style(self._main, preview)
        source = self._series_layer
        scale = tuple(source.scale[-preview.ndim :]) if source is not None else None
        show_preview(self.viewer, PREVIEW_LAYER, preview, shown_limits, colormap=colormap, scale=scale)

    def show_result(self, result: FitResult, dataset_layer: napari.layers.Layer) -> None:
        """One layer per map over the series (reused on re-runs; maps of another model removed)."""
        from napari_mrrecon.layers.qmri import show_maps

        entry = dataset_layer.metadata.get("mrrecon")
        raw = raw_of(dataset_layer)
        name = entry.name if isinstance(entry, SeriesEntry) else (raw.name if raw else dataset_layer.name)
        self.map_names = show_maps(
            self.viewer,
            result,
            main=self._main,
            series_name=name,
            affine=entry.series.affine if isinstance(entry, SeriesEntry) else None,
            over=dataset_layer,
            replace=self.map_names,
        )
        self.result = result
        self.save_button.setEnabled(True)
        self.plot.clear()

    # ---- voxel curve ------------------------------------------------------------------------
    def _on_click(self, viewer: Any, event: Any) -> None:
        """Mouse press on the canvas: plot the voxel under the cursor (when maps are shown)."""
        try:
            layer = self.current_map_layer()
        except RuntimeError:  # the dock's Qt object is gone (closed without closeEvent)
            return
        if layer is None or self.result is None:
            return
        coords = np.asarray(layer.world_to_data(event.position))[-layer.ndim :]
        index = tuple(int(np.rint(c)) for c in coords)
        if all(0 <= i < s for i, s in zip(index, layer.data.shape, strict=True)):
            self.show_voxel(index)

    def current_map_layer(self) -> napari.layers.Layer | None:
        """The active layer if it shows a map of the current result, else the main map layer."""
        active = self.viewer.layers.selection.active
        entry = maps_of(active)
        if entry is not None and entry.result is self.result:
            return active
        return find_layer(self.viewer.layers, self.map_names[-1]) if self.map_names else None

    def show_voxel(self, index: tuple[int, ...]) -> VoxelCurve | None:
        """Plot the signal and the fitted curve of the voxel ``index`` (``([z,] y, x)``)."""
        from napari_mrrecon.docks.qmri.plot import voxel_curve

        if self.result is None:
            return None
        voxel = voxel_curve(self.result, index, self._main)
        self.plot.show_curve(voxel)
        return voxel

    # ---- export and statistics ----------------------------------------------------------------
    def save_maps(self, path: str | Path) -> list[Path]:
        """Write every map (``.npz``, or a folder of NIfTI files); errors as notifications."""
        from napari.utils.notifications import show_error, show_info

        from recon_engine.errors import ReconError
        from recon_engine.qmri import write_maps

        entry = maps_of(self.current_map_layer())
        if entry is None:
            show_error("Nothing to save yet: run a fit first.")
            return []
        try:
            written = write_maps(entry.result, path, affine=entry.affine)
        except ReconError as exc:
            show_error(f"Save maps failed: {exc}")
            return []
        show_info(f"Saved {len(written)} map file(s) to {Path(path).name}")
        return written

    def fit_recipe(self) -> FitRecipe | None:
        """The raw-data fit as a recipe (None, with a notification, when there is none)."""
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError
        from recon_engine.qmri.fit_recipe import FitRecipe

        layer = self.series_choice.layer()
        dataset = None if layer is None else raw_of(layer)
        if dataset is None:
            show_error("A recipe records a raw-data fit: choose a raw dataset first.")
            return None
        if dataset.kspace.source is None:
            show_error(f"{dataset.name} was not read from a file, so a recipe cannot name its input.")
            return None
        try:
            options = self.gather()
        except ValueError as exc:
            show_error(str(exc))
            return None
        model_keys = set(self.model_form.options)
        method_options = {
            k: v
            for k, v in options.items()
            if k not in ("model", "method", "times", "flip_angles", "tr", "mask_threshold", "device")
            and k not in model_keys
        }
        model_options = {k: options[k] for k in model_keys if k in options}
        try:
            return FitRecipe.create(
                dataset.kspace.source, model=options["model"], method=options["method"],
                times=options.get("times"), flip_angles=options.get("flip_angles"), tr=options.get("tr"),
                mask_threshold=options["mask_threshold"], device=options["device"],
                method_options=method_options, model_options=model_options,
            )  # fmt: skip
        except (ReconError, OSError) as exc:
            show_error(f"Recipe: {exc}")
            return None

    def save_recipe(self, path: str | Path) -> Path | None:
        """Write :meth:`fit_recipe` as YAML (the document ``mrrecon fit --save-recipe`` writes)."""
        from napari_mrrecon.io.recipe_file import save_recipe_notified

        return save_recipe_notified(self.fit_recipe(), path)

    def _save_recipe_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save fit recipe", "fit.yaml", RECIPE_FILTER)
        if path:
            self.save_recipe(path)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save maps", "maps.npz", MAPS_FILTER)
        if path:
            self.save_maps(path)

    def compute_statistics(self, *, quiet: bool = False) -> list[dict[str, Any]]:
        """ROI statistics of every map of the current fit, shown in the table (see :class:`RoiPanel`)."""
        return self.roi.compute(self.result, self.current_map_layer(), quiet=quiet, first=self._main)

    def export_statistics(self, path: str | Path) -> Path | None:
        """Write the statistics table as CSV (atomically); errors as notifications."""
        return self.roi.export(path)

    def closeEvent(self, event: Any) -> None:
        """Stop the worker and unhook the mouse callback when the dock closes."""
        _unhook(self.viewer.mouse_drag_callbacks, self._on_click)
        super().closeEvent(event)


def _unhook(callbacks: list[Any], callback: Any, *_: Any) -> None:
    """Remove ``callback`` from a viewer's callback list if it is still there."""
    if callback in callbacks:
        callbacks.remove(callback)


def _main_parameter(model: str) -> str:
    """The map a model is about (the first of its parameters in ms, e.g. ``t1``)."""
    from recon_engine.qmri import model_info

    info = model_info(model)
    main = getattr(info, "main", "")
    if main:
        return str(main)
    timed = [p for p in info.parameters if info.units.get(p) == "ms"]
    return timed[0] if timed else info.parameters[0]
