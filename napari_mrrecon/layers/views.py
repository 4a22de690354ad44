"""Float32 views of complex data for display, and the layer arguments that go with them.

napari cannot show complex arrays; these functions turn the complex masters of the model
into what a layer shows. They are display conversions only, no reconstruction.

The ``*_layer`` and :func:`image_view` functions do the array work (views, contrast
limits, percentiles) and touch no layer, so a dock can call them in its worker thread;
:func:`assign_image` and :func:`upsert_image` (main thread) then only assign the ready
arrays, and set a display property only when its value changes (each change makes napari
refresh the layer and repaint the canvas).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from recon_engine.data import ImageData, KSpace

__all__ = [
    "COMPLEX_VIEWS",
    "PHASE_COLORMAP",
    "apply_view",
    "assign_image",
    "coil_maps_layer",
    "gfactor_layer",
    "image_layer",
    "image_view",
    "iterates_layer",
    "kspace_layer",
    "log_magnitude",
    "replace_image",
    "reusable_layer",
    "upsert_image",
    "viewer_grid",
    "voxel_scale",
]

#: Views of a complex image offered in the GUI.
COMPLEX_VIEWS: tuple[str, ...] = ("magnitude", "phase", "real", "imaginary")

#: Cyclic colormap for phase images (napari's ``twilight``).
PHASE_COLORMAP = "twilight"


def log_magnitude(kspace: KSpace) -> np.ndarray:
    """``log(1 + |k| / (1e-3 · max|k|))`` as float32, same shape as ``kspace.data``.

    Unsampled positions (exact zeros) stay 0, so undersampling shows as black lines.

    Parameters
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``.

    Returns
    -------
    np.ndarray
        float32 ``(*other, coils, k2, k1, k0)``.
    """
    mag = kspace.data.detach().abs().to("cpu").numpy().astype(np.float32, copy=False)
    peak = float(mag.max()) if mag.size else 0.0
    if peak <= 0.0:
        return np.zeros_like(mag)
    return np.log1p(mag * np.float32(1e3 / peak))


def kspace_layer(kspace: KSpace, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Data and ``add_image`` keyword arguments of a k-space layer (coils as an axis).

    Returns
    -------
    data, kwargs
        ``data`` is the float32 log-magnitude ``(*other, coils, k2, k1, k0)``.
    """
    labels = (*kspace.other_axes, "coil", "k2", "k1", "k0")
    return log_magnitude(kspace), {"name": name, "colormap": "inferno", "axis_labels": labels}


def _display_array(image: ImageData, array: np.ndarray) -> np.ndarray:
    """Drop the coil axis of ``(*other, coils, z, y, x)`` when it has one entry."""
    if array.shape[-4] == 1:
        array = array[..., 0, :, :, :]
    return np.ascontiguousarray(array, dtype=np.float32)


def image_view(image: ImageData, view: str) -> tuple[np.ndarray, str, tuple[float, float]]:
    """One float32 view of a complex image, with its colormap and contrast limits.

    Parameters
    ----------
    image
        complex64 ``(*other, coils, z, y, x)``.
    view
        ``"magnitude"``, ``"phase"`` (radians, cyclic colormap, limits fixed to
        ``[-π, π]``), ``"real"`` or ``"imaginary"`` (limits symmetric about 0).

    Returns
    -------
    data, colormap, contrast_limits
        ``data`` is ``(*other, z, y, x)``, or ``(*other, coils, z, y, x)`` when the
        coils were not combined.
    """
    if view == "magnitude":
        data = _display_array(image, image.magnitude())
        top = float(data.max()) if data.size else 1.0
        return data, "gray", (0.0, top if top > 0 else 1.0)
    if view == "phase":
        return _display_array(image, image.phase()), PHASE_COLORMAP, (-math.pi, math.pi)
    if view in ("real", "imaginary"):
        c = image.numpy()
        data = _display_array(image, c.real if view == "real" else c.imag)
        top = float(np.abs(data).max()) if data.size else 1.0
        top = top if top > 0 else 1.0
        return data, "gray", (-top, top)
    raise ValueError(f"unknown complex view {view!r}; choose one of {COMPLEX_VIEWS}")


def image_layer(image: ImageData, name: str, view: str = "magnitude") -> tuple[np.ndarray, dict[str, Any]]:
    """Data and ``add_image`` keyword arguments of a reconstruction layer.

    The scale is the voxel size in mm on ``(z, y, x)`` and 1 on the other axes.

    Returns
    -------
    data, kwargs
        ``data`` as from :func:`image_view`.
    """
    data, colormap, limits = image_view(image, view)
    dx, dy, dz = image.geometry.voxel_size_mm
    coil = ("coil",) if image.shape[-4] > 1 else ()
    labels = (*image.other_axes, *coil, "z", "y", "x")
    scale = (1.0,) * (data.ndim - 3) + (dz or 1.0, dy or 1.0, dx or 1.0)
    return data, {
        "name": name,
        "colormap": colormap,
        "contrast_limits": limits,
        "axis_labels": labels,
        "scale": scale,
    }


def apply_view(layer: napari.layers.Image, image: ImageData, view: str) -> None:
    """Show ``view`` of ``image`` in an existing image layer (main thread only)."""
    data, colormap, limits = image_view(image, view)
    assign_image(layer, data, colormap=colormap, contrast_limits=limits)


def assign_image(layer: napari.layers.Image, data: np.ndarray, **kwargs: Any) -> None:
    """Put ready ``data`` and display settings into an existing image layer (main thread only).

    ``kwargs`` may hold ``scale``, ``colormap``, ``axis_labels``, ``contrast_limits``
    (also used as the slider range, so napari does not scan the data) and ``metadata``
    (merged); a setting is assigned only when it differs from the layer's.
    """
    if "metadata" in kwargs:
        layer.metadata.update(kwargs["metadata"])
    if "scale" in kwargs and not np.array_equal(np.asarray(layer.scale), np.asarray(kwargs["scale"])):
        layer.scale = kwargs["scale"]
    if "axis_labels" in kwargs and tuple(layer.axis_labels) != tuple(kwargs["axis_labels"]):
        layer.axis_labels = kwargs["axis_labels"]
    colormap = kwargs.get("colormap")
    if colormap is not None and not (isinstance(colormap, str) and layer.colormap.name == colormap):
        layer.colormap = colormap
    layer.data = data
    if "contrast_limits" in kwargs:
        limits = tuple(float(v) for v in kwargs["contrast_limits"])
        if tuple(layer.contrast_limits_range) != limits:
            layer.contrast_limits_range = limits
        if tuple(layer.contrast_limits) != limits:
            layer.contrast_limits = limits


def coil_maps_layer(
    maps: np.ndarray, name: str, scale_zyx: tuple[float, ...]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Magnitude of coil sensitivity maps and the ``add_image`` keyword arguments.

    Parameters
    ----------
    maps
        complex ``(*other_m, n_maps, coils, z, y, x)`` (``image.meta["coil_maps"]``).
    name
        Layer name.
    scale_zyx
        Voxel size ``(dz, dy, dx)`` in mm.

    Returns
    -------
    data, kwargs
        float32 ``(*other_m, [n_maps,] coils, z, y, x)``: the map-set axis is dropped when
        there is one set.
    """
    mag = np.abs(np.asarray(maps)).astype(np.float32)
    labels: tuple[str, ...] = ("map", "coil", "z", "y", "x")
    if mag.shape[-5] == 1:
        mag = mag[..., 0, :, :, :, :]
        labels = labels[1:]
    labels = tuple(f"other {i}" for i in range(mag.ndim - len(labels))) + labels
    top = float(mag.max()) if mag.size else 1.0
    return np.ascontiguousarray(mag), {
        "name": name,
        "colormap": "viridis",
        "contrast_limits": (0.0, top if top > 0 else 1.0),
        "axis_labels": labels,
        "scale": (1.0,) * (mag.ndim - 3) + tuple(scale_zyx),
    }


def gfactor_layer(
    gfactor: np.ndarray, name: str, scale_zyx: tuple[float, ...]
) -> tuple[np.ndarray, dict[str, Any]]:
    """A g-factor map ``(*other, z, y, x)`` (float, ≥ 1) and its ``add_image`` keyword arguments."""
    g = np.asarray(gfactor, dtype=np.float32)
    finite = g[np.isfinite(g)]
    top = float(finite.max()) if finite.size else 1.0
    return np.ascontiguousarray(g), {
        "name": name,
        "colormap": "inferno",
        "contrast_limits": (min(1.0, top), max(top, 1.0 + 1e-3)),
        "axis_labels": (*(f"other {i}" for i in range(g.ndim - 3)), "z", "y", "x"),
        "scale": (1.0,) * (g.ndim - 3) + tuple(scale_zyx),
    }


def iterates_layer(
    iterates: np.ndarray, name: str, scale_zyx: tuple[float, ...]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Every solver iterate ``(iterations, n_maps, z, y, x)`` (complex) as a magnitude stack.

    The iteration axis comes first, so napari's slider steps through the iterations (the
    iteration movie); the contrast limits are those of the last iterate.
    """
    mag = np.abs(np.asarray(iterates)).astype(np.float32)
    last = mag[-1]
    top = float(np.percentile(last, 99.5)) if last.size else 1.0
    return np.ascontiguousarray(mag), {
        "name": name,
        "colormap": "gray",
        "contrast_limits": (0.0, max(top, 1e-12)),
        "axis_labels": ("iteration", "map", "z", "y", "x"),
        "scale": (1.0, 1.0, *scale_zyx),
    }


def voxel_scale(image: ImageData) -> tuple[float, float, float]:
    """``(dz, dy, dx)`` in mm (1 where the geometry has no size)."""
    dx, dy, dz = image.geometry.voxel_size_mm
    return (dz or 1.0, dy or 1.0, dx or 1.0)


def reusable_layer(viewer: napari.viewer.Viewer, name: str, ndim: int) -> napari.layers.Image | None:
    """The image layer called ``name`` if ``data`` of ``ndim`` dimensions can be assigned to it."""
    from napari_mrrecon.model.entries import find_layer

    layer = find_layer(viewer.layers, name)
    if layer is not None and layer.ndim == ndim and getattr(layer, "rgb", True) is False:
        return layer
    return None


def upsert_image(viewer: napari.viewer.Viewer, data: np.ndarray, **kwargs: Any) -> napari.layers.Image:
    """Put ``data`` into the image layer named ``kwargs["name"]`` (added, or replaced in place).

    The layer is reused when its number of dimensions matches (:func:`assign_image`: its
    place in the layer list, visibility and display settings survive re-runs, and adding a
    layer costs ~10× more than assigning data); otherwise it is replaced. ``visible`` is
    used only when the layer is added. Main thread only.
    """
    layer = reusable_layer(viewer, kwargs["name"], data.ndim)
    if layer is not None:
        assign_image(layer, data, **{k: v for k, v in kwargs.items() if k not in ("name", "visible")})
        return layer
    return replace_image(viewer, data, **kwargs)


def replace_image(viewer: napari.viewer.Viewer, data: np.ndarray, **kwargs: Any) -> napari.layers.Image:
    """Add ``data`` as the image layer ``kwargs["name"]``, replacing one of that name (main thread)."""
    from napari_mrrecon.model.entries import find_layer

    if (stale := find_layer(viewer.layers, kwargs["name"])) is not None:
        viewer.layers.remove(stale)
    return viewer.add_image(data, **kwargs)


def viewer_grid(viewer: napari.viewer.Viewer) -> Any:
    """The viewer's grid settings (``viewer.canvas.grid`` since napari 0.9, else ``viewer.grid``)."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid
