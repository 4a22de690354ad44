"""Where the K-space Explorer's data comes from: the phantom, a raw dataset or an image layer.

:class:`SourceChoice` lists the built-in phantom, every multi-coil raw dataset opened by the
plugin's readers (k-space layers carrying a :class:`~napari_mrrecon.model.entries.RawDataset`) and
every other image layer (a reconstruction, or any 2D picture, turned into k-space with
simulated coils). :meth:`SourceChoice.factory` reads what the chosen source needs on the
main thread and returns a function that builds the
:class:`recon_engine.teaching.ExplorerSource` in the worker (coil maps of raw data may take
a moment to estimate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QComboBox, QWidget
from superqt.utils import signals_blocked

from napari_mrrecon.model.entries import RawDataset, entry_of, find_layer, raw_of, result_of

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from recon_engine.teaching import ExplorerSource

__all__ = ["PHANTOM", "SourceChoice"]

#: Entry of the built-in phantom.
PHANTOM = "phantom"


class SourceChoice(QComboBox):
    """Combo box: the phantom, the loaded raw datasets and the image layers.

    Parameters
    ----------
    viewer
        The viewer.
    exclude
        Predicate for layers never offered (the explorer's own layers).
    parent
        Parent widget.
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        exclude: Callable[[Any], bool],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._exclude = exclude
        self.setToolTip(
            "phantom: built-in Shepp-Logan with simulated coils; a k-space layer: a loaded multi-coil "
            "raw dataset (first slice); an image layer: the image turned into k-space with simulated coils"
        )
        viewer.layers.events.inserted.connect(self.refresh)
        viewer.layers.events.removed.connect(self.refresh)
        self.refresh()

    def candidates(self) -> list[str]:
        """Names offered: the phantom, then raw datasets, then 2D image layers."""
        from napari.layers import Image

        raw, images = [], []
        for layer in self._viewer.layers:
            if self._exclude(layer):
                continue
            if isinstance(entry_of(layer), RawDataset):
                raw.append(layer.name)
            elif isinstance(layer, Image) and not layer.rgb and _image_2d(layer) is not None:
                images.append(layer.name)
        return [PHANTOM, *raw, *images]

    def refresh(self, event: Any = None) -> None:
        """Rebuild the list, keeping the selection when it still exists (no signal then)."""
        current = self.currentText() or PHANTOM
        names = self.candidates()
        if names == [self.itemText(i) for i in range(self.count())]:
            return
        with signals_blocked(self):
            self.clear()
            self.addItems(names)
            self.setCurrentText(current if current in names else PHANTOM)
        if self.currentText() != current:
            self.currentTextChanged.emit(self.currentText())

    def factory(self, *, n: int, coils: int) -> tuple[str, Callable[[], ExplorerSource]]:
        """The chosen source's key and a builder to call in the worker.

        Parameters
        ----------
        n
            Matrix size of the phantom.
        coils
            Number of simulated coils (phantom and image sources).

        Raises
        ------
        ValueError
            The chosen layer is gone or holds no 2D image.
        """
        from recon_engine.teaching import ExplorerSource

        name = self.currentText() or PHANTOM
        if name == PHANTOM:
            return f"phantom {n} {coils}", lambda: ExplorerSource.phantom(n, coils)
        layer = find_layer(self._viewer.layers, name)
        if layer is None:
            raise ValueError(f"Source layer {name!r} is no longer loaded")
        raw = raw_of(layer)
        if raw is not None:
            kspace = raw.kspace
            return f"raw {id(raw)}", lambda: ExplorerSource.from_kspace(kspace, slice_index=0)
        plane = _image_2d(layer)
        if plane is None:
            raise ValueError(f"Layer {name!r} holds no 2D image")
        image = plane.copy()  # the worker must not read an array the user may change
        return (
            f"image {name} {id(layer)} {coils}",
            lambda: ExplorerSource.from_image(image, n_coils=coils, name=name),
        )


def _image_2d(layer: napari.layers.Layer) -> np.ndarray | None:
    """The complex master (a reconstruction) or the displayed 2D plane of an image layer."""
    entry = result_of(layer)
    if entry is not None:
        data = entry.image.numpy()
        data = data.reshape(-1, *data.shape[-2:])
        return data[0] if data.shape[0] == 1 else None
    if layer.ndim != 2:
        return None
    plane = np.asarray(layer.data)
    if plane.ndim != 2 or min(plane.shape) < 8 or plane.dtype.kind not in "biufc":
        return None
    return plane
