"""The layers of the K-space Explorer: one per view, created once and updated in place.

Each view of :class:`recon_engine.teaching.ExplorerViews` (sampling mask, k-space, aliased
image, reconstruction, difference, PSF, g-factor) has one image layer named
``"<title> (explorer)"``. Updates write into the layer's array and refresh only what is
displayed (no thumbnail, no extent): about a tenth of the cost of assigning ``layer.data``.
The thumbnails follow once the updates pause (:meth:`ExplorerLayers.settle`). A new shape
(other source, other resolution) replaces the array. Layers the user deleted are created
again on the next update. Main thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mrrecon.layers.preview import limits_close
from napari_mrrecon.layers.views import viewer_grid
from napari_mrrecon.model.entries import find_layer

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = [
    "DIFFERENCE_GAIN",
    "KSPACE_GAMMA",
    "MOVIE_KEYS",
    "VIEW_COLORMAPS",
    "VIEW_KEYS",
    "VIEW_TITLES",
    "ExplorerLayers",
    "layer_name",
]

#: Views in grid order (fields of ``ExplorerViews``).
VIEW_KEYS: tuple[str, ...] = ("mask", "kspace", "psf", "aliased", "recon", "difference", "gfactor")
#: Titles of the views (layer names).
VIEW_TITLES: dict[str, str] = {
    "mask": "sampling mask",
    "kspace": "k-space (log)",
    "psf": "PSF (log)",
    "aliased": "aliased image",
    "recon": "reconstruction",
    "difference": "difference",
    "gfactor": "g-factor",
    "acquisition_kspace": "acquisition: k-space",
    "acquisition_image": "acquisition: image",
    "iterations": "iterations",
}
#: Stacks with frames on the slider axis.
MOVIE_KEYS: tuple[str, ...] = ("acquisition_kspace", "acquisition_image", "iterations")
VIEW_COLORMAPS: dict[str, str] = {
    "mask": "gray",
    "kspace": "inferno",
    "psf": "viridis",
    "aliased": "gray",
    "recon": "gray",
    "difference": "magma",
    "gfactor": "inferno",
    "acquisition_kspace": "gray",
    "acquisition_image": "gray",
    "iterations": "gray",
}
_FIELD = {"kspace": "kspace_log"}
#: The difference layer is shown this many times brighter than the reconstruction.
DIFFERENCE_GAIN = 4.0
#: Display gamma of the k-space layer.
KSPACE_GAMMA = 0.3
_SUFFIX = " (explorer)"


def layer_name(key: str) -> str:
    """Name of the layer that shows view ``key``."""
    return VIEW_TITLES[key] + _SUFFIX


def view_key(layer: napari.layers.Layer | None) -> str | None:
    """The view key of an explorer layer, or None for other layers."""
    if layer is None:
        return None
    return next((k for k in VIEW_TITLES if layer_name(k) == layer.name), None)


def _limits(key: str, data: np.ndarray, reference_peak: float | None) -> tuple[float, float]:
    """Contrast limits of a view.

    Fixed wherever possible, so that views compare across settings and an update does not
    re-render thumbnails: mask [0, 1], PSF three decades below its peak (log10, 0 at the
    peak), reconstructions [0, peak of the fully sampled reference], the difference
    :data:`DIFFERENCE_GAIN` times brighter. k-space, g-factor and the zero-filled images
    (whose intensity drops with the sampled fraction) follow their data.
    """
    if key == "mask":
        return (0.0, 1.0)
    if key == "psf":
        return (-3.0, 0.0)
    if reference_peak and key in ("recon", "iterations"):
        return (0.0, reference_peak)
    if reference_peak and key == "difference":
        return (0.0, reference_peak / DIFFERENCE_GAIN)
    finite = data[np.isfinite(data)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if key == "gfactor":
        return (1.0, max(hi, 1.0 + 1e-3))
    if key == "kspace":
        return (lo, hi if hi > lo else lo + 1.0)
    return (0.0, hi if hi > 0 else 1.0)


class ExplorerLayers:
    """Creates, updates in place and arranges the explorer's layers.

    Parameters
    ----------
    viewer
        The viewer.
    on_kspace_click
        Mouse-drag callback attached to the k-space layer (spikes), or None.

    Attributes
    ----------
    updates
        Number of view updates shown (all layers of one :meth:`show` count once).
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        on_kspace_click: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.viewer = viewer
        self._on_kspace_click = on_kspace_click
        self._stale: set[str] = set()
        self.updates = 0
        self.reference_peak: float | None = None

    def layer(self, key: str) -> napari.layers.Image | None:
        """The layer of view ``key`` (None if absent)."""
        return find_layer(self.viewer.layers, layer_name(key))

    def show(self, views: Any, keys: Iterable[str] = VIEW_KEYS) -> None:
        """Put the views ``keys`` of ``views`` (an ``ExplorerViews``) into their layers.

        A view that is None (e.g. ``gfactor`` without a SENSE g-factor run) hides its layer.
        Missing layers are added together with the grid switched off, so napari lays out
        its grid once (a re-layout per added layer costs ~0.3 s or more).
        """
        arrays = {}
        for key in keys:
            data = getattr(views, _FIELD.get(key, key), None)
            if data is None:
                layer = self.layer(key)
                if layer is not None and layer.visible:
                    layer.visible = False
                continue
            arrays[key] = np.asarray(data, dtype=np.float32)
        missing = [key for key in arrays if self.layer(key) is None]
        grid = viewer_grid(self.viewer)
        if missing:
            grid.enabled = False
        reshaped = False
        for key, data in arrays.items():
            reshaped |= self.put(key, data)
        self.updates += 1
        if missing or reshaped:
            self.arrange()

    def put(self, key: str, data: np.ndarray) -> bool:
        """Show ``data`` in the layer of ``key``: in place when the shape matches.

        Returns
        -------
        bool
            True when the layer was created or changed shape (the view needs a reset).
        """
        limits = _limits(key, data, self.reference_peak)
        layer = self.layer(key)
        if layer is None:
            layer = self.viewer.add_image(
                np.array(data, dtype=np.float32),
                name=layer_name(key),
                colormap=VIEW_COLORMAPS[key],
                contrast_limits=limits,
            )
            layer.name_overlay.visible = True
            if key == "kspace":
                # log(1 + |k|) of k-space in the data's units is nearly linear away from the
                # centre: a display gamma brings out the periphery (noise floor, spikes)
                layer.gamma = KSPACE_GAMMA
                if self._on_kspace_click is not None:
                    layer.mouse_drag_callbacks.append(self._on_kspace_click)
            return True
        if not layer.visible:
            layer.visible = True
        reshaped = layer.data.shape != data.shape or layer.data.dtype != data.dtype
        if reshaped:  # other source or matrix: a new array, but the same layer (no grid re-layout)
            layer.data = np.array(data, dtype=np.float32)
        elif not np.array_equal(layer.data, data):  # unchanged views (e.g. the mask when only
            # the SNR moves) cost nothing; the others are written into the displayed array and
            # only the slice is redrawn (no thumbnail, no extent)
            layer.data[...] = data
            layer.refresh(thumbnail=False, extent=False, highlight=False)
            self._stale.add(key)
        if not limits_close(tuple(layer.contrast_limits), limits):  # each change re-renders the thumbnail
            layer.contrast_limits_range = limits
            layer.contrast_limits = limits
        return reshaped

    def put_stack(self, key: str, stack: np.ndarray) -> napari.layers.Image:
        """Show a stack ``(frames, y, x)`` with the frames on the slider, the last frame shown."""
        stack = np.ascontiguousarray(stack, dtype=np.float32)
        top = float(stack.max()) if stack.size else 1.0
        limits = (0.0, top if top > 0 else 1.0)
        layer = self.layer(key)
        if layer is not None and layer.ndim == stack.ndim:
            layer.visible = True
            layer.data = stack
            layer.contrast_limits_range = limits
            layer.contrast_limits = limits
        else:
            if layer is not None:
                self.viewer.layers.remove(layer)
            layer = self.viewer.add_image(
                stack,
                name=layer_name(key),
                colormap=VIEW_COLORMAPS[key],
                contrast_limits=limits,
                axis_labels=("frame", "y", "x"),
            )
            layer.name_overlay.visible = True
            self.arrange()
        self.viewer.dims.set_current_step(self.viewer.dims.ndim - 3, stack.shape[0] - 1)
        return layer

    def settle(self) -> None:
        """Refresh the thumbnails of the layers updated in place, one layer per event-loop turn."""
        from qtpy.QtCore import QTimer

        if not self._stale:
            return
        layer = self.layer(self._stale.pop())
        if layer is not None:
            layer.refresh()
        QTimer.singleShot(0, self.settle)

    def arrange(self) -> None:
        """Grid mode with the explorer's layers in view order, the views first."""
        grid = viewer_grid(self.viewer)
        grid.enabled = True
        self.viewer.reset_view()

    def set_visible(self, keys: Iterable[str]) -> None:
        """Show only the explorer layers of ``keys`` (the others are hidden, out of the grid)."""
        wanted = set(keys)
        for key in VIEW_TITLES:
            layer = self.layer(key)
            if layer is not None:
                layer.visible = key in wanted
        self.viewer.reset_view()

    def remove_all(self) -> None:
        """Remove every explorer layer."""
        for key in VIEW_TITLES:
            layer = self.layer(key)
            if layer is not None:
                self.viewer.layers.remove(layer)

    def own(self, layer: napari.layers.Layer) -> bool:
        """True for a layer of the explorer."""
        return view_key(layer) is not None
