"""The qMRI dock's input: a combo box of the layers a fit can start from (series and raw data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari_mrrecon._qt.layer_choice import LayerChoice
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.model.entries import raw_of
from napari_mrrecon.model.qmri import SeriesEntry, usable_as_series

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["SeriesChoice"]


class SeriesChoice(LayerChoice):
    """Combo box of the layers a fit can start from (newest series or multi-contrast raw data selected).

    Lists the layers :func:`usable_as_series` (not the preview) and the raw datasets; a new
    layer whose metadata holds a :class:`SeriesEntry`, or a raw dataset with one contrast axis,
    becomes the choice.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(
            viewer,
            lambda la: la.name != PREVIEW_LAYER and (raw_of(la) is not None or usable_as_series(la)),
            lambda la: (
                la.name != PREVIEW_LAYER
                and (isinstance(la.metadata.get("mrrecon"), SeriesEntry) or _multi_contrast(la))
            ),
            tooltip="Image series, contrast axis first (n, [z,] y, x), or multi-contrast raw data (k-space)",
        )


def _multi_contrast(layer: napari.layers.Layer) -> bool:
    """True for a raw dataset with exactly one ``other`` axis (contrasts)."""
    dataset = raw_of(layer)
    return dataset is not None and len(dataset.kspace.other_axes) == 1
