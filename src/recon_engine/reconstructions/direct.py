"""Direct Cartesian reconstruction: prewhitening, FFT, oversampling removal, coil combination.

Undersampled data is zero-filled (unsampled lines stay 0), so it shows the aliasing
that parallel imaging later removes.
"""

from __future__ import annotations

from typing import Literal

import torch

from recon_engine.calibration.oversampling import fit_to_recon_space
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import ParameterError
from recon_engine.operators.fft import centered_ifft
from recon_engine.progress import PreviewThrottle, ProgressEvent, Steps
from recon_engine.reconstructions._common import (
    assemble_image,
    combine_coils,
    preview_of,
    prewhiten_with_noise_scan,
    volume_done,
)

__all__ = ["COMBINE_METHODS", "CombineMethod", "average_kspace", "direct_steps", "preview_of"]

CombineMethod = Literal["rss", "adaptive", "none"]
COMBINE_METHODS: tuple[str, ...] = ("rss", "adaptive", "none")


def average_kspace(kspace: KSpace) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Average repeated acquisitions (the ``average`` axis), weighting by what was sampled.

    Returns
    -------
    data, other_axes
        complex ``(*other', coils, k2, k1, k0)`` without the ``average`` axis.
    """
    if "average" not in kspace.other_axes:
        return kspace.data, kspace.other_axes
    ax = kspace.other_axes.index("average")
    counts = kspace.sampling_mask.sum(dim=ax).clamp_min(1).to(kspace.data.real.dtype)
    summed = kspace.data.sum(dim=ax)
    data = summed / counts.unsqueeze(-3).unsqueeze(-1)
    axes = tuple(a for a in kspace.other_axes if a != "average")
    return data, axes


def direct_steps(
    kspace: KSpace,
    *,
    combine: CombineMethod = "rss",
    prewhitening: bool = True,
    kernel_size: int = 7,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """Direct (zero-filled) Cartesian reconstruction as a progress generator.

    Steps: move to ``device``; prewhiten with the noise scan (when present and
    ``prewhitening``); average the ``average`` axis; centred inverse FFT in 2D (one
    partition) or 3D; crop/resample to the recon space (removes readout oversampling);
    combine coils. One event is yielded per volume of ``other``.

    Parameters
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``; Cartesian.
    combine
        ``"rss"`` (root-sum-of-squares), ``"adaptive"`` (Walsh) or ``"none"``
        (keep coil images).
    prewhitening
        Decorrelate the coils using ``kspace.noise``.
    kernel_size
        Neighbourhood (voxels) of the adaptive combination.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ImageData
        complex64 ``(*other, 1, z, y, x)`` (``coils`` instead of 1 for ``"none"``) with
        the recon-space geometry.

    Raises
    ------
    ParameterError
        Non-Cartesian data or an unknown ``combine``.
    """
    if combine not in COMBINE_METHODS:
        raise ParameterError(f"unknown coil combination {combine!r}; choose one of {COMBINE_METHODS}")
    if not kspace.header.is_cartesian:
        raise ParameterError(
            f"trajectory is {kspace.header.trajectory!r}: the direct FFT reconstruction needs "
            "Cartesian data (non-Cartesian data needs a NUFFT)"
        )
    dev = resolve_device(device)
    data, axes = average_kspace(kspace)
    data, whitened = prewhiten_with_noise_scan(data.to(dev, torch.complex64), kspace.noise, prewhitening)
    lead = data.shape[:-4]
    vols = data.reshape(-1, *data.shape[-4:])
    ndim = 3 if vols.shape[-3] > 1 else 2
    throttle = PreviewThrottle()
    outs: list[torch.Tensor] = []
    total = vols.shape[0]
    yield ProgressEvent("fft", 0, total)
    for i in range(total):
        img = fit_to_recon_space(centered_ifft(vols[i], ndim), kspace.header)
        img = combine_coils(img, combine, kernel_size)
        outs.append(img)
        yield volume_done(img, i, total, throttle)
    meta = {"method": "direct", "combine": combine, "prewhitened": whitened, "device": str(dev)}
    return assemble_image(kspace, outs, lead, axes, meta)
