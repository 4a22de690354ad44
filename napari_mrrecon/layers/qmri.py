"""qMRI layers: a series as a layer, fitted maps as layers, and how maps look.

:func:`series_layer` makes a series' layer (its :class:`~napari_mrrecon.model.qmri.SeriesEntry`
in the metadata), :func:`show_maps` one layer per fitted map (each with a
:class:`~napari_mrrecon.model.qmri.MapsEntry`), reused on re-runs.

Display only: colormaps and contrast limits in ms per map name (:data:`MAP_STYLES`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mrrecon.model.entries import METADATA_KEY, find_layer
from napari_mrrecon.model.qmri import MapsEntry, SeriesEntry

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from recon_engine.qmri import FitResult, QMRISeries

__all__ = [
    "MAP_LABELS",
    "MAP_STYLES",
    "map_layer",
    "map_layer_name",
    "map_style",
    "series_layer",
    "show_maps",
]


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
    from napari_mrrecon.layers.views import upsert_image

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
