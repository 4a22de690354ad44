"""The "direct" method: FFT for Cartesian data, density-compensated NUFFT otherwise.

EPI data (imaging readouts flagged ``ACQ_IS_REVERSE``) gets the odd/even (N/2 ghost)
phase correction first: from the navigators when present, else estimated from the
image (:mod:`recon_engine.calibration.epi`).
"""

from __future__ import annotations

from typing import Literal

import torch

from recon_engine.calibration.density import DensityMethod
from recon_engine.calibration.epi import Method as EpiMethod
from recon_engine.calibration.epi import epi_phase_correction
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions.direct import CombineMethod, direct_steps
from recon_engine.reconstructions.nufft_direct import direct_nufft_steps

__all__ = [
    "EPI_CORRECTIONS",
    "EpiCorrection",
    "direct_auto_steps",
    "has_reversed_readouts",
    "suggest_method",
    "uses_nufft",
]

EpiCorrection = Literal["auto", "navigators", "image", "none"]
EPI_CORRECTIONS: tuple[str, ...] = ("auto", "navigators", "image", "none")
_EPI_METHOD: dict[str, EpiMethod] = {"auto": "auto", "navigators": "navigators", "image": "image"}


def has_reversed_readouts(kspace: KSpace) -> bool:
    """True when imaging readouts alternate direction (EPI), i.e. need ghost correction."""
    acq = kspace.acquisitions
    return len(acq) > 0 and bool((acq.is_kind("reverse") & acq.is_imaging).any())


def uses_nufft(kspace: KSpace) -> bool:
    """True when the data needs the NUFFT: a non-Cartesian header and a trajectory."""
    return kspace.trajectory is not None and not kspace.header.is_cartesian


#: Smallest effective acceleration at which :func:`suggest_method` prefers parallel imaging.
UNDERSAMPLED_FROM = 1.2
#: Fewest fully sampled central lines (or flagged ACS lines) that count as calibration data.
MIN_CALIBRATION_LINES = 8


def _central_run(lines: torch.Tensor) -> int:
    """Length of the run of sampled entries of a 1D bool mask through its centre ``N // 2``."""
    n = int(lines.numel())
    c = n // 2
    if n == 0 or not bool(lines[c]):
        return 0
    lo, hi = c, c
    while lo > 0 and bool(lines[lo - 1]):
        lo -= 1
    while hi < n - 1 and bool(lines[hi + 1]):
        hi += 1
    return hi - lo + 1


def suggest_method(kspace: KSpace) -> str:
    """The reconstruction a user should see first for this data.

    Undersampled Cartesian multi-coil data (effective acceleration ≥ :data:`UNDERSAMPLED_FROM`)
    with calibration data — flagged ACS lines, or a fully sampled centre of at least
    :data:`MIN_CALIBRATION_LINES` phase-encoding lines — gets ``"sense"`` (coil maps from that
    calibration); everything else (fully sampled, single coil, non-Cartesian, no calibration)
    gets ``"direct"``.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)`` with ``sampling_mask`` ``(*other, k2, k1)``.

    Returns
    -------
    str
        A key of :data:`recon_engine.reconstructions.METHODS`.
    """
    if uses_nufft(kspace) or kspace.n_coils < 2 or kspace.acceleration < UNDERSAMPLED_FROM:
        return "direct"
    mask = kspace.sampling_mask.reshape(-1, *kspace.sampling_mask.shape[-2:])[0].to("cpu", torch.bool)
    acs = kspace.calibration_mask.to("cpu", torch.bool)
    k2_centre = mask.shape[0] // 2
    flagged = int(acs.any(dim=0).sum()) if acs.numel() else 0
    centre = _central_run(mask[k2_centre])
    return "sense" if max(flagged, centre) >= MIN_CALIBRATION_LINES else "direct"


def direct_auto_steps(
    kspace: KSpace,
    *,
    combine: CombineMethod = "rss",
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    kernel_size: int = 7,
    epi_correction: EpiCorrection = "auto",
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
    epi_correction
        N/2-ghost correction of EPI data (only applied when readouts are reversed):
        ``"auto"`` (navigators if present, else from the image), ``"navigators"``,
        ``"image"`` or ``"none"``.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ImageData
        complex64 ``(*other, 1, z, y, x)`` with ``meta["transform"]`` ``"fft"`` or ``"nufft"``.
    """
    if epi_correction not in EPI_CORRECTIONS:
        raise ParameterError(f"unknown EPI correction {epi_correction!r}; choose one of {EPI_CORRECTIONS}")
    corrected = epi_correction != "none" and has_reversed_readouts(kspace)
    if corrected:
        yield ProgressEvent("EPI ghost correction", 0, 1)
        kspace = epi_phase_correction(kspace, method=_EPI_METHOD[epi_correction])
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
    image.meta["epi_correction"] = epi_correction if corrected else "none"
    return image
