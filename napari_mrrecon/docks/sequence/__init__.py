"""The "Sequence" dock: the sequence diagram of a Pulseq sequence, and "Simulate…" on a phantom.

- :mod:`.widget`: :class:`SequenceWidget` (RF, gradients, ADC and labels for a block or
  time range) with the "Simulate…" button that shows the simulation panel;
- :mod:`.simulate`: :class:`SimulatePanel`, the engine's Bloch simulation of the chosen
  sequence (phantom, resolution, coils, noise, B0, device) run in the background; its result
  is a raw dataset layer like one opened from an ISMRMRD file.
"""

from napari_mrrecon.docks.sequence.simulate import SIMULATED_SUFFIX, SimulatePanel
from napari_mrrecon.docks.sequence.widget import (
    DEFAULT_BLOCKS,
    MAX_BLOCK_LINES,
    MAX_LABEL_TEXTS,
    TRACKS,
    SequenceWidget,
)

__all__ = [
    "DEFAULT_BLOCKS",
    "MAX_BLOCK_LINES",
    "MAX_LABEL_TEXTS",
    "SIMULATED_SUFFIX",
    "TRACKS",
    "SequenceWidget",
    "SimulatePanel",
]
