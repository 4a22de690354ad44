"""The "direct" method: FFT for Cartesian data, density-compensated NUFFT otherwise."""

from __future__ import annotations

from recon_engine.calibration.density import DensityMethod
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.progress import Steps
from recon_engine.reconstructions.direct import CombineMethod, direct_steps
from recon_engine.reconstructions.nufft_direct import direct_nufft_steps

__all__ = ["direct_auto_steps", "uses_nufft"]


def uses_nufft(kspace: KSpace) -> bool:
    """True when the data needs the NUFFT: a non-Cartesian header and a trajectory."""
    return kspace.trajectory is not None and not kspace.header.is_cartesian


def direct_auto_steps(
    kspace: KSpace,
    *,
    combine: CombineMethod = "rss",
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    kernel_size: int = 7,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """Direct reconstruction, choosing FFT or NUFFT from the data.

    Cartesian data (the header says so; an embedded Cartesian trajectory is ignored)
    goes to :func:`~recon_engine.reconstructions.direct.direct_steps` (zero-filled FFT);
    anything else with a trajectory (radial, spiral, ramp-sampled EPI, ...) to
    :func:`~recon_engine.reconstructions.nufft_direct.direct_nufft_steps`.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)``; for non-Cartesian data ``trajectory``
        ``(*other, k2, k1, k0, 3)`` in cycles per recon FOV.
    combine
        ``"rss"``, ``"adaptive"`` or ``"none"``.
    prewhitening
        Decorrelate coils with the noise scan.
    density
        Density compensation of the NUFFT: ``"pipe"``, ``"voronoi"`` or ``"none"``
        (unused for Cartesian data).
    kernel_size
        Neighbourhood of the adaptive combination (voxels).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ImageData
        complex64 ``(*other, 1, z, y, x)`` with ``meta["transform"]`` ``"fft"`` or ``"nufft"``.
    """
    if uses_nufft(kspace):
        image = yield from direct_nufft_steps(
            kspace,
            combine=combine,
            prewhitening=prewhitening,
            density=density,
            kernel_size=kernel_size,
            device=device,
        )
        image.meta["transform"] = "nufft"
    else:
        image = yield from direct_steps(
            kspace, combine=combine, prewhitening=prewhitening, kernel_size=kernel_size, device=device
        )
        image.meta["transform"] = "fft"
    return image
