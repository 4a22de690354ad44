"""The plugin's model: complex data that napari cannot hold, attached to layers.

napari cannot display complex arrays, so every layer the plugin creates shows a float32
*view* and carries its complex master in ``layer.metadata["mrrecon"]``:

- a k-space layer (log-magnitude) carries a :class:`RawDataset` with the
  :class:`~recon_engine.data.KSpace` read from the file;
- a reconstruction layer carries a :class:`ReconResult` with the complex
  :class:`~recon_engine.data.ImageData` and the view currently shown;
- a Pulseq trajectory layer (points) carries a :class:`SequenceDataset` with the
  :class:`~recon_engine.io.pulseq.PulseqSequence` read from the ``.seq`` file.

Raw datasets and sequences also carry an :class:`AcquisitionSelection`: the acquisitions
(readouts, ADC events) picked in one dock (Metadata table, Trajectory box) and highlighted
in the others.

The viewer's layer list is therefore the per-viewer registry: closing a layer drops its
data, and two viewers never share entries. Export always starts from the master.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from napari_mrrecon.model.trajectory import TrajectoryData
    from recon_engine.data import ImageData, KSpace
    from recon_engine.io.pulseq import PulseqSequence

__all__ = [
    "METADATA_KEY",
    "AcquisitionSelection",
    "RawDataset",
    "ReconResult",
    "SequenceDataset",
    "entry_of",
    "find_layer",
    "layers_with",
    "raw_of",
    "result_name",
    "result_of",
    "sequence_of",
]

#: Key of the plugin's entry in ``layer.metadata``.
METADATA_KEY = "mrrecon"


class AcquisitionSelection:
    """The acquisitions selected in one dock, highlighted in the others.

    Indices are rows of the dataset's acquisition table (raw data) or ADC event numbers
    (sequences). :attr:`changed` is emitted with the new indices (``int64 (n,)``, sorted,
    unique) whenever they change.
    """

    changed = Signal(object)

    def __init__(self) -> None:
        self.indices = np.zeros(0, dtype=np.int64)

    def set(self, indices: Iterable[int] | np.ndarray) -> None:
        """Select ``indices`` (any order, duplicates ignored); empty clears."""
        values = indices if isinstance(indices, np.ndarray) else np.fromiter(indices, dtype=np.int64)
        new = np.unique(values.astype(np.int64, copy=False))
        if np.array_equal(new, self.indices):
            return
        self.indices = new
        self.changed.emit(new)


@dataclass(eq=False)
class RawDataset:
    """Raw data opened from a file, attached to its k-space layer.

    Attributes
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``.
    name
        Short name (the file stem) used for derived layers.
    selection
        Selected acquisitions (rows of ``kspace.acquisitions``).
    """

    kspace: KSpace
    name: str
    selection: AcquisitionSelection = field(default_factory=AcquisitionSelection)


@dataclass(eq=False)
class SequenceDataset:
    """A Pulseq sequence opened from a ``.seq`` file, attached to its trajectory layer.

    Attributes
    ----------
    sequence
        The parsed sequence (blocks, waveforms, ADC events, labels).
    name
        Short name (the file stem).
    path
        The ``.seq`` file (the MR Reconstruction dock re-reads raw data with it).
    trajectory
        The ADC trajectory as the Trajectory dock plots it (computed by the reader for
        the points layer, kept so that the dock does not compute it again), or None.
    selection
        Selected ADC events (acquisition numbers in sequence order).
    """

    sequence: PulseqSequence
    name: str
    path: str
    trajectory: TrajectoryData | None = None
    selection: AcquisitionSelection = field(default_factory=AcquisitionSelection)


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


def sequence_of(layer: napari.layers.Layer | None) -> SequenceDataset | None:
    """The Pulseq sequence attached to ``layer``, or None."""
    entry = _entry(None if layer is None else layer.metadata)
    return entry if isinstance(entry, SequenceDataset) else None


def entry_of(layer: napari.layers.Layer | None) -> object:
    """The plugin's model entry of ``layer`` (any kind), or None."""
    return _entry(None if layer is None else layer.metadata)


def layers_with(viewer: napari.viewer.Viewer, kind: type | tuple[type, ...]) -> list[napari.layers.Layer]:
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
