"""Image container."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from recon_engine.data.geometry import Geometry
from recon_engine.data.header import MRHeader

__all__ = ["ImageData"]


@dataclass(frozen=True)
class ImageData:
    """A (complex) image series with its geometry.

    Attributes
    ----------
    data
        complex64 tensor ``(*other, coils, z, y, x)``; ``coils == 1`` after coil
        combination. ``x`` is the read direction, ``y`` phase encoding, ``z`` slice or
        partition direction (``z == 1`` for a 2D slice).
    geometry
        Matrix, FOV (mm), position and orientation (LPS) of the ``(z, y, x)`` volume.
    other_axes
        Names of the leading ``other`` axes, e.g. ``("slice",)``.
    header
        The ISMRMRD header of the raw data it came from, or None.
    meta
        Free-form provenance (method, coil combination, ...).
    """

    data: torch.Tensor
    geometry: Geometry
    other_axes: tuple[str, ...] = ()
    header: MRHeader | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`: ``(*other, coils, z, y, x)``."""
        return tuple(self.data.shape)

    def numpy(self) -> np.ndarray:
        """The complex data as a complex64 NumPy array (on the CPU)."""
        return self.data.detach().to("cpu").numpy().astype(np.complex64, copy=False)

    def magnitude(self) -> np.ndarray:
        """``|data|`` as float32 NumPy array, same shape as :attr:`data`."""
        return self.data.detach().abs().to("cpu").numpy().astype(np.float32, copy=False)

    def phase(self) -> np.ndarray:
        """``angle(data)`` in radians, ``[-π, π]``, float32 NumPy array."""
        return self.data.detach().angle().to("cpu").numpy().astype(np.float32, copy=False)

    def volumes(self) -> np.ndarray:
        """Complex data as ``(n_volumes, z, y, x)`` with ``other`` and coil axes flattened."""
        a = self.numpy()
        return a.reshape(-1, *a.shape[-3:])

    def squeezed(self) -> np.ndarray:
        """Complex data with all singleton axes removed (a 2D slice becomes ``(y, x)``)."""
        return np.squeeze(self.numpy())

    def to(self, device: torch.device) -> ImageData:
        """Copy with the data on ``device``."""
        return replace(self, data=self.data.to(device))
