"""Combo boxes that follow the viewer's layer list (every layer choice of the docks).

:class:`LayerChoice` lists the layers a predicate accepts (optionally after fixed entries
such as "none"), keeps its choice when the list changes and follows renames;
:class:`DatasetChoice` lists the plugin's raw datasets (and sequences). :func:`replace_items`
refills any combo box without signals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QWidget
from superqt.utils import signals_blocked

from napari_mrrecon.model.entries import RawDataset, entry_of, find_layer, raw_of

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["DatasetChoice", "LayerChoice", "replace_items"]


def replace_items(combo: QComboBox, names: list[str]) -> bool:
    """Replace the items of ``combo`` (without signals); keep its text if still listed.

    Returns True when the previous text was kept, False when it is gone (the caller picks).
    """
    current = combo.currentText()
    with signals_blocked(combo):
        combo.clear()
        combo.addItems(names)
    if current in names:
        combo.setCurrentText(current)
        return True
    return False


class LayerChoice(QComboBox):
    """Combo box that follows the viewer's layer list (base of the docks' layer choices).

    New layers are added (and selected when ``selects_new`` says so), removed or renamed
    layers update the list. Fixed entries (``first``, e.g. "none") can come before the
    layers; when the chosen layer goes away, the first fixed entry (else the last layer)
    becomes the choice.

    Parameters
    ----------
    viewer
        The napari viewer.
    lists
        ``layer → bool``: the layers listed, in the viewer's order.
    selects_new
        ``layer → bool``: a newly inserted layer for which it is True becomes the choice.
    parent
        Parent widget.
    tooltip
        Tooltip of the combo box.
    first
        Entries listed before the layers (not layers: :meth:`layer` gives None for them).

    Attributes
    ----------
    refreshed
        Qt signal emitted after each rebuild of the list.
    """

    refreshed = Signal()

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        lists: Callable[[napari.layers.Layer], bool],
        selects_new: Callable[[napari.layers.Layer], bool] = lambda layer: False,
        parent: QWidget | None = None,
        *,
        tooltip: str = "",
        first: Sequence[str] = (),
    ) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._first = tuple(first)
        self._lists = lists
        self._selects_new = selects_new
        self.setToolTip(tooltip)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self.refresh)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        # a choice can go before the viewer (a form row rebuilt): stop following the layers then
        self.destroyed.connect(partial(_unfollow, viewer, self._on_inserted, self.refresh))
        self.refresh()

    def listed_names(self) -> list[str]:
        """Names of the layers listed, in the viewer's order."""
        return [layer.name for layer in self._viewer.layers if self._lists(layer)]

    def _on_inserted(self, event: Any) -> None:
        layer = event.value
        layer.events.name.connect(self.refresh)
        self.refresh()
        if self._selects_new(layer):
            self.setCurrentText(layer.name)

    def refresh(self, event: Any = None) -> None:
        """Rebuild the list from the viewer's layers, keeping the selection if possible."""
        names = [*self._first, *self.listed_names()]
        if not replace_items(self, names) and names:
            self.setCurrentIndex(0 if self._first else len(names) - 1)
        self.currentIndexChanged.emit(self.currentIndex())
        self.refreshed.emit()

    def layer(self) -> napari.layers.Layer | None:
        """The chosen layer, or None (nothing chosen, or a fixed entry)."""
        text = self.currentText()
        if not text or text in self._first:
            return None
        return find_layer(self._viewer.layers, text)


def _unfollow(viewer: napari.viewer.Viewer, on_inserted: Any, refresh: Any, *_: Any) -> None:
    """Disconnect a deleted choice from the viewer's layer events."""
    viewer.layers.events.inserted.disconnect(on_inserted)
    viewer.layers.events.removed.disconnect(refresh)
    for layer in viewer.layers:
        layer.events.name.disconnect(refresh)


class DatasetChoice(LayerChoice):
    """Combo box of the viewer's loaded raw datasets (k-space layers of the plugin).

    Follows the layer list: new datasets are added (and selected), removed or renamed
    layers update the list.

    Parameters
    ----------
    viewer
        The napari viewer.
    parent
        Parent widget.
    kinds
        Model entry types listed (default: raw datasets only; the Trajectory dock also
        lists :class:`~napari_mrrecon.model.entries.SequenceDataset`).
    tooltip
        Tooltip of the combo box.
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        parent: QWidget | None = None,
        *,
        kinds: tuple[type, ...] = (RawDataset,),
        tooltip: str = "Raw dataset (a k-space layer opened from an ISMRMRD or twix file)",
    ) -> None:
        def listed(layer: napari.layers.Layer) -> bool:
            return isinstance(entry_of(layer), kinds)

        self._kinds = kinds
        super().__init__(viewer, listed, listed, parent, tooltip=tooltip)

    def dataset(self) -> RawDataset | None:
        """The chosen raw dataset, or None."""
        return raw_of(self.layer())

    def entry(self) -> object:
        """The chosen layer's model entry (any of ``kinds``), or None."""
        return entry_of(self.layer())
