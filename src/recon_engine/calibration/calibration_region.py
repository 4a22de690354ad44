"""The calibration region of k-space that coil sensitivities are estimated from.

Calibration data: the fully sampled block of phase-encoding lines flagged in
``calibration_mask`` (ACS lines), or, when none are flagged, the fully sampled centre of
the sampling mask, at most ``calibration_size`` samples along each encoded axis. For
non-Cartesian data the samples inside the central ``calibration_size`` square (cube) are
gridded with the NUFFT (Pipe–Menon density compensation) onto a Cartesian calibration
block. Averages are merged first (Cartesian: averaged where sampled; non-Cartesian: more
readouts).

The maps live on the *encoded* grid of the k-space (readout oversampling kept), or for
non-Cartesian data on the NUFFT's recon matrix: :func:`maps_grid`.
"""

from __future__ import annotations

import math

import torch

from recon_engine.calibration.density import density_compensation
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_fft
from recon_engine.operators.nufft import NUFFTOp

__all__ = ["calibration_data", "maps_grid", "maps_lead_shape"]

_GRID_MARGIN = 4  # extra samples gridded around a non-Cartesian calibration block, then cropped


def _run(mask: torch.Tensor, centre: int) -> tuple[int, int]:
    """``[start, stop)`` of the run of True in a 1D mask through ``centre`` (empty if False there)."""
    m = mask.to("cpu").tolist()
    if not m[centre]:
        return centre, centre
    lo = centre
    while lo > 0 and m[lo - 1]:
        lo -= 1
    hi = centre + 1
    while hi < len(m) and m[hi]:
        hi += 1
    return lo, hi


def _window(lo: int, hi: int, centre: int, size: int) -> tuple[int, int]:
    """At most ``size`` indices of ``[lo, hi)``, as centred on ``centre`` as the run allows."""
    n = min(size, hi - lo)
    start = min(max(centre - n // 2, lo), hi - n)
    return start, start + n


def _calibration_box(region: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
    """Largest fully True ``[k2) × [k1)`` box through the centre of ``region (k2, k1)``."""
    n2, n1 = region.shape
    c2, c1 = n2 // 2, n1 // 2
    a1, b1 = _run(region[c2], c1)
    a2, b2 = _run(region[:, c1], c2)
    while b1 > a1 and b2 > a2 and not bool(region[a2:b2, a1:b1].all()):
        a1, b1 = min(a1 + 1, c1), max(b1 - 1, c1 + 1)
        a2, b2 = min(a2 + 1, c2), max(b2 - 1, c2 + 1)
        if (b1 - a1, b2 - a2) == (1, 1):
            break
    return (a2, b2), (a1, b1)


def _cartesian_calibration(
    data: torch.Tensor, sampled: torch.Tensor, flagged: torch.Tensor, size: int, readout_size: int
) -> torch.Tensor:
    """Fully sampled central block ``(coils, n2, n1, n0)`` of one volume ``(coils, k2, k1, k0)``."""
    region = (flagged & sampled) if bool(flagged.any()) else sampled
    source = "flagged calibration (ACS) lines" if bool(flagged.any()) else "fully sampled k-space centre"
    n2, n1, n0 = data.shape[-3:]
    (a2, b2), (a1, b1) = _calibration_box(region.to("cpu", torch.bool))
    if b1 <= a1 or b2 <= a2:
        raise DataError(
            f"the k-space centre (k2 = {n2 // 2}, k1 = {n1 // 2}) was not acquired: no {source} to "
            "calibrate the coil sensitivities"
        )
    z0, z1 = _window(a2, b2, n2 // 2, size)
    y0, y1 = _window(a1, b1, n1 // 2, size)
    x0, x1 = _window(0, n0, n0 // 2, readout_size)
    return data[:, z0:z1, y0:y1, x0:x1]


def _noncartesian_calibration(
    data: torch.Tensor, traj: torch.Tensor, mask: torch.Tensor, zyx: tuple[int, int, int], size: int
) -> torch.Tensor:
    """Centre of non-Cartesian k-space gridded onto a Cartesian block ``(coils, n2, n1, n0)``.

    ``data (coils, k2, k1, k0)``, ``traj (k2, k1, k0, 3)`` in cycles per FOV, ``mask (k2, k1)``.
    """
    nd = 3 if zyx[0] > 1 else 2
    calib = tuple(min(size, n) for n in zyx[3 - nd :])
    grid = tuple(min(c + 2 * _GRID_MARGIN, n) for c, n in zip(calib, zyx[3 - nd :], strict=True))
    m = mask.to(data.device)
    pts = traj.to(data.device)[m].reshape(-1, 3)
    y = data[:, m].reshape(data.shape[0], -1)
    half = torch.tensor(grid, dtype=pts.dtype, device=pts.device) / 2
    inside = (pts[:, 3 - nd :].abs() < half).all(dim=-1)
    if int(inside.sum()) < math.prod(calib):
        raise DataError(
            f"only {int(inside.sum())} samples lie in the central {' × '.join(map(str, grid))} region "
            "of k-space: too few to grid a calibration block for the coil sensitivities"
        )
    pts, y = pts[inside], y[:, inside]
    weights = density_compensation(pts, grid, "pipe", device=data.device).to(torch.complex64)
    image = NUFFTOp(pts, grid, device=data.device).adjoint(y * weights)
    k = centered_fft(image, nd)
    for axis, (c, g) in enumerate(zip(calib, grid, strict=True), start=1):
        k = k.narrow(axis, g // 2 - c // 2, c)
    return k if nd == 3 else k[:, None]


def maps_grid(kspace: KSpace) -> tuple[int, int, int]:
    """``(z, y, x)`` of the grid the maps of ``kspace`` live on (encoded, or NUFFT recon matrix)."""
    if kspace.trajectory is None:
        n2, n1, n0 = (int(n) for n in kspace.data.shape[-3:])
        return n2, n1, n0
    nx, ny, nz = kspace.header.recon_matrix
    has_kz = bool((kspace.trajectory[..., 0] != 0).any())
    return (max(int(nz), 1) if has_kz else 1), int(ny), int(nx)


def _average_axis(kspace: KSpace) -> int | None:
    if "average" in kspace.other_axes and len(kspace.other_axes) == kspace.data.ndim - 4:
        return kspace.other_axes.index("average")
    return None


def maps_lead_shape(kspace: KSpace) -> tuple[int, ...]:
    """Shape of ``other`` without the ``average`` axis: the leading axes of the coil maps."""
    other = tuple(kspace.data.shape[:-4])
    ax = _average_axis(kspace)
    return other if ax is None else other[:ax] + other[ax + 1 :]


def _volumes(kspace: KSpace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Data ``(V, coils, k2, k1, k0)``, mask ``(V, k2, k1)`` and trajectory ``(V, k2, k1, k0, 3)``.

    Cartesian averages are averaged where sampled; non-Cartesian ones (possibly with other
    trajectories, e.g. golden angle) become more readouts along ``k1``.
    """
    data = kspace.data
    other = tuple(data.shape[:-4])
    try:
        mask = kspace.sampling_mask.to(data.device).expand(*other, *data.shape[-3:-1])
        traj = None
        if kspace.trajectory is not None:
            traj = kspace.trajectory.to(torch.float32).expand(*other, *data.shape[-3:], 3)
    except RuntimeError:
        raise DataError(
            f"sampling mask {tuple(kspace.sampling_mask.shape)} or trajectory do not match the data "
            f"{tuple(data.shape)} (*other, coils, k2, k1, k0)"
        ) from None
    ax = _average_axis(kspace)
    if ax is not None and traj is None:
        counts = mask.sum(dim=ax).clamp_min(1).to(data.real.dtype)
        data = data.sum(dim=ax) / counts[..., None, :, :, None]
        mask = mask.any(dim=ax)
    elif ax is not None and traj is not None:
        data = data.movedim(ax, -3).flatten(-3, -2)
        traj = traj.movedim(ax, -4).flatten(-4, -3)
        mask = mask.movedim(ax, -2).flatten(-2, -1)
    flat_traj = None if traj is None else traj.reshape(-1, *traj.shape[-4:])
    return data.reshape(-1, *data.shape[-4:]), mask.reshape(-1, *mask.shape[-2:]), flat_traj


def calibration_data(
    kspace: KSpace, *, calibration_size: int = 24, full_readout: bool = False, device: DeviceLike = "auto"
) -> list[torch.Tensor]:
    """The Cartesian calibration blocks the coil maps are estimated from, one per volume.

    Parameters
    ----------
    kspace
        ``data`` ``(*other, coils, k2, k1, k0)``, Cartesian or with a trajectory.
    calibration_size
        At most this many samples along each phase-encoding axis (along an oversampled
        readout, this times the oversampling factor: the same k-space extent).
    full_readout
        Cartesian data: keep every ``k0`` sample of the calibration lines (coil compression
        along the readout needs the whole line).
    device
        Where the blocks are made.

    Returns
    -------
    list of torch.Tensor
        complex64 ``(coils, n2, n1, n0)`` per volume of ``other`` (``average`` summed), in
        C order of the ``other`` axes.
    """
    if int(calibration_size) != calibration_size or calibration_size < 2:
        raise ParameterError(f"calibration_size must be an integer ≥ 2 samples, got {calibration_size!r}")
    dev = resolve_device(device)
    zyx = maps_grid(kspace)
    data, masks, trajs = _volumes(kspace)
    size = int(calibration_size)
    # the same k-space extent (1/mm) along the oversampled readout as along phase encoding
    readout_size = round(size * max(1.0, kspace.header.readout_oversampling))
    if full_readout:
        readout_size = int(kspace.data.shape[-1])
    out = []
    for i in range(data.shape[0]):
        vol = data[i].to(dev, torch.complex64)
        if trajs is None:
            out.append(_cartesian_calibration(vol, masks[i], kspace.calibration_mask, size, readout_size))
        else:
            out.append(_noncartesian_calibration(vol, trajs[i], masks[i], zyx, size))
    return out
