"""qMRI entries of the plugin's model: image series and fitted maps attached to layers.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_mrrecon.model.entries import entry_of, result_of

if TYPE_CHECKING:
    import napari.layers

    from recon_engine.qmri import FitResult, QMRISeries

__all__ = ["MapsEntry", "SeriesEntry", "maps_of", "series_of", "usable_as_series"]


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
