"""Coil sensitivity operator: image → coil images.

``(S x)_c = Σ_m S_{m,c} · x_m`` for ``n_maps`` sets of maps (ESPIRiT may give two; most
methods one). The adjoint combines coils: ``(Sᴴ y)_m = Σ_c conj(S_{m,c}) · y_c``.

References
----------
K. P. Pruessmann, M. Weiger, M. B. Scheidegger, P. Boesiger, "SENSE: sensitivity encoding for
fast MRI", Magn. Reson. Med. 42:952–962 (1999),
doi:10.1002/(SICI)1522-2594(199911)42:5<952::AID-MRM16>3.0.CO;2-S.
"""

from __future__ import annotations

import torch

from recon_engine.errors import DataError
from recon_engine.operators.base import LinearOperator

__all__ = ["SensitivityOp"]


class SensitivityOp(LinearOperator):
    """Multiply by coil sensitivities.

    Parameters
    ----------
    maps
        complex ``(*batch, n_maps, coils, z, y, x)`` (``z = 1`` for 2D), on the device of the
        data; leading ``batch`` axes (e.g. one map set per slice) broadcast against the data's.

    Notes
    -----
    Shapes: forward ``(*, n_maps, z, y, x)`` → ``(*, coils, z, y, x)``; the adjoint goes back.
    """

    def __init__(self, maps: torch.Tensor) -> None:
        if maps.ndim < 5:
            raise DataError(f"coil maps must be (n_maps, coils, z, y, x), got shape {tuple(maps.shape)}")
        self.maps = maps.to(torch.complex64)

    @property
    def n_maps(self) -> int:
        """Number of map sets."""
        return int(self.maps.shape[-5])

    @property
    def n_coils(self) -> int:
        """Number of coils."""
        return int(self.maps.shape[-4])

    def _check(self, x: torch.Tensor, n: int, what: str) -> None:
        if x.ndim < 4 or x.shape[-4] != n or tuple(x.shape[-3:]) != tuple(self.maps.shape[-3:]):
            raise DataError(
                f"{what} of shape {tuple(x.shape)} does not fit coil maps {tuple(self.maps.shape)}: "
                f"expected (*, {n}, {', '.join(str(s) for s in self.maps.shape[-3:])})"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``(*, n_maps, z, y, x)`` → coil images ``(*, coils, z, y, x)``."""
        self._check(x, self.n_maps, "image")
        return (self.maps * x.unsqueeze(-4)).sum(dim=-5)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Coil images ``(*, coils, z, y, x)`` → ``(*, n_maps, z, y, x)`` (``Σ_c conj(S) y_c``)."""
        self._check(y, self.n_coils, "coil images")
        return (self.maps.conj() * y.unsqueeze(-5)).sum(dim=-4)
