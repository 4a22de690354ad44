"""The "K-space Explorer" dock: live undersampling, parallel imaging and CS demos for teaching.

Pick a source (the built-in phantom, a loaded multi-coil raw dataset, or any 2D image
layer turned into k-space with simulated coils) and move the controls: every change
recomputes the linked views with ONE engine call, :func:`recon_engine.teaching.explore`
(FFT only for the zero-filled reconstruction), in a background worker, and writes them into
their layers in place (sampling mask, k-space, PSF, aliased image, reconstruction,
difference to the fully sampled reference, g-factor). SENSE, GRAPPA and CS run through
:func:`recon_engine.teaching.explore_steps`: the FFT-only views appear at once, the
reconstruction follows with live previews, and a newer change cancels a stale run
(:class:`~napari_mrrecon._qt.runner.LatestRunner`). Clicking on the k-space layer
adds a spike. "Acquisition movie" fills k-space in a chosen order
(:func:`recon_engine.teaching.acquisition_movie`) and "keep iterates" keeps every CG/FISTA
iterate; both appear as stacks with a slider. Every group carries a short explanation for
students, and selecting an explorer layer shows what that view means.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced, qthrottled

from napari_mrrecon._qt.runner import Job, PartialResult, Runner
from napari_mrrecon.docks.explorer.controls import ExplorerControls, explanation, explanation_label
from napari_mrrecon.docks.explorer.layers import VIEW_KEYS, VIEW_TITLES, ExplorerLayers, view_key
from napari_mrrecon.docks.explorer.panels import ORDERS_SHOWN, MoviePanel, SourcePanel, format_metrics

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["DOCK_SETTINGS", "ORDERS_SHOWN", "UPDATE_INTERVAL_MS", "ExplorerWidget"]

#: Shortest time between two recomputations while a control is being dragged (ms).
UPDATE_INTERVAL_MS = 40
#: Settings of the dock itself (besides ``ExplorerSettings``) for :meth:`ExplorerWidget.set_settings`.
DOCK_SETTINGS: tuple[str, ...] = (
    "source", "n", "coils", "keep_iterates", "acquisition_movie", "movie_frames", "movie_frame",
    "visible", "select", "group",
)  # fmt: skip
_FAST_KEYS = ("mask", "kspace", "psf", "aliased")
#: Prefix of the dock's notifications.
_TITLE = "K-space Explorer"
_HELP_KEYS = {"acquisition_kspace": "acquisition_movie", "acquisition_image": "acquisition_movie"}
_HELP_KEYS["iterations"] = "iteration_movie"


@dataclass(frozen=True)
class _FastViews(PartialResult):
    """The FFT-only views (mask, k-space, PSF, aliased image) shown before a slow reconstruction."""

    peak: float
    views: Any


class ExplorerWidget(QWidget):
    """Dock "K-space Explorer".

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    controls
        The settings groups (:class:`~napari_mrrecon.docks.explorer.controls.ExplorerControls`).
    source_panel, movie_panel, scroll_area
        The "Source" and "Movies" groups, and the scroll area around all groups.
    source
        Source choice; ``matrix`` and ``coils`` for the phantom and image sources.
    keep_iterates, order, frames, movie_button
        The movie controls (of ``movie_panel``).
    layers
        The view layers (:class:`~napari_mrrecon.docks.explorer.layers.ExplorerLayers`).
    runner, movie_runner
        Background runs of the views and of the acquisition movie.
    views
        The last views shown (``ExplorerViews``), or None.
    metrics, status, help
        Labels: NRMSE and effective R; what runs or what failed; the selected view's explanation.
    last_error
        Message of the last failure, or None.
    update_times_s
        Wall time of each finished views job (s), latest last.
    show_times_s
        Main-thread time of putting each job's views into the layers (s), latest last.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.views: Any = None
        self.last_error: str | None = None
        self.update_times_s: list[float] = []
        self.show_times_s: list[float] = []
        self._source_cache: tuple[str, Any, float] | None = None
        self.layers = ExplorerLayers(napari_viewer, self._on_kspace_click)
        self.runner = Runner(self, latest_wins=True)
        self.movie_runner = Runner(self, latest_wins=True)
        self.runner.job_finished.connect(self.update_times_s.append)
        self.runner.busy_changed.connect(self._on_busy)

        self.source_panel = SourcePanel(napari_viewer, self.layers.own, self)
        self.source, self.matrix, self.coils = (
            self.source_panel.source,
            self.source_panel.matrix,
            self.source_panel.coils,
        )
        self.controls = ExplorerControls(self)
        self.movie_panel = MoviePanel(self)
        self.keep_iterates, self.order, self.frames, self.movie_button = (
            self.movie_panel.keep_iterates,
            self.movie_panel.order,
            self.movie_panel.frames,
            self.movie_panel.movie_button,
        )
        self.movie_button.clicked.connect(self.make_acquisition_movie)

        self.metrics = QLabel("–")
        self.metrics.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.help = explanation_label("")
        self.help.setVisible(True)
        self.help.setText("Select a layer of the explorer to read what it shows.")

        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.addWidget(self.source_panel)
        inner_layout.addWidget(self.controls)
        inner_layout.addWidget(self.movie_panel)
        inner_layout.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(inner)
        main = QVBoxLayout(self)
        main.addWidget(self.scroll_area, 1)
        main.addWidget(self.metrics)
        main.addWidget(self.help)
        main.addWidget(self.status)
        self.setMinimumWidth(330)

        self._dirty = True  # an update is wanted but not submitted yet (the first one: below)
        self._throttled_update = qthrottled(
            self.update_views, timeout=UPDATE_INTERVAL_MS, leading=True, parent=self
        )
        self._settle = qdebounced(self.layers.settle, timeout=400, parent=self)
        self._show_preview = qthrottled(self._put_preview, timeout=150, parent=self)
        self.controls.changed.connect(self._schedule)
        self.keep_iterates.toggled.connect(lambda _: self._schedule())
        self.source.currentTextChanged.connect(lambda _: self._schedule())
        self.matrix.currentTextChanged.connect(lambda _: self._schedule())
        self.coils.valueChanged.connect(lambda _: self._schedule())
        napari_viewer.layers.selection.events.active.connect(self._on_active_layer)
        self._applying = False
        QTimer.singleShot(0, self._first_update)

    def _first_update(self) -> None:
        if self._dirty and not self._applying:
            self.update_views()

    # ---- state --------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while views or a movie are being computed (or waiting to be)."""
        return self._dirty or self.runner.busy or self.movie_runner.busy

    def _schedule(self) -> None:
        """A control changed: recompute soon (at most every :data:`UPDATE_INTERVAL_MS`)."""
        self._dirty = True
        if not self._applying:
            self._throttled_update()

    def settings(self) -> dict[str, Any]:
        """The current ``ExplorerSettings`` keyword arguments (see :meth:`ExplorerControls.values`)."""
        return self.controls.values()

    def set_settings(self, settings: Mapping[str, Any]) -> bool:
        """Set the dock from a dict (``ExplorerSettings`` fields and :data:`DOCK_SETTINGS`).

        Dock settings: ``source`` (``"phantom"`` or a layer name), ``n`` (phantom matrix),
        ``coils``, ``keep_iterates``, ``movie_frames``, ``acquisition_movie`` (an order)
        and, applied by the launcher once the views are shown, ``visible`` (view keys to
        show), ``select`` (the view whose explanation is shown), ``movie_frame`` (the
        slider position) and ``group`` (the control group scrolled into view: ``mask``,
        ``partial_fourier``, ``resolution``, ``window``, ``filter``, ``noise``, ``spikes``,
        ``radial``, ``recon`` or ``movies``). A bad value shows a notification and changes
        nothing after it.

        Returns
        -------
        bool
            False when a value was refused.
        """
        from napari.utils.notifications import show_error

        rest = {k: v for k, v in settings.items() if k not in DOCK_SETTINGS}
        self._applying = True  # one update at the end, not one per setting
        try:
            if "source" in settings:
                if settings["source"] not in self.source.candidates():
                    raise ValueError(f"source {settings['source']!r} is not loaded")
                self.source.setCurrentText(settings["source"])
            if "n" in settings:
                self.source_panel.set_matrix(settings["n"])
            if "coils" in settings:
                self.coils.setValue(int(settings["coils"]))
            if "keep_iterates" in settings:
                self.keep_iterates.setChecked(bool(settings["keep_iterates"]))
            if "movie_frames" in settings:
                self.frames.setValue(int(settings["movie_frames"]))
            if "acquisition_movie" in settings:
                self.movie_panel.set_order(settings["acquisition_movie"])
            self.controls.apply(rest)
        except (ValueError, TypeError) as exc:
            self._fail(f"explorer settings: {exc}", show_error)
            return False
        finally:
            self._applying = False
            if self._dirty:
                self._throttled_update()
        return True

    # ---- views --------------------------------------------------------------------------
    def update_views(self) -> None:
        """Recompute the views with the current settings (in a worker; a stale run is cancelled)."""
        from napari.utils.notifications import show_error

        self._dirty = False
        if (settings := self._read_settings(show_error)) is None:
            return
        values, key, build = settings
        keep = self.keep_iterates.isChecked()
        slow = values["recon"] != "zero_filled" or values["gfactor"]
        submitted = time.perf_counter()

        def steps() -> Generator[Any, None, Any]:
            from dataclasses import replace

            from recon_engine.teaching import ExplorerSettings, explore, explore_steps

            yield None  # a cancelled job stops here, before any work
            source, peak = self._source(key, build)
            settings = ExplorerSettings(**values)
            if settings.fast:
                return source, peak, explore(source, settings)
            if slow:  # mask, k-space, PSF and aliased image at once, the reconstruction follows
                yield _FastViews(peak, explore(source, replace(settings, recon="zero_filled", gfactor=False)))
            views = yield from explore_steps(source, settings, keep_iterates=keep)
            return source, peak, views

        self.status.setText(f"Computing {values['recon']} …" if slow else "")
        self.runner.submit(
            Job(
                steps,
                on_yielded=self._on_yielded,
                on_returned=lambda result: self._show_views(result, keep, submitted),
                on_failed=self._failed,
                label=values["recon"],
                context=_TITLE,
            )
        )

    def _source(self, key: str, build: Any) -> tuple[Any, float]:
        """The source for ``key``, built once (worker thread; one job at a time)."""
        cached = self._source_cache
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        source = build()
        peak = float(np.abs(source.reference()).max())
        self._source_cache = (key, source, peak)
        return source, peak

    def _on_yielded(self, item: Any) -> None:
        from recon_engine.progress import ProgressEvent

        if isinstance(item, _FastViews):
            self.layers.reference_peak = item.peak
            self.layers.show(item.views, _FAST_KEYS)
        elif isinstance(item, ProgressEvent):
            self.status.setText(f"{item.stage} {item.iteration}/{item.total}")
            if item.preview is not None and np.ndim(item.preview) == 2:
                self._show_preview(np.asarray(item.preview, dtype=np.float32))

    def _put_preview(self, preview: np.ndarray) -> None:
        if self.runner.busy:
            self.layers.put("recon", preview)

    def _show_views(self, result: tuple[Any, float, Any], keep: bool, submitted: float) -> None:
        started = time.perf_counter()
        _source, peak, views = result
        self.views = views
        self.last_error = None
        self.layers.reference_peak = peak
        self.layers.show(views, VIEW_KEYS)
        iterates = getattr(views, "iterates", None)
        if keep and iterates is not None:
            self.layers.put_stack("iterations", iterates)
        self.metrics.setText(format_metrics(views.metrics, time.perf_counter() - submitted))
        self.status.setText("")
        self._settle()
        self.show_times_s.append(time.perf_counter() - started)

    # ---- movies -------------------------------------------------------------------------
    def make_acquisition_movie(self) -> None:
        """Fill k-space in the chosen order: two stacks (k-space filling, image) with a slider."""
        from napari.utils.notifications import show_error

        if (settings := self._read_settings(show_error)) is None:
            return
        values, key, build = settings
        order, frames = self.order.currentText(), self.frames.value()

        def steps() -> Generator[Any, None, Any]:
            from recon_engine.teaching import ExplorerSettings, acquisition_movie

            yield None
            source, _ = self._source(key, build)
            return acquisition_movie(source, order, n_frames=frames, settings=ExplorerSettings(**values))

        self.status.setText(f"Acquisition movie ({order}) …")
        self.movie_runner.submit(
            Job(
                steps,
                on_returned=self._show_movie,
                on_failed=self._failed,
                label="movie",
                context=_TITLE,
            )
        )

    def _show_movie(self, result: tuple[np.ndarray, np.ndarray]) -> None:
        masks, images = result
        self.layers.put_stack("acquisition_kspace", masks)
        self.layers.put_stack("acquisition_image", images)
        self.status.setText(f"Acquisition movie: {len(images)} frames (move the slider)")

    # ---- spikes, help, errors -----------------------------------------------------------
    def _on_kspace_click(self, layer: Any, event: Any) -> Generator[None, None, None]:
        """Mouse callback of the k-space layer: a click (no drag) adds a spike there."""
        if getattr(event, "button", 1) != 1:
            return
        start = np.asarray(event.position)
        yield
        moved = False
        while event.type == "mouse_move":
            moved = True
            yield
        if moved:
            return  # a drag pans the view
        ky, kx = (round(float(v)) for v in layer.world_to_data(start)[-2:])
        ny, nx = layer.data.shape[-2:]
        if 0 <= ky < ny and 0 <= kx < nx:
            self.controls.add_spike(ky, kx)

    def _on_active_layer(self, event: Any = None) -> None:
        key = view_key(self.viewer.layers.selection.active)
        if key is None:
            return
        text = explanation(_HELP_KEYS.get(key, key))
        self.help.setText(f"<b>{VIEW_TITLES[key]}</b>: {text}" if text else VIEW_TITLES[key])

    def show_group(self, key: str) -> None:
        """Scroll the control group ``key`` (a key of ``controls.groups``, or ``movies``) into view."""
        box = self.movie_panel if key == "movies" else self.controls.groups.get(key)
        if box is not None:
            self.scroll_area.ensureWidgetVisible(box, 0, 0)

    def show_frame(self, index: int) -> None:
        """Move the frame slider of the movie stacks to ``index``."""
        self.viewer.dims.set_current_step(0, int(index))

    def select_view(self, key: str) -> None:
        """Select the layer of view ``key`` (its explanation appears under the controls)."""
        layer = self.layers.layer(key)
        if layer is not None:
            self.viewer.layers.selection.active = layer

    def _read_settings(self, show_error: Any) -> tuple[dict[str, Any], str, Callable[[], Any]] | None:
        """The controls' values and the source's key and builder; None (failure shown) if invalid."""
        try:
            values = self.controls.values()
            key, build = self.source_panel.factory()
        except ValueError as exc:
            self._fail(str(exc), show_error)
            return None
        return values, key, build

    def _fail(self, message: str, show_error: Any) -> None:
        self._failed(message)
        show_error(f"{_TITLE}: {message}")

    def _failed(self, message: str) -> None:
        """A run or the settings failed (the notification is shown): keep the message."""
        self.last_error = message
        self.status.setText(f"Failed: {message}")

    def _on_busy(self, busy: bool) -> None:
        if not busy and self.last_error is None:
            self.status.setText("")

    def closeEvent(self, event: Any) -> None:
        """Cancel the background runs when the dock is closed."""
        self.runner.cancel()
        self.movie_runner.cancel()
        super().closeEvent(event)
