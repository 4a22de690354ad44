"""Set-up shared by the direct reconstructions: prewhitening, coil combination, geometry."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from recon_engine.calibration.coil_combine import adaptive_combine, rss_combine
from recon_engine.calibration.noise import noise_covariance, prewhiten, prewhitening_matrix
from recon_engine.data.geometry import Geometry
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.data.limits import check_allocation
from recon_engine.errors import DataError
from recon_engine.progress import PreviewThrottle, ProgressEvent

__all__ = [
    "assemble_image",
    "combine_coils",
    "nufft_image_shape",
    "preview_of",
    "prewhiten_with_noise_scan",
    "recon_geometry",
    "volume_done",
]


def prewhiten_with_noise_scan(
    data: torch.Tensor, noise: torch.Tensor | None, enabled: bool, *, stacklevel: int = 3
) -> tuple[torch.Tensor, bool]:
    """Decorrelate the coils of ``data`` with the noise scan, when there is a usable one.

    Parameters
    ----------
    data
        complex64 ``(*other, coils, k2, k1, k0)`` on the compute device.
    noise
        complex ``(coils, samples)`` noise scan, or None.
    enabled
        False skips prewhitening.
    stacklevel
        Of the warning issued when the noise scan is unusable.

    Returns
    -------
    data, whitened
        The (possibly) prewhitened data and whether it was prewhitened.
    """
    if not enabled or noise is None or noise.shape[0] != data.shape[-4]:
        return data, False
    try:
        w = prewhitening_matrix(noise_covariance(noise.to(data.device, torch.complex64)))
    except DataError as exc:
        warnings.warn(
            f"noise scan unusable ({exc}); reconstructing without prewhitening", stacklevel=stacklevel
        )
        return data, False
    return prewhiten(data, w), True


def combine_coils(img: torch.Tensor, combine: str, kernel_size: int) -> torch.Tensor:
    """Combine coil images ``(coils, z, y, x)`` → ``(1, z, y, x)`` (``"none"`` keeps them)."""
    if combine == "rss":
        return rss_combine(img, coil_axis=0)
    if combine == "adaptive":
        return adaptive_combine(img[None], kernel_size=kernel_size)[0]
    return img


def recon_geometry(kspace: KSpace, shape_zyx: Sequence[int]) -> Geometry:
    """Geometry of a reconstructed ``(z, y, x)`` volume in the recon space of ``kspace``."""
    g = kspace.geometry
    rf = kspace.header.recon_fov_mm
    z = int(shape_zyx[0])
    fov_z = rf[2] if (z > 1 and rf[2] > 0) else g.fov_mm[2]
    return g.with_matrix((int(shape_zyx[2]), int(shape_zyx[1]), z), (rf[0], rf[1], fov_z))


def nufft_image_shape(kspace: KSpace, traj: torch.Tensor) -> tuple[int, ...]:
    """Image grid of a non-Cartesian reconstruction: ``(z, y, x)`` with ``kz``, else ``(y, x)``.

    Parameters
    ----------
    kspace
        Its ``header.recon_matrix`` ``(x, y, z)`` gives the grid.
    traj
        ``(..., 3)`` trajectory ``(kz, ky, kx)`` in cycles per recon FOV.

    Raises
    ------
    DataError
        ``kz ≠ 0`` but a single partition in the recon matrix.
    """
    nx, ny, nz = kspace.header.recon_matrix
    has_kz = bool((traj[..., 0] != 0).any())
    if has_kz and nz <= 1:
        raise DataError("the trajectory has kz ≠ 0 but the recon matrix has a single partition (z = 1)")
    return (nz, ny, nx) if has_kz else (ny, nx)


def preview_of(volume: torch.Tensor) -> np.ndarray:
    """Float32 magnitude of the central ``z`` plane, RSS over coils: ``(coils, z, y, x)`` → ``(y, x)``."""
    mid = volume[:, volume.shape[1] // 2]
    return torch.sqrt((mid.abs() ** 2).sum(dim=0)).to("cpu", torch.float32).numpy()


def volume_done(image: torch.Tensor, i: int, total: int, throttle: PreviewThrottle) -> ProgressEvent:
    """Progress event for volume ``i`` (0-based) of ``total``, with a preview when one is due.

    The last volume always gets a preview; others at most as often as ``throttle`` allows.
    """
    last = i + 1 == total
    preview = preview_of(image) if (last or throttle.ready()) else None
    return ProgressEvent(f"volume {i + 1}/{total}", i + 1, total, preview)


def assemble_image(
    kspace: KSpace,
    volumes: list[torch.Tensor],
    lead: Sequence[int],
    other_axes: tuple[str, ...],
    meta: Mapping[str, object],
) -> ImageData:
    """Stack per-volume images ``(coils', z, y, x)`` into ``(*lead, coils', z, y, x)`` with recon geometry.

    Raises
    ------
    DataError
        The stacked image would exceed the allocation limit (:mod:`recon_engine.data.limits`).
    """
    if not volumes:
        raise DataError(f"{kspace.source or 'k-space'}: no volume was reconstructed")
    first = volumes[0]
    check_allocation(
        (len(volumes), *first.shape), np.dtype(str(first.dtype).removeprefix("torch.")), "reconstructed image"
    )
    result = torch.stack(volumes).reshape(*lead, *volumes[0].shape)
    return ImageData(
        data=result,
        geometry=recon_geometry(kspace, result.shape[-3:]),
        other_axes=other_axes,
        header=kspace.header,
        meta={**meta, "source": kspace.source},
    )
