"""The learned denoiser as a plain function of complex images (the prior of ``"pnp"``).

Input scaling: the network was trained on complex images divided by the 99th percentile of
their magnitude (:data:`~recon_engine.learned.data.SCALE_PERCENTILE`); the noise level ``σ``
is the standard deviation of the noise per real component (real and imaginary part each) in
those units. :func:`denoise` does the scaling itself; :class:`LearnedDenoiser` takes images
that are already scaled (as ``"pnp"`` passes them).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import torch

from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.learned.data import normalise
from recon_engine.learned.weights import load_model

__all__ = ["IdentityDenoiser", "LearnedDenoiser", "denoise", "from_planes", "make_denoiser", "to_planes"]

#: Slices per network call (bounds the memory of large volumes).
_CHUNK = 16


def to_planes(x: torch.Tensor) -> torch.Tensor:
    """``(..., z, y, x)`` → the 2D planes the networks see, ``(B, rows, columns)``.

    The ``(y, x)`` planes, except for volumes of one readout sample (``x = 1``, ``z > 1``: a
    phase-encoded ``(k2, k1)`` plane such as BART's ``pics`` examples), whose ``(z, y)`` plane
    is the image.
    """
    if x.ndim >= 3 and x.shape[-1] == 1 and x.shape[-3] > 1:
        return x[..., 0].reshape(-1, *x.shape[-3:-1])
    return x.reshape(-1, *x.shape[-2:])


def from_planes(planes: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`to_planes` for an original ``shape``."""
    if len(shape) >= 3 and shape[-1] == 1 and shape[-3] > 1:
        return planes.reshape(*shape[:-1]).unsqueeze(-1)
    return planes.reshape(shape)


class LearnedDenoiser:
    """The DnCNN of a weights file, applied to scaled complex images.

    Parameters
    ----------
    weights
        ``"builtin"`` or a path to a weights file of a ``"dncnn"`` network.
    device
        Where the network runs.
    """

    def __init__(self, weights: str | os.PathLike[str] = "builtin", device: DeviceLike = "cpu") -> None:
        self.device = resolve_device(device)
        self.model, self.meta = load_model(weights, "dncnn", device=self.device)
        self.name = str(weights)

    @property
    def architecture(self) -> dict[str, Any]:
        """The network's architecture dict."""
        return dict(self.model.architecture)  # type: ignore[arg-type]

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """Denoise scaled images ``(..., z, y, x)`` (planes of :func:`to_planes`) at ``sigma``; same shape."""
        flat = to_planes(x).to(self.device, torch.complex64)
        with torch.no_grad():
            out = torch.cat([self.model(c, float(sigma)) for c in flat.split(_CHUNK)])
        return from_planes(out, x.shape).to(x.device)


class IdentityDenoiser:
    """``D(x) = x``: no prior (``"pnp"`` with it reproduces CG-SENSE)."""

    name = "identity"
    meta: ClassVar[dict[str, Any]] = {}
    architecture: ClassVar[dict[str, Any]] = {"kind": "identity"}

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """Return ``x``."""
        return x


def make_denoiser(weights: str | os.PathLike[str], device: DeviceLike) -> LearnedDenoiser | IdentityDenoiser:
    """``"identity"`` → :class:`IdentityDenoiser`; ``"builtin"`` or a path → :class:`LearnedDenoiser`."""
    if str(weights) == "identity":
        return IdentityDenoiser()
    return LearnedDenoiser(weights, device)


def denoise(
    image: np.ndarray | torch.Tensor,
    sigma: float,
    *,
    weights: str | os.PathLike[str] = "builtin",
    device: DeviceLike = "cpu",
) -> np.ndarray:
    """Denoise images with the learned denoiser, scaling them as it expects.

    Parameters
    ----------
    image
        ``(y, x)`` or ``(n, y, x)`` (slices), real or complex, any intensity units.
    sigma
        Noise std per real component *relative to the 99th percentile of* ``|image|``
        (e.g. 0.05 for 5 %); ``≥ 0``.
    weights
        ``"builtin"`` or a weights file.
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    np.ndarray
        complex64, the shape of ``image``, in its intensity units.
    """
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ParameterError(f"sigma must be a finite number ≥ 0, got {sigma!r}")
    x = torch.as_tensor(np.asarray(image)).to(torch.complex64)
    if x.ndim < 2 or min(x.shape[-2:]) < 3:
        raise DataError(f"denoise needs images (y, x) or (n, y, x), got shape {tuple(x.shape)}")
    scaled, s = normalise(x)
    assert isinstance(scaled, torch.Tensor)
    out = LearnedDenoiser(weights, device)(scaled, float(sigma))
    return (out * s).cpu().numpy().astype(np.complex64)
