"""Raw k-space container."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.geometry import Geometry
from recon_engine.data.header import MRHeader

__all__ = ["OTHER_AXES", "KSpace"]

#: Canonical order of the labelled ``other`` axes; only axes with more than one entry
#: are kept, in this order.
OTHER_AXES: tuple[str, ...] = ("repetition", "set", "phase", "contrast", "average", "slice")


@dataclass(frozen=True)
class KSpace:
    """Sorted Cartesian raw data of one encoding space.

    Attributes
    ----------
    data
        complex64 tensor ``(*other, coils, k2, k1, k0)``; unsampled positions are 0.
        ``k0`` is the readout including oversampling, ``k1``/``k2`` the phase-encoding
        steps of the encoded matrix; the k-space centre is at index ``N // 2``.
    header
        Parsed ISMRMRD header.
    geometry
        Geometry of the *encoded* space (FOV including readout oversampling).
    other_axes
        Names of the leading ``other`` axes, e.g. ``("contrast", "slice")``.
    sampling_mask
        bool tensor ``(*other, k2, k1)``: True where a readout was acquired.
    calibration_mask
        bool tensor ``(k2, k1)``: phase-encoding lines flagged as parallel-imaging
        calibration (with or without imaging).
    noise
        complex64 tensor ``(coils, samples)`` of the noise scans, or None.
    navigators
        complex64 tensor ``(n_navigators, coils, k0)`` of navigator / phase-correction
        readouts (kept apart from image k-space), or None.
    trajectory
        float32 tensor ``(*other, k2, k1, k0, 3)`` with ``(kz, ky, kx)`` as stored in the
        file (units of the writer), or None when the file has no trajectory.
    acquisitions
        Headers of all acquisitions in the file (imaging and not).
    source
        Path of the file it was read from, or None.
    """

    data: torch.Tensor
    header: MRHeader
    geometry: Geometry
    other_axes: tuple[str, ...]
    sampling_mask: torch.Tensor
    calibration_mask: torch.Tensor
    acquisitions: AcquisitionTable
    noise: torch.Tensor | None = None
    navigators: torch.Tensor | None = None
    trajectory: torch.Tensor | None = None
    source: str | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_coils(self) -> int:
        """Number of receive channels."""
        return int(self.data.shape[-4])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`: ``(*other, coils, k2, k1, k0)``."""
        return tuple(self.data.shape)

    @property
    def acceleration(self) -> float:
        """Effective acceleration: encoded phase-encoding positions / acquired ones."""
        mask = self.sampling_mask.reshape(-1, *self.sampling_mask.shape[-2:])[0]
        n = int(mask.sum())
        return float(mask.numel()) / n if n else float("inf")

    def to(self, device: torch.device) -> KSpace:
        """Copy with tensors on ``device``."""

        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return replace(
            self,
            data=self.data.to(device),
            sampling_mask=self.sampling_mask.to(device),
            calibration_mask=self.calibration_mask.to(device),
            noise=mv(self.noise),
            navigators=mv(self.navigators),
            trajectory=mv(self.trajectory),
        )
