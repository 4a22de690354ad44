"""Raw readouts in acquisition order, before they are sorted into k-space.

Every raw-data reader (ISMRMRD, Siemens twix) produces :class:`Readouts`; a Pulseq
sequence can then fill in counters, flags and the trajectory
(:func:`recon_engine.io.pulseq.attach_sequence`), and
:func:`recon_engine.io.sorting.sort_readouts` turns them into a :class:`KSpace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.header import MRHeader
from recon_engine.errors import DataError

__all__ = ["Readouts"]


@dataclass(frozen=True)
class Readouts:
    """All acquisitions of a measurement in the order they were acquired.

    Attributes
    ----------
    header
        Parsed ISMRMRD(-like) header.
    acquisitions
        One ISMRMRD ``AcquisitionHeader`` per readout (noise, navigators, imaging, ...),
        structured array of ``n`` rows (flags, ``idx`` counters, ``center_sample``,
        position and directions, ``trajectory_dimensions``, ...).
    samples
        ``n`` complex64 arrays ``(channels, samples)``.
    trajectories
        ``n`` entries: float32 ``(samples, dims)`` in the writer's units (``dims`` 2 or 3,
        ordered ``kx, ky[, kz]`` as in ISMRMRD), or None for readouts without one.
    source
        File the readouts came from.
    meta
        Reader-specific extras (e.g. ``"trajectory_units"`` when known).
    """

    header: MRHeader
    acquisitions: AcquisitionTable
    samples: list[np.ndarray]
    trajectories: list[np.ndarray | None]
    source: str | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.acquisitions)
        if len(self.samples) != n or len(self.trajectories) != n:
            raise DataError(
                f"{n} acquisition headers but {len(self.samples)} sample blocks and "
                f"{len(self.trajectories)} trajectories"
            )

    def __len__(self) -> int:
        return len(self.acquisitions)

    def with_updates(self, **changes: object) -> Readouts:
        """Copy with some fields replaced (the inputs are never modified)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @staticmethod
    def complex_block(flat: np.ndarray, channels: int, samples: int, where: str) -> np.ndarray:
        """Interleaved float32 samples → complex64 ``(channels, samples)``, checking the size."""
        flat = np.asarray(flat)
        if flat.size != 2 * channels * samples:
            raise DataError(
                f"{where} holds {flat.size // 2} complex samples, header says "
                f"{channels} channels × {samples} samples"
            )
        f32 = flat if flat.dtype == np.float32 else flat.astype(np.float32)
        return np.ascontiguousarray(f32).view(np.complex64).reshape(channels, samples)
