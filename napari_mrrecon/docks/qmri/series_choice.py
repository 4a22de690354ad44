"""The qMRI dock's input: a combo box of the image layers a fit can start from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari_mrrecon._qt.layer_choice import LayerChoice
from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.model.qmri import SeriesEntry, usable_as_series

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["SeriesChoice"]


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
