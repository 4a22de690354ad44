"""Open files in a viewer with this plugin's readers (napari's builtin reader also claims ``*.h5``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["PLUGIN", "claims", "open_with_plugin"]

#: The plugin's npe2 name (readers, docks and samples are contributed under it).
PLUGIN = "napari-mrrecon"


def claims(path: str | Path) -> bool:
    """True when one of this plugin's readers (ISMRMRD, twix, Pulseq) reads ``path``."""
    from napari_mrrecon.io.reader import get_reader
    from napari_mrrecon.io.sequence import get_seq_reader
    from napari_mrrecon.io.twix import get_twix_reader

    name = str(path)
    return any(r is not None for r in (get_reader(name), get_twix_reader(name), get_seq_reader(name)))


def open_with_plugin(viewer: napari.viewer.Viewer, path: str | Path) -> list[napari.layers.Layer]:
    """Open ``path`` in ``viewer`` with this plugin's readers; the layers added (main thread)."""
    return list(viewer.open(str(path), plugin=PLUGIN))
