"""qMRI in the plugin's model: series and fitted maps attached to layers, and how maps look.

- A series layer (float32 magnitude, contrast axis first: ``(n, [z,] y, x)``) carries a
  :class:`SeriesEntry` with the engine's :class:`~recon_engine.qmri.QMRISeries` (complex or
  float master, times, flip angles, TR, affine) in ``layer.metadata["mrrecon"]``.
- A map layer (``(y, x)`` or ``(z, y, x)``) carries a :class:`MapsEntry` with the whole
  :class:`~recon_engine.qmri.FitResult` (every map, the mask, the times and the model, for
  the voxel curve and "Save maps…"), and its unit in ``layer.metadata["unit"]``.

:func:`series_of` turns the chosen layer into a series: a series layer gives its entry, a
reconstruction result of the MR Reconstruction dock goes through
:func:`recon_engine.qmri.series_from_image`, any other image layer with at least three
axes is taken as it is (contrast axis first, no times).

Display only: colormaps and contrast limits in ms per map name (:data:`MAP_STYLES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mrrecon._base import PREVIEW_LAYER, LayerChoice
from napari_mrrecon._model import METADATA_KEY, entry_of, find_layer, result_of

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from recon_engine.qmri import FitResult, QMRISeries

__all__ = [
    "MAP_LABELS",
    "MAP_STYLES",
    "MapsEntry",
    "SeriesChoice",
    "SeriesEntry",
    "map_layer",
    "map_layer_name",
    "map_style",
    "maps_of",
    "series_layer",
    "series_of",
    "show_maps",
    "usable_as_series",
]


@dataclass(eq=False)
class SeriesEntry:
    """An image series for fitting, attached to the layer that shows its magnitude.

    Attributes
    ----------
    series
        ``data`` ``(n, [z,] y, x)`` float32 or complex64, ``times`` ``(n,)`` ms or None,
        ``flip_angles`` ``(n,)`` deg or None, ``tr`` ms or None, ``affine`` 4×4 or None.
    name
        Short name (file stem) for derived layers.
    """

    series: QMRISeries
    name: str


@dataclass(eq=False)
class MapsEntry:
    """A fit result, attached to each layer that shows one of its maps.

    Attributes
    ----------
    result
        Maps ``(y, x)`` or ``(z, y, x)`` float32 (NaN outside the mask), units, mask, times.
    parameter
        The map this layer shows (a key of ``result.maps``).
    name
        Name of the series that was fitted.
    affine
        4×4 RAS affine (mm) of the series, for NIfTI export, or None.
    """

    result: FitResult
    parameter: str
    name: str
    affine: np.ndarray | None = None


#: Display names of map keys (anything else is shown as it is).
MAP_LABELS: dict[str, str] = {
    "t1": "T1",
    "t1_star": "T1*",
    "t2": "T2",
    "t2star": "T2*",
    "m0": "M0",
    "r2": "R²",
    "b1": "B1",
    "residual": "residual",
}

#: Colormap and contrast limits of a map key; ``None`` limits: 0 … 99th percentile.
MAP_STYLES: dict[str, tuple[str, tuple[float, float] | None]] = {
    "t1": ("magma", (0.0, 3000.0)),
    "t1_star": ("magma", (0.0, 3000.0)),
    "t2": ("inferno", (0.0, 300.0)),
    "t2star": ("inferno", (0.0, 150.0)),
    "m0": ("gray", None),
    "r2": ("viridis", (0.0, 1.0)),
    "b1": ("viridis", (0.0, 1.2)),
    "correlation": ("viridis", (0.0, 1.0)),
    "residual": ("gray", None),
}


def usable_as_series(layer: napari.layers.Layer) -> bool:
    """True for image layers a fit can start from (series, recon results, ≥ 3-axis images)."""
    entry = entry_of(layer)
    if isinstance(entry, SeriesEntry) or result_of(layer) is not None:
        return True
    if isinstance(entry, MapsEntry) or type(layer).__name__ != "Image":
        return False
    return not getattr(layer, "rgb", False) and layer.ndim >= 3


def series_of(layer: napari.layers.Layer) -> QMRISeries:
    """The series to fit from ``layer`` (main thread).

    Raises
    ------
    recon_engine.errors.ReconError
        A reconstruction result that is not a multi-contrast series (from the engine).
    ValueError
        The layer cannot be a series (fewer than three axes).
    """
    entry = entry_of(layer)
    if isinstance(entry, SeriesEntry):
        return entry.series
    recon = result_of(layer)
    from recon_engine.qmri import QMRISeries, series_from_image

    if recon is not None:
        return series_from_image(recon.image)
    data = np.asarray(layer.data)
    if data.ndim < 3:
        raise ValueError(f"{layer.name} has {data.ndim} axes; a series needs (n, [z,] y, x).")
    return QMRISeries(
        data=np.ascontiguousarray(data, dtype=np.float32),
        times=None,
        flip_angles=None,
        tr=None,
        affine=None,
        source=f"napari layer {layer.name}",
    )


def maps_of(layer: napari.layers.Layer | None) -> MapsEntry | None:
    """The fit result entry attached to ``layer``, or None."""
    entry = entry_of(layer)
    return entry if isinstance(entry, MapsEntry) else None


def series_layer(series: QMRISeries, name: str, *, times_label: str = "contrast") -> tuple[Any, ...]:
    """Layer data of a series: float32 magnitude ``(n, [z,] y, x)``, the series in the metadata."""
    data = np.abs(series.data) if np.iscomplexobj(series.data) else series.data
    data = np.ascontiguousarray(data, dtype=np.float32)
    spatial = ("z", "y", "x")[-(data.ndim - 1) :]
    finite = data[np.isfinite(data)]
    top = float(finite.max()) if finite.size else 1.0
    kwargs = {
        "name": name,
        "colormap": "gray",
        "contrast_limits": (0.0, top if top > 0 else 1.0),
        "axis_labels": (times_label, *spatial),
        "metadata": {METADATA_KEY: SeriesEntry(series=series, name=name)},
    }
    return (data, kwargs, "image")


def map_layer_name(parameter: str, unit: str) -> str:
    """``"T1 [ms]"``, ``"R²"`` (no brackets without a unit)."""
    label = MAP_LABELS.get(parameter, parameter)
    return f"{label} [{unit}]" if unit else label


def map_style(parameter: str, data: np.ndarray) -> tuple[str, tuple[float, float]]:
    """Colormap and contrast limits of a map (fixed ones in ms for times, else 0 … p99)."""
    colormap, limits = MAP_STYLES.get(parameter, ("gray", None))
    if limits is not None:
        return colormap, limits
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return colormap, (0.0, 1.0)
    lo = min(0.0, float(np.percentile(finite, 1)))
    hi = float(np.percentile(finite, 99))
    return colormap, (lo, hi if hi > lo else lo + 1.0)


def map_layer(
    entry: MapsEntry, *, scale: tuple[float, ...] | None = None, translate: tuple[float, ...] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Data and ``add_image`` keyword arguments of the layer that shows ``entry.parameter``.

    The unit goes into ``metadata["unit"]``; ``scale``/``translate`` are the spatial ones of
    the series layer, so maps overlay it.
    """
    result = entry.result
    data = np.ascontiguousarray(result.maps[entry.parameter], dtype=np.float32)
    unit = result.units.get(entry.parameter, "")
    colormap, limits = map_style(entry.parameter, data)
    kwargs: dict[str, Any] = {
        "name": map_layer_name(entry.parameter, unit),
        "colormap": colormap,
        "contrast_limits": limits,
        "axis_labels": ("z", "y", "x")[-data.ndim :],
        "metadata": {METADATA_KEY: entry, "unit": unit, "parameter": entry.parameter},
    }
    if scale is not None:
        kwargs["scale"] = scale
    if translate is not None:
        kwargs["translate"] = translate
    return data, kwargs


def show_maps(
    viewer: napari.viewer.Viewer,
    result: FitResult,
    *,
    main: str,
    series_name: str,
    affine: np.ndarray | None,
    over: napari.layers.Layer,
    replace: list[str],
) -> list[str]:
    """Put every map of ``result`` into its layer (main thread); returns the layer names.

    Layers are reused by name; those in ``replace`` (the previous fit's) that the new fit does
    not have are removed. The maps take the spatial scale/translate of the series layer
    ``over``; the main map comes last (on top), visible and selected, the others hidden. The
    contrast-limit range also covers the data (CSF's T1 of 4000 ms stays reachable).
    """
    from napari_mrrecon._views import upsert_image

    ndim = next(iter(result.maps.values())).ndim
    scale, translate = tuple(over.scale[-ndim:]), tuple(over.translate[-ndim:])
    quality = [k for k in ("residual", "r2") if k in result.maps]
    keys = [k for k in result.maps if k not in (*quality, main)] + quality
    keys += [main] if main in result.maps else []
    names = []
    layer = None
    for key in keys:
        data, kwargs = map_layer(
            MapsEntry(result, key, series_name, affine), scale=scale, translate=translate
        )
        layer = upsert_image(viewer, data, **kwargs)
        lo, hi = kwargs["contrast_limits"]
        finite = data[np.isfinite(data)]
        if finite.size:
            layer.contrast_limits_range = (min(lo, float(finite.min())), max(hi, float(finite.max())))
        layer.contrast_limits = (lo, hi)
        layer.visible = key == main
        names.append(layer.name)
    for stale in replace:
        if stale not in names and (old := find_layer(viewer.layers, stale)) is not None:
            viewer.layers.remove(old)
    if layer is not None:
        viewer.layers.selection.active = layer
    return names


class SeriesChoice(LayerChoice):
    """Combo box of the image layers a fit can start from (newest series selected).

    Lists the layers :func:`usable_as_series` (not the preview); a new layer whose metadata
    holds a :class:`SeriesEntry` becomes the choice.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(
            viewer,
            lambda la: la.name != PREVIEW_LAYER and usable_as_series(la),
            lambda la: la.name != PREVIEW_LAYER and isinstance(la.metadata.get("mrrecon"), SeriesEntry),
            tooltip="Image series, contrast axis first: (n, [z,] y, x)",
        )
