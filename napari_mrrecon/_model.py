"""The plugin's model: complex data that napari cannot hold, attached to layers.

napari cannot display complex arrays, so every layer the plugin creates shows a float32
*view* and carries its complex master in ``layer.metadata["mrrecon"]``:

- a k-space layer (log-magnitude) carries a :class:`RawDataset` with the
  :class:`~recon_engine.data.KSpace` read from the file;
- a reconstruction layer carries a :class:`ReconResult` with the complex
  :class:`~recon_engine.data.ImageData` and the view currently shown.

The viewer's layer list is therefore the per-viewer registry: closing a layer drops its
data, and two viewers never share entries. Export always starts from the master.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from recon_engine.data import ImageData, KSpace

__all__ = [
    "METADATA_KEY",
    "RawDataset",
    "ReconResult",
    "find_layer",
    "layers_with",
    "raw_of",
    "result_name",
    "result_of",
]

#: Key of the plugin's entry in ``layer.metadata``.
METADATA_KEY = "mrrecon"


@dataclass(eq=False)
class RawDataset:
    """Raw data opened from a file, attached to its k-space layer.

    Attributes
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``.
    name
        Short name (the file stem) used for derived layers.
    """

    kspace: KSpace
    name: str


@dataclass(eq=False)
class ReconResult:
    """A complex image attached to the layer that displays one view of it.

    Attributes
    ----------
    image
        complex64 ``(*other, coils, z, y, x)`` (``coils == 1`` after combination).
    name
        Name of the dataset it was reconstructed from.
    view
        The view the layer shows: ``"magnitude"``, ``"phase"``, ``"real"`` or ``"imaginary"``.
    """

    image: ImageData
    name: str
    view: str = "magnitude"


def _entry(metadata: Mapping[str, Any] | None) -> object:
    return None if metadata is None else metadata.get(METADATA_KEY)


def raw_of(layer: napari.layers.Layer | None) -> RawDataset | None:
    """The raw dataset attached to ``layer``, or None."""
    entry = _entry(None if layer is None else layer.metadata)
    return entry if isinstance(entry, RawDataset) else None


def result_of(layer: napari.layers.Layer | Mapping[str, Any] | None) -> ReconResult | None:
    """The complex result attached to a layer (or to a layer's ``metadata`` dict), or None."""
    if layer is None:
        return None
    metadata = layer if isinstance(layer, Mapping) else layer.metadata
    entry = _entry(metadata)
    return entry if isinstance(entry, ReconResult) else None


def layers_with(viewer: napari.viewer.Viewer, kind: type) -> list[napari.layers.Layer]:
    """Layers of ``viewer`` whose model entry is of type ``kind`` (in layer-list order)."""
    return [layer for layer in viewer.layers if isinstance(_entry(layer.metadata), kind)]


def find_layer(layers: Iterable[napari.layers.Layer], name: str) -> napari.layers.Layer | None:
    """The layer called ``name``, or None."""
    for layer in layers:
        if layer.name == name:
            return layer
    return None


def result_name(raw_layer_name: str) -> str:
    """Name of the reconstruction layer that belongs to a k-space layer."""
    if "k-space" in raw_layer_name:
        return raw_layer_name.replace("k-space", "recon")
    return f"{raw_layer_name} recon"
