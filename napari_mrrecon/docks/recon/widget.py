"""The "MR Reconstruction" dock: raw dataset → reconstruction → complex image layer.

One engine call, :func:`recon_engine.reconstruct_steps`, runs in the background (see
:class:`~napari_mrrecon._qt.run_dock.EngineRunWidget`). The methods are the engine's registry;
the chosen method's options form comes from its signature
(:class:`~napari_mrrecon._qt.method_panel.MethodPanel`, which also shows a memory estimate).
While it runs, the dock shows the current iterate (throttled preview layer), a
residual/objective plot and the progress with an ETA. With "Live" on, changing a
parameter re-runs (debounced; the running reconstruction is cancelled and its late
results ignored). The result is shown as one float32 view of the complex image
(magnitude, phase, real, imaginary), coil maps and g-factor maps (when the method
returns them in ``image.meta``) as their own layers, and "Save…" exports from the
complex master. "Save recipe…" / "Load recipe…" write and read a
:class:`~recon_engine.recipe.Recipe`; "Copy as Python" copies its engine calls.

When Pulseq sequences are loaded (``.seq`` trajectory layers), "Trajectory from" offers
them: Run then re-reads the raw file with the sequence (``recon_engine.read(raw,
seq=seq)``: trajectory, labels and reversed readouts from the sequence) before the same
reconstruction. A sequence that does not match the data gives a notification.

The learned methods (``pnp``, ``modl``) show a weights chooser in their form (built-in
weights, files trained in this session, e.g. by the Training dock, or a ``.pt`` file picked
with "File…", checked by the engine at once: :mod:`napari_mrrecon.docks.recon.weights`); their
other options (denoiser strength schedule, penalty, iterations, unrolls) come from the
signature like every method's. The recipe records the weights choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
)
from superqt.utils import signals_blocked

from napari_mrrecon._qt.layer_choice import LayerChoice
from napari_mrrecon._qt.method_panel import DEVICES, MethodPanel, is_iterative
from napari_mrrecon._qt.run_dock import EngineRunWidget
from napari_mrrecon.docks.recon.weights import WeightsField, upgrade_weights_option
from napari_mrrecon.io.open import open_with_plugin
from napari_mrrecon.layers.views import (
    COMPLEX_VIEWS,
    apply_view,
    assign_image,
    coil_maps_layer,
    gfactor_layer,
    image_layer,
    iterates_layer,
    replace_image,
    reusable_layer,
    upsert_image,
    voxel_scale,
)
from napari_mrrecon.model.entries import (
    METADATA_KEY,
    RawDataset,
    ReconResult,
    SequenceDataset,
    find_layer,
    layers_with,
    raw_of,
    result_name,
    result_of,
    sequence_of,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    import napari.layers
    import napari.viewer
    from magicgui.widgets import Container

    from recon_engine.data import ImageData
    from recon_engine.progress import ProgressEvent
    from recon_engine.recipe import Recipe

__all__ = [
    "DEVICES",
    "LIVE_DEBOUNCE_MS",
    "OWN_TRAJECTORY",
    "PLOTTED_METRICS",
    "RECIPE_FILTER",
    "SAVE_FILTERS",
    "ReconWidget",
]

#: File types offered by "Save…" (the engine picks the writer from the extension).
SAVE_FILTERS = "NIfTI (*.nii.gz *.nii);;NumPy complex (*.npy);;ISMRMRD images (*.h5)"

#: File type of "Save recipe…" / "Load recipe…".
RECIPE_FILTER = "Reconstruction recipe (*.yaml *.yml)"

#: "Trajectory from" entry that keeps the raw file's own trajectory (or Cartesian counters).
OWN_TRAJECTORY = "file's own"

#: With "Live" on, a re-run starts this long after the last parameter change (ms).
LIVE_DEBOUNCE_MS = 300

#: Metrics of the progress events that the plot shows.
PLOTTED_METRICS: tuple[str, ...] = ("residual", "objective")

#: ``image.meta`` keys shown as layers of their own: key, layer-name suffix, layer builder.
_MAP_LAYERS = (
    ("coil_maps", "coil maps", coil_maps_layer),
    ("gfactor", "g-factor", gfactor_layer),
    ("iterates", "iterates", iterates_layer),
)


@dataclass
class _Display:
    """A reconstruction made ready for display in the worker thread (see ``prepare_result``).

    ``data``/``kwargs`` are the chosen view's layer (name still to be set); ``maps`` holds,
    per name suffix, the map layer's data and ``add_image`` arguments, or None when the
    result has no such map (its stale layer is removed).
    """

    image: ImageData
    view: str
    data: np.ndarray
    kwargs: dict[str, Any]
    maps: dict[str, tuple[np.ndarray, dict[str, Any]] | None] = field(default_factory=dict)


class ReconWidget(EngineRunWidget):
    """Dock "MR Reconstruction": choose a raw dataset, a method and its options; Run.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    panel
        Method, options form, device and memory estimate.
    live
        The "Live" check box.
    plot
        Residual/objective per iteration of the current run.
    weights
        The weights chooser of a learned method's form (None for other methods).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(napari_viewer)
        from superqt.utils import qdebounced

        from napari_mrrecon.docks.recon.plot import MetricsPlot

        self.trajectory_source = LayerChoice(
            napari_viewer,
            lambda layer: sequence_of(layer) is not None,
            parent=self,
            tooltip="Trajectory, counters and reversed readouts from the raw file itself, or from a "
            "loaded Pulseq .seq (the raw file is re-read with it)",
            first=(OWN_TRAJECTORY,),
        )
        self._trajectory_label = QLabel("Trajectory from")
        self.form.addRow(self._trajectory_label, self.trajectory_source)
        self.panel = MethodPanel(self.form, self)
        self.weights: WeightsField | None = None
        self.panel.method_changed.connect(self._upgrade_form)
        self._upgrade_form(self.method.currentText())
        self.live = QCheckBox("Live: re-run when a parameter changes")
        self.live.setToolTip(
            "Changing a parameter cancels the running reconstruction and starts a new one "
            f"({LIVE_DEBOUNCE_MS} ms after the last change)"
        )
        self.form.addRow(self.live)
        self._live_rerun = qdebounced(self._rerun_live, timeout=LIVE_DEBOUNCE_MS, parent=self)
        self.panel.changed.connect(self._on_parameters_changed)
        self.trajectory_source.refreshed.connect(self._on_sequences_changed)
        self.dataset_choice.currentIndexChanged.connect(self._match_sequence)
        self.dataset_choice.currentIndexChanged.connect(self._update_memory)
        self._on_sequences_changed()
        self._update_memory()

        self.plot = MetricsPlot(self, names=PLOTTED_METRICS, viewer=napari_viewer)  # redrawn in on_frame
        self.plot.setToolTip("Residual and objective of the iterative solver, per iteration")
        self.main_layout.addWidget(self.plot)
        self.run_started.connect(lambda _gen: self.plot.clear())
        self.panel.method_changed.connect(self._show_plot_for)
        self._show_plot_for(self.method.currentText())

        self.view = QComboBox()
        self.view.addItems(list(COMPLEX_VIEWS))
        self._view_choice = self.view.currentText()  # read by the worker (no widget access there)
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

        self.save_recipe_button = QPushButton("Save recipe…")
        self.save_recipe_button.setToolTip("Write the dataset, method, options and device as a YAML recipe")
        self.save_recipe_button.clicked.connect(self._save_recipe_dialog)
        self.load_recipe_button = QPushButton("Load recipe…")
        self.load_recipe_button.setToolTip("Set the dock from a recipe (opening its raw file if needed)")
        self.load_recipe_button.clicked.connect(self._load_recipe_dialog)
        self.copy_python_button = QPushButton("Copy as Python")
        self.copy_python_button.setToolTip("Copy the equivalent recon_engine calls to the clipboard")
        self.copy_python_button.clicked.connect(self.copy_as_python)
        recipe_box = QGroupBox("Recipe")
        recipe_row = QHBoxLayout(recipe_box)
        recipe_row.addWidget(self.save_recipe_button)
        recipe_row.addWidget(self.load_recipe_button)
        recipe_row.addWidget(self.copy_python_button)
        self.main_layout.addWidget(recipe_box)
        self.main_layout.addStretch(1)
        napari_viewer.layers.selection.events.active.connect(self._on_active_layer)

    # ---- form ---------------------------------------------------------------------------
    @property
    def method(self) -> QComboBox:
        """The method combo box (the engine's registry)."""
        return self.panel.method

    @property
    def device(self) -> QComboBox:
        """The device combo box."""
        return self.panel.device

    @property
    def options(self) -> Container:
        """The current method's options form."""
        return self.panel.options

    def choose_method_from_data(self) -> str | None:
        """Choose the method the engine suggests for the chosen dataset; returns it (None: no dataset).

        :func:`recon_engine.reconstructions.suggest_method`: a parallel-imaging reconstruction
        (SENSE) for undersampled multi-coil data with calibration lines, else ``direct``; so
        the first image a user sees is not aliased.
        """
        from recon_engine.reconstructions import suggest_method

        dataset = self.dataset_choice.dataset()
        if dataset is None:
            return None
        method = suggest_method(dataset.kspace)
        self.panel.method.select(method)
        return method

    def _upgrade_form(self, method: str) -> None:
        """The learned methods' ``weights`` option becomes a weights chooser (see ``weights.py``)."""
        self.weights = upgrade_weights_option(self.panel.options, method)

    def choose_weights_file(self, path: str | Path) -> bool:
        """Check a weights file with the engine and choose it for the current method.

        A file for another network, or not a weights file, gives an error notification and
        returns False (the choice stays); False too when the method takes no weights.
        """
        if self.weights is None:
            from napari.utils.notifications import show_error

            show_error(f"{self.method.currentText()} takes no weights file")
            return False
        return self.weights.choose_file(path)

    def _show_plot_for(self, method: str) -> None:
        """The residual plot only for iterative methods (direct and GRAPPA report no residual)."""
        fn = self.panel.methods.get(method)
        self.plot.setVisible(fn is not None and is_iterative(fn))

    def gather(self) -> dict[str, Any]:
        """Method, device, the method's options, and the ``.seq`` chosen (if any)."""
        options = self.panel.values()
        seq = self.chosen_sequence()
        if seq is not None:
            options["seq"] = seq.path
        return options

    def _update_memory(self, *_: Any) -> None:
        dataset = self.dataset_choice.dataset()
        self.panel.update_memory(None if dataset is None else dataset.kspace)

    def _on_parameters_changed(self) -> None:
        self._update_memory()
        if self.live.isChecked():
            self._live_rerun()

    def _rerun_live(self) -> None:
        """Cancel the running reconstruction (if any) and start one with the new parameters."""
        if not self.live.isChecked() or self.dataset_choice.dataset() is None:
            return
        try:
            self.gather()
        except ValueError as exc:  # e.g. "1e-" while typing: wait for a valid value
            self.status.setText(f"Live: waiting for a valid value ({exc})")
            return
        self.run(restart=True)

    def keep_preview_layer(self) -> bool:
        """The preview layer stays (hidden) between runs: re-adding it costs a few hundred ms."""
        return True

    def on_progress(self, event: ProgressEvent) -> None:
        """Feed the residual/objective plot."""
        metrics = {k: v for k, v in event.metrics.items() if k in PLOTTED_METRICS}
        if metrics and event.total > 0:
            self.plot.add(event.iteration, metrics, total=event.total)

    def on_frame(self) -> None:
        """Redraw the plot with the values recorded since the last frame."""
        self.plot.redraw()

    # ---- trajectory source ----------------------------------------------------------------
    def _on_sequences_changed(self) -> None:
        """The row shows only when a sequence is loaded; a new one may match the dataset."""
        listed = bool(self.trajectory_source.listed_names())
        self.trajectory_source.setVisible(listed)
        self._trajectory_label.setVisible(listed)
        if self.trajectory_source.currentText() == OWN_TRAJECTORY:
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
        return sequence_of(self.trajectory_source.layer())

    # ---- engine call --------------------------------------------------------------------
    def make_steps(
        self, dataset: RawDataset, /, *, seq: str | None = None, **options: Any
    ) -> Generator[ProgressEvent, None, ImageData]:
        """:func:`recon_engine.reconstruct_steps` on the dataset's k-space (or the file + ``seq``).

        With ``seq`` the raw file is re-read with that Pulseq sequence first (worker thread).
        """
        import recon_engine

        if seq is None:
            return recon_engine.reconstruct_steps(dataset.kspace, **options)
        return _with_sequence(dataset, seq, options)

    def prepare_result(self, result: ImageData) -> _Display:
        """Float32 view of the result and its map layers, with contrast limits (worker thread)."""
        view = self._view_choice
        data, kwargs = image_layer(result, "", view)
        scale = voxel_scale(result)
        maps: dict[str, tuple[np.ndarray, dict[str, Any]] | None] = {}
        for key, suffix, make in _MAP_LAYERS:
            value = result.meta.get(key)
            maps[suffix] = None if value is None else make(np.asarray(value), suffix, scale)
        return _Display(result, view, data, kwargs, maps)

    def show_result(self, result: _Display, dataset_layer: napari.layers.Layer) -> None:
        """Show the reconstruction in its layer (reused on re-runs), its maps, and select it.

        Layers that exist get the ready arrays in this event-loop turn (one repaint for all);
        each layer to add (~0.1–0.3 s in napari) or remove gets a turn of its own.
        """
        dataset = dataset_layer.metadata[METADATA_KEY]
        name = result_name(dataset_layer.name)
        view = self.view.currentText()
        if view != result.view:  # changed while the worker prepared the other one
            result.data, result.kwargs = image_layer(result.image, name, view)
        entry = ReconResult(image=result.image, name=dataset.name, view=view)
        kwargs = {**result.kwargs, "name": name, "metadata": {METADATA_KEY: entry}}
        layer = reusable_layer(self.viewer, name, result.data.ndim)
        if layer is not None and result_of(layer) is not None:
            assign_image(layer, result.data, **{k: v for k, v in kwargs.items() if k != "name"})
        else:
            self.defer(partial(replace_image, self.viewer, result.data, **kwargs))
        for suffix, made in result.maps.items():
            map_name = f"{dataset.name} {suffix}"
            if made is None:
                if find_layer(self.viewer.layers, map_name) is not None:
                    self.defer(partial(self._remove, map_name))
                continue
            data, map_kwargs = made
            map_kwargs = {**map_kwargs, "name": map_name}
            if reusable_layer(self.viewer, map_name, data.ndim) is not None:
                upsert_image(self.viewer, data, **map_kwargs)
            else:  # added hidden: the reconstruction stays in view (and the canvas paints faster)
                self.defer(partial(upsert_image, self.viewer, data, visible=False, **map_kwargs))
        self.defer(lambda: self._activate(name))  # last: napari makes each added layer the active one

    def _remove(self, name: str) -> None:
        if (layer := find_layer(self.viewer.layers, name)) is not None:
            self.viewer.layers.remove(layer)

    def _activate(self, name: str) -> None:
        """Make the layer ``name`` the active one, if it is not (napari then rebuilds the layer controls)."""
        layer = find_layer(self.viewer.layers, name)
        if layer is not None and self.viewer.layers.selection.active is not layer:
            self.viewer.layers.selection.active = layer

    # ---- recipes ------------------------------------------------------------------------
    def recipe(self) -> Recipe | None:
        """The dataset, method, options and device as a recipe (None, with a notification, if impossible)."""
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError
        from recon_engine.recipe import Recipe

        dataset = self.dataset_choice.dataset()
        if dataset is None:
            show_error("No raw dataset chosen: open an ISMRMRD or twix file or a sample first.")
            return None
        if dataset.kspace.source is None:
            show_error(f"{dataset.name} was not read from a file, so a recipe cannot name its input.")
            return None
        try:
            options = self.gather()
        except ValueError as exc:
            show_error(str(exc))
            return None
        method, device, seq = options.pop("method"), options.pop("device"), options.pop("seq", None)
        try:
            return Recipe.create(
                dataset.kspace.source, method=method, options=_plain(options), device=device, seq=seq
            )
        except ReconError as exc:
            show_error(f"Recipe: {exc}")
            return None

    def save_recipe(self, path: str | Path) -> Path | None:
        """Write the current settings as a YAML recipe (``mrrecon run`` replays it)."""
        from napari_mrrecon.io.recipe_file import save_recipe_notified

        return save_recipe_notified(self.recipe(), path)

    def load_recipe(self, path: str | Path) -> Recipe | None:
        """Set the dock from a recipe: dataset (opened if needed), sequence, method, options, device.

        The recipe's preprocessing fills the "Preprocessing" form.

        Run then replays it. Problems (unreadable recipe, missing input, unknown method)
        are shown as notifications and return None.
        """
        from napari.utils.notifications import show_error, show_info, show_warning

        from recon_engine.errors import ReconError
        from recon_engine.recipe import file_sha256, load_recipe

        try:
            recipe = load_recipe(path)
        except ReconError as exc:
            show_error(f"Load recipe: {exc}")
            return None
        raw = _existing(recipe.input_file, Path(path).parent)
        if raw is None:
            show_error(f"Load recipe: its input {recipe.input_file} does not exist")
            return None
        layer = self._open_raw(raw)
        if layer is None:
            show_error(f"Load recipe: {raw} could not be opened as raw data")
            return None
        self.dataset_choice.setCurrentText(layer.name)
        if recipe.input_sha256 is not None and file_sha256(raw) != recipe.input_sha256:
            show_warning(f"{raw.name} changed since the recipe was saved (SHA-256 differs)")
        self.trajectory_source.setCurrentText(OWN_TRAJECTORY)
        if recipe.seq is not None:
            seq_layer = self._open_sequence(_existing(recipe.seq, Path(path).parent))
            if seq_layer is None:
                show_error(f"Load recipe: its sequence {recipe.seq} could not be opened")
                return None
            self.trajectory_source.setCurrentText(seq_layer.name)
        try:
            missing = self.panel.set_values(recipe.method, recipe.device, recipe.options, recipe.preprocess)
        except ValueError as exc:
            show_error(f"Load recipe: {exc}")
            return None
        if missing:
            show_warning(f"Load recipe: the form has no field for {missing}; Run uses the defaults")
        self.status.setText(f"Recipe {Path(path).name} loaded: Run replays it.")
        show_info(f"Loaded recipe {Path(path).name}")
        return recipe

    def copy_as_python(self) -> str | None:
        """Copy the engine calls equivalent to Run (the recipe's Python) to the clipboard."""
        from napari.utils.notifications import show_info

        recipe = self.recipe()
        if recipe is None:
            return None
        text = recipe.to_python()
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(text)
        show_info("Copied the Python code of this reconstruction to the clipboard")
        return text

    def _open_raw(self, path: Path) -> napari.layers.Layer | None:
        for layer in layers_with(self.viewer, RawDataset):
            source = raw_of(layer).kspace.source  # type: ignore[union-attr]
            if source is not None and _same_file(source, path):
                return layer
        before = set(layers_with(self.viewer, RawDataset))
        open_with_plugin(self.viewer, path)
        added = [la for la in layers_with(self.viewer, RawDataset) if la not in before]
        return added[0] if added else None

    def _open_sequence(self, path: Path | None) -> napari.layers.Layer | None:
        if path is None:
            return None
        for layer in layers_with(self.viewer, SequenceDataset):
            if _same_file(sequence_of(layer).path, path):  # type: ignore[union-attr]
                return layer
        before = set(layers_with(self.viewer, SequenceDataset))
        open_with_plugin(self.viewer, path)
        added = [la for la in layers_with(self.viewer, SequenceDataset) if la not in before]
        return added[0] if added else None

    def _save_recipe_dialog(self) -> None:
        dataset = self.dataset_choice.dataset()
        default = f"{dataset.name if dataset is not None else 'recon'}.recipe.yaml"
        path, _ = QFileDialog.getSaveFileName(self, "Save recipe", default, RECIPE_FILTER)
        if path:
            self.save_recipe(path)

    def _load_recipe_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load recipe", "", RECIPE_FILTER)
        if path:
            self.load_recipe(path)

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
        self._view_choice = view
        layer = self.result_layer()
        entry = result_of(layer)
        if layer is None or entry is None:
            return
        apply_view(layer, entry.image, view)
        entry.view = view

    def _on_active_layer(self, event: Any = None) -> None:
        entry = result_of(self.viewer.layers.selection.active)
        if entry is not None and entry.view != self.view.currentText():
            with signals_blocked(self.view):
                self.view.setCurrentText(entry.view)
            self._view_choice = entry.view

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


def _plain(value: Any) -> Any:
    """Form values as plain YAML values (tuples → lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _existing(path: str, base: Path) -> Path | None:
    """``path`` as given, else relative to ``base`` (the recipe's folder); None if neither exists."""
    for candidate in (Path(path), base / path):
        if candidate.is_file():
            return candidate
    return None


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
