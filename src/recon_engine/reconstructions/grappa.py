"""GRAPPA reconstruction of regularly undersampled Cartesian data (1D or 2D acceleration).

Per volume of ``other``: find the undersampling lattice (every ``R1``-th line along
``k1``, every ``R2``-th partition along ``k2``) and the fully sampled calibration (ACS)
block; calibrate a GRAPPA kernel on the block
(:func:`~recon_engine.calibration.grappa_kernel.grappa_weights`); fill every missing
point (:func:`~recon_engine.calibration.grappa_kernel.grappa_fill`); put the acquired
lines back; then FFT, crop to the recon space and combine coils exactly as
:func:`~recon_engine.reconstructions.direct.direct_steps`. Each volume (slice, contrast,
...) gets its own kernel, because coil sensitivities differ between slices.

Calibration lines (``KSpace.calibration_mask``):

- **integrated** (embedded ACS, ``ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING`` and
  calibration-only lines acquired with the same contrast): every acquired line,
  calibration lines included, replaces its GRAPPA estimate in the result.
- **separate** (a reference scan, ``calibrationMode`` ``separate``/``external``: other
  contrast, timing or resolution): calibration lines that are not on the undersampling
  lattice only calibrate the kernel and are then dropped; the image comes from the lattice
  lines and their GRAPPA estimates alone.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from recon_engine.calibration.grappa_kernel import grappa_fill, grappa_weights, kernel_span
from recon_engine.calibration.oversampling import fit_to_recon_space
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_ifft
from recon_engine.progress import PreviewThrottle, ProgressEvent, Steps
from recon_engine.reconstructions._common import (
    assemble_image,
    combine_coils,
    prewhiten_with_noise_scan,
    volume_done,
)
from recon_engine.reconstructions.direct import COMBINE_METHODS, CombineMethod, average_kspace

__all__ = ["ACS_MODES", "AcsMode", "SamplingPattern", "grappa_steps", "sampling_pattern"]

AcsMode = Literal["auto", "integrated", "separate"]
ACS_MODES: tuple[str, ...] = ("auto", "integrated", "separate")
_ORDINAL = {2: "2nd", 3: "3rd"}
#: Fraction of the lattice points (outside the calibration block, within the sampled
#: extent) that must be acquired: elliptical 3D scanning (π/4) passes, CAIPIRINHA
#: shifts or random sampling (gcd of the line spacings 1) do not.
_MIN_LATTICE_COVERAGE = 0.7


@dataclass(frozen=True)
class SamplingPattern:
    """Regular undersampling of one volume.

    Attributes
    ----------
    acceleration
        ``(R1, R2)``: every ``R1``-th ``k1`` line and every ``R2``-th ``k2`` partition.
    offset
        ``(o1, o2)``: a ``k1`` line and ``k2`` partition of the lattice (``0 ≤ o < R``).
    calibration
        ``(k2_start, k2_stop, k1_start, k1_stop)``: the fully sampled calibration block.
    """

    acceleration: tuple[int, int]
    offset: tuple[int, int]
    calibration: tuple[int, int, int, int]


def _ordinal(r: int) -> str:
    return "" if r == 1 else _ORDINAL.get(r, f"{r}th") + " "


def _grow_block(region: np.ndarray, block: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Grow the rectangle ``(z0, z1, y0, y1)`` greedily inside ``region`` (bool ``(k2, k1)``)."""
    z0, z1, y0, y1 = block
    grown = True
    while grown:
        grown = False
        if y0 > 0 and region[z0:z1, y0 - 1].all():
            y0, grown = y0 - 1, True
        if y1 < region.shape[1] and region[z0:z1, y1].all():
            y1, grown = y1 + 1, True
        if z0 > 0 and region[z0 - 1, y0:y1].all():
            z0, grown = z0 - 1, True
        if z1 < region.shape[0] and region[z1, y0:y1].all():
            z1, grown = z1 + 1, True
    return z0, z1, y0, y1


def _calibration_block(sampled: np.ndarray, calibration: np.ndarray) -> tuple[int, int, int, int]:
    """The fully sampled calibration block ``(z0, z1, y0, y1)`` (stop indices exclusive).

    Grown from the flagged calibration lines nearest the k-space centre (from the centre
    when nothing is flagged), then extended over any fully sampled neighbouring lines.
    """
    flagged = sampled & calibration
    region = flagged if flagged.any() else sampled
    n2, n1 = region.shape
    zz, yy = np.nonzero(region)
    if zz.size == 0:
        raise DataError("no k-space line of this volume was acquired")
    i = int(np.argmin((zz - n2 // 2) ** 2 + (yy - n1 // 2) ** 2))
    seed = (int(zz[i]), int(zz[i]) + 1, int(yy[i]), int(yy[i]) + 1)
    return _grow_block(sampled, _grow_block(region, seed))


def _axis_factor(values: np.ndarray) -> int:
    """Spacing of a regular set of indices (gcd of the differences; 1 when < 2 values)."""
    u = np.unique(values)
    return int(np.gcd.reduce(np.diff(u))) if u.size >= 2 else 1


def sampling_pattern(sampled: np.ndarray, calibration: np.ndarray) -> SamplingPattern:
    """Detect the regular undersampling lattice and the calibration block of one volume.

    Parameters
    ----------
    sampled
        bool ``(k2, k1)``: acquired lines.
    calibration
        bool ``(k2, k1)``: lines flagged as calibration (may be all False: the fully
        sampled centre is used).

    Returns
    -------
    SamplingPattern

    Raises
    ------
    DataError
        When the lines outside the calibration block do not form a regular lattice
        (e.g. variable density, Poisson disc or CAIPIRINHA shifts).
    """
    block = _calibration_block(sampled, calibration)
    outside = sampled.copy()
    outside[block[0] : block[1], block[2] : block[3]] = False
    zz, yy = np.nonzero(outside)
    if zz.size == 0:  # everything acquired is calibration: fully sampled
        return SamplingPattern((1, 1), (0, 0), block)
    r1, r2 = _axis_factor(yy), _axis_factor(zz)
    o1, o2 = int(yy[0]) % r1, int(zz[0]) % r2
    lat = np.zeros_like(sampled)
    lat[o2::r2, o1::r1] = True
    lat[block[0] : block[1], block[2] : block[3]] = False
    box = np.zeros_like(sampled)
    box[zz.min() : zz.max() + 1, yy.min() : yy.max() + 1] = True
    coverage = outside.sum() / max(1, (lat & box).sum())
    if coverage < _MIN_LATTICE_COVERAGE:
        raise DataError(
            f"the acquired lines do not form a regular grid (every {_ordinal(r1)}k1 line × every "
            f"{_ordinal(r2)}k2 partition holds only {100 * coverage:.0f} % of them): GRAPPA needs "
            "regular undersampling (not variable density, Poisson disc or CAIPIRINHA)"
        )
    return SamplingPattern((r1, r2), (o1, o2), block)


def _requested(acceleration: int | tuple[int, int]) -> tuple[int, int]:
    """``(R1, R2)`` asked for; 0 means "from the data"."""
    if isinstance(acceleration, int | np.integer):
        return int(acceleration), 0
    return int(acceleration[0]), int(acceleration[1]) if len(acceleration) > 1 else 0


def _check_acceleration(found: tuple[int, int], asked: tuple[int, int], n_partitions: int) -> None:
    """Raise when the detected ``(R1, R2)`` differs from a requested (non-zero) factor."""
    if asked[1] > 1 and n_partitions == 1:
        raise ParameterError(
            f"acceleration R2 = {asked[1]} asks for undersampling along k2 (partitions), but the data "
            "is 2D (a single partition)"
        )
    names = ("k1 line", "k2 partition")
    for axis in (0, 1):
        if asked[axis] and asked[axis] != found[axis]:
            what = f"R{axis + 1} = {asked[axis]}" if axis or asked[1] else f"acceleration={asked[0]}"
            raise ParameterError(
                f"the data is sampled every {_ordinal(found[axis])}{names[axis]} (R{axis + 1} = "
                f"{found[axis]}) but {what} was asked; use acceleration=0 to take it from the data"
            )


def _resolve_acs(mode: str, calibration_mode: str | None) -> str:
    if mode not in ACS_MODES:
        raise ParameterError(f"unknown ACS mode {mode!r}; choose one of {ACS_MODES}")
    if mode != "auto":
        return mode
    return "separate" if (calibration_mode or "").lower() in ("separate", "external") else "integrated"


def _check_options(
    acceleration: int | tuple[int, int], kernel: tuple[int, int, int], regularization: float, combine: str
) -> tuple[int, int]:
    """Validate the options; return the requested ``(R1, R2)`` (0 = from the data)."""
    if combine not in COMBINE_METHODS:
        raise ParameterError(f"unknown coil combination {combine!r}; choose one of {COMBINE_METHODS}")
    try:
        asked = _requested(acceleration)
        ok = len(np.atleast_1d(acceleration)) <= 2 and min(asked) >= 0
    except (TypeError, ValueError, IndexError):
        ok = False
    if not ok:
        raise ParameterError(f"acceleration must be 0 (from the data), R or (R1, R2), got {acceleration!r}")
    if any(k < 1 for k in kernel):
        raise ParameterError(
            f"kernel_partitions, kernel_lines and kernel_readout must be ≥ 1, got {kernel[0]}, "
            f"{kernel[1]}, {kernel[2]}"
        )
    if not (regularization >= 0 and math.isfinite(regularization)):
        raise ParameterError(f"regularization must be a finite number ≥ 0, got {regularization}")
    return asked


def _volume_masks(kspace: KSpace, n_volumes: int) -> np.ndarray:
    """Sampling masks ``(volumes, k2, k1)``, the ``average`` axis merged (any average acquired)."""
    mask = kspace.sampling_mask.detach().cpu().bool()
    if "average" in kspace.other_axes and mask.ndim == len(kspace.other_axes) + 2:
        mask = mask.any(dim=kspace.other_axes.index("average"))
    mask = mask.reshape(-1, *mask.shape[-2:])
    if mask.shape[0] not in (1, n_volumes):
        raise DataError(
            f"sampling mask {tuple(kspace.sampling_mask.shape)} does not match the data {kspace.shape}"
        )
    return mask.expand(n_volumes, *mask.shape[1:]).numpy()


def grappa_steps(
    kspace: KSpace,
    *,
    acceleration: int | tuple[int, int] = 0,
    kernel_lines: int = 4,
    kernel_readout: int = 5,
    kernel_partitions: int = 2,
    regularization: float = 1e-4,
    acs: AcsMode = "auto",
    combine: CombineMethod = "rss",
    prewhitening: bool = True,
    kernel_size: int = 7,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """GRAPPA reconstruction as a progress generator.

    Parameters
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``, Cartesian, regularly
        undersampled along ``k1`` (and ``k2``), with a fully sampled central calibration
        block (the lines flagged in ``calibration_mask``, else the sampled centre).
    acceleration
        ``0``: from the sampling pattern. ``R``: expected undersampling along ``k1``;
        ``(R1, R2)``: along ``k1`` and ``k2``. A pattern that differs raises.
    kernel_lines
        Source lines of the kernel along ``k1`` (e.g. 4).
    kernel_readout
        Readout samples of the kernel along ``k0`` (e.g. 5).
    kernel_partitions
        Source partitions along ``k2`` for 2D acceleration (unused when ``R2 = 1``).
    regularization
        Tikhonov weight of the calibration, relative to the mean eigenvalue of ``AᴴA``.
    acs
        ``"integrated"``: acquired calibration lines are kept in the image;
        ``"separate"``: calibration lines off the undersampling lattice only calibrate;
        ``"auto"``: separate when the header's ``calibrationMode`` is ``separate`` or
        ``external``, else integrated.
    combine
        ``"rss"``, ``"adaptive"`` (Walsh) or ``"none"`` (keep coil images).
    prewhitening
        Decorrelate the coils using ``kspace.noise`` (before calibration).
    kernel_size
        Neighbourhood (voxels) of the adaptive coil combination (not the GRAPPA kernel).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ImageData
        complex64 ``(*other, 1, z, y, x)`` (``coils`` instead of 1 for ``"none"``) with the
        recon-space geometry; ``meta`` records acceleration, kernel, calibration block and
        ACS mode.

    Raises
    ------
    ParameterError
        Unknown options, an acceleration that does not match the data, or a calibration
        block smaller than the kernel span.
    DataError
        Non-regular undersampling, or no acquired lines.
    """
    kernel = (int(kernel_partitions), int(kernel_lines), int(kernel_readout))
    asked = _check_options(acceleration, kernel, regularization, combine)
    if not kspace.header.is_cartesian:
        raise ParameterError(f"trajectory is {kspace.header.trajectory!r}: GRAPPA here needs Cartesian data")
    mode = _resolve_acs(acs, kspace.header.calibration_mode)
    dev = resolve_device(device)
    data, axes = average_kspace(kspace)
    n2, n1 = data.shape[-3], data.shape[-2]
    lead = data.shape[:-4]
    total = math.prod(lead)
    masks = _volume_masks(kspace, total)
    if kspace.calibration_mask.numel() not in (0, n2 * n1):
        raise DataError(
            f"calibration mask {tuple(kspace.calibration_mask.shape)} does not match the k-space "
            f"({n2} partitions × {n1} lines)"
        )
    cal = np.zeros((n2, n1), bool)
    if kspace.calibration_mask.numel():
        cal = kspace.calibration_mask.detach().cpu().bool().reshape(n2, n1).numpy()
    patterns = [sampling_pattern(masks[i], cal) for i in range(total)]
    for p in patterns:
        _check_acceleration(p.acceleration, asked, n2)
        _check_calibration_size(p, kernel)
    found = patterns[0].acceleration
    nominal = kspace.header.acceleration
    if asked == (0, 0) and nominal != (1, 1) and nominal != found:
        warnings.warn(
            f"the header gives acceleration {nominal} but the data is sampled with (R1, R2) = {found}; "
            "using the data's pattern",
            stacklevel=2,
        )
    data, whitened = prewhiten_with_noise_scan(data.to(dev, torch.complex64), kspace.noise, prewhitening)
    vols = data.reshape(-1, *data.shape[-4:])
    ndim = 3 if n2 > 1 else 2
    throttle = PreviewThrottle()
    outs: list[torch.Tensor] = []
    for i in range(total):
        yield ProgressEvent(f"GRAPPA calibration {i + 1}/{total}", i, total)
        k = _fill_volume(vols[i], masks[i], cal, patterns[i], kernel, regularization, mode)
        img = fit_to_recon_space(centered_ifft(k, ndim), kspace.header)
        img = combine_coils(img, combine, kernel_size)
        outs.append(img)
        yield volume_done(img, i, total, throttle)
    meta = {
        "method": "grappa",
        "acceleration": found,
        "kernel": kernel if found[1] > 1 else (1, *kernel[1:]),
        "regularization": float(regularization),
        "calibration_block": patterns[0].calibration,
        "acs": mode,
        "combine": combine,
        "prewhitened": whitened,
        "device": str(dev),
    }
    return assemble_image(kspace, outs, lead, axes, meta)


def _kernel_for(pattern: SamplingPattern, kernel: tuple[int, int, int]) -> tuple[int, int, int]:
    """The kernel ``(Nz, Ny, Nx)`` used: one partition unless ``k2`` is undersampled."""
    return kernel if pattern.acceleration[1] > 1 else (1, *kernel[1:])


def _check_calibration_size(pattern: SamplingPattern, kernel: tuple[int, int, int]) -> None:
    """Raise when the calibration block is smaller than the span of the kernel."""
    r1, r2 = pattern.acceleration
    if r1 * r2 == 1:
        return
    ks = _kernel_for(pattern, kernel)
    z0, z1, y0, y1 = pattern.calibration
    span = kernel_span((r1, r2), ks)
    if y1 - y0 < span[1] or z1 - z0 < span[0]:
        raise ParameterError(
            f"the fully sampled calibration region has {y1 - y0} k1 lines"
            + (f" × {z1 - z0} k2 partitions" if r2 > 1 else "")
            + f", smaller than the GRAPPA kernel: {ks[1]} source lines at R = {r1} span {span[1]} lines"
            + (f", {ks[0]} partitions at R2 = {r2} span {span[0]}" if r2 > 1 else "")
            + "; acquire more calibration (ACS) lines or use a smaller kernel ("
            + ("kernel_lines, kernel_partitions)" if r2 > 1 else "kernel_lines)")
        )


def _fill_volume(
    vol: torch.Tensor,
    sampled: np.ndarray,
    calibration: np.ndarray,
    pattern: SamplingPattern,
    kernel: tuple[int, int, int],
    regularization: float,
    mode: str,
) -> torch.Tensor:
    """GRAPPA-filled k-space ``(coils, k2, k1, k0)`` of one volume."""
    r1, r2 = pattern.acceleration
    if r1 * r2 == 1:
        return vol
    ks = _kernel_for(pattern, kernel)
    z0, z1, y0, y1 = pattern.calibration
    weights = grappa_weights(vol[:, z0:z1, y0:y1, :], (r1, r2), kernel_size=ks, regularization=regularization)
    filled = grappa_fill(vol, weights, pattern.offset)
    keep = sampled.copy()
    if mode == "separate":
        lattice = np.zeros_like(keep)
        lattice[pattern.offset[1] :: r2, pattern.offset[0] :: r1] = True
        keep &= lattice | ~calibration
    keep_t = torch.from_numpy(keep).to(vol.device)
    return torch.where(keep_t[None, :, :, None], vol, filled)
