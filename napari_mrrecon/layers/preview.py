"""Display helpers of the run docks: previews and progress without long main-thread stalls.

The worker computes what the main thread would otherwise scan (:func:`preview_limits`,
attached to each preview by :func:`with_limits`); the main thread writes a preview into the
reused preview layer in place (:func:`show_preview`: no dims/extent/thumbnail recomputation),
changes contrast limits only when they moved (:func:`set_limits`) and updates the progress bar
without an immediate repaint (:func:`set_progress`; with a GL canvas in the window, every
immediate repaint composes the whole window).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mrrecon.layers.views import replace_image, reusable_layer

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer


__all__ = [
    "LIMITS_TOLERANCE",
    "PREVIEW_LAYER",
    "limits_close",
    "preview_limits",
    "set_limits",
    "show_preview",
]

#: Name of the single layer that shows live previews of a running computation.
PREVIEW_LAYER = "mrrecon preview"

#: Contrast limits closer than this fraction of the shown span are not changed (no repaint).
LIMITS_TOLERANCE = 0.05


def preview_limits(preview: Any) -> tuple[float, float]:
    """Contrast limits ``(min, max)`` of a preview over its finite values (``(0, 1)`` if none).

    Worker thread: the main thread only assigns them.
    """
    data = np.asarray(preview)
    if data.size == 0 or not np.issubdtype(data.dtype, np.number):
        return 0.0, 1.0
    low, high = float(np.nanmin(data)), float(np.nanmax(data))
    if not (np.isfinite(low) and np.isfinite(high)):
        finite = data[np.isfinite(data)]
        if finite.size == 0:
            return 0.0, 1.0
        low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


def limits_close(
    old: tuple[float, float], new: tuple[float, float], tolerance: float = LIMITS_TOLERANCE
) -> bool:
    """True when the contrast limits ``new`` are within ``tolerance`` of the span of ``old``."""
    span = max(old[1] - old[0], 1e-30)
    return abs(new[0] - old[0]) <= tolerance * span and abs(new[1] - old[1]) <= tolerance * span


def set_limits(
    layer: napari.layers.Image, limits: tuple[float, float], tolerance: float = LIMITS_TOLERANCE
) -> None:
    """Contrast limits of a layer, changed only when off by more than ``tolerance`` of the span.

    Each change recomputes the thumbnail and repaints; an iterate's range barely moves.
    """
    low, high = layer.contrast_limits
    if limits_close((float(low), float(high)), limits, tolerance):
        return
    range_low, range_high = layer.contrast_limits_range
    if limits[0] < range_low or limits[1] > range_high:
        layer.contrast_limits_range = (min(limits[0], range_low), max(limits[1], range_high))
    layer.contrast_limits = limits


def show_preview(
    viewer: napari.viewer.Viewer,
    name: str,
    preview: np.ndarray,
    limits: tuple[float, float],
    *,
    colormap: str = "gray",
    scale: tuple[float, ...] | None = None,
) -> None:
    """Put ``preview`` into the image layer ``name`` (added once, then written in place; main thread).

    A hidden layer (kept from an earlier run) is moved back on top and shown. ``colormap``
    and ``scale`` (per axis of ``preview``; None: 1) are those of a new layer and are set
    on a reused one when they differ.
    """
    layer = reusable_layer(viewer, name, preview.ndim)
    if layer is None:
        # a copy the layer owns, so later previews can be written into it
        replace_image(
            viewer,
            np.array(preview, dtype=np.float32),
            name=name,
            colormap=colormap,
            contrast_limits=limits,
            scale=scale,
        )
        return
    if not layer.visible and (index := viewer.layers.index(layer)) != len(viewer.layers) - 1:
        # kept from an earlier run under the layers added since: back on top to be seen
        viewer.layers.move(index, len(viewer.layers))
    if layer.colormap.name != colormap:
        layer.colormap = colormap
    if scale is not None and tuple(layer.scale) != tuple(scale):
        layer.scale = scale
    set_limits(layer, limits)
    current = layer.data
    if isinstance(current, np.ndarray) and current.shape == preview.shape and current.flags.writeable:
        # in place: napari skips recomputing dims and extent (~⅔ of an assignment's cost),
        # and the thumbnail (which would repaint the layer list too)
        current[...] = preview
        if layer.visible:
            layer.refresh(extent=False, highlight=False, thumbnail=False)
    else:
        layer.data = np.array(preview, dtype=np.float32)
    layer.visible = True  # a hidden layer slices and paints once, here
