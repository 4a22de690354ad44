"""Direct non-Cartesian reconstruction: density-compensated adjoint NUFFT and coil combination.

Steps: prewhiten with the noise scan; merge repeated acquisitions (the ``average`` axis)
into more readouts, so averages with different trajectories (e.g. golden angle) are
handled like more spokes; straight readouts sampled at about one cycle per FOV (radial
without readout oversampling) get their band-limited midpoints
(:func:`~recon_engine.calibration.readout_interpolation.interpolate_readouts`), since
gridding them as they are aliases the ramp-filtered projections; per volume of ``other``:
density compensation ``w``, adjoint NUFFT ``x = Aᴴ(w · y)`` onto the recon matrix, coil
combination. Trajectories are in cycles per recon FOV, so readout oversampling needs no
cropping. With ``w`` in units of k-space area (1 per Nyquist Cartesian sample) and the
orthonormal NUFFT, the image has the intensity of a Cartesian reconstruction of the same
object. Operators and weights are reused while consecutive volumes share the trajectory.
"""

from __future__ import annotations

import torch

from recon_engine.calibration.density import DENSITY_METHODS, DensityMethod, density_compensation
from recon_engine.calibration.readout_interpolation import interpolate_readouts
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.nufft import NUFFTOp, check_trajectory
from recon_engine.progress import PreviewThrottle, ProgressEvent, Steps
from recon_engine.reconstructions._common import (
    assemble_image,
    combine_coils,
    nufft_image_shape,
    prewhiten_with_noise_scan,
    volume_done,
)
from recon_engine.reconstructions.direct import COMBINE_METHODS, CombineMethod

__all__ = ["direct_nufft_steps", "noncartesian_arrays"]


def noncartesian_arrays(
    kspace: KSpace,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Data, trajectory and readout mask with the ``average`` axis merged into ``k1``.

    Parameters
    ----------
    kspace
        ``data`` ``(*other, coils, k2, k1, k0)``; ``trajectory`` ``(*other', k2, k1, k0, 3)``
        with ``other'`` broadcastable to ``other``; ``sampling_mask`` ``(*other, k2, k1)``.

    Returns
    -------
    data, trajectory, mask, other_axes
        ``(*other, coils, k2, k1, k0)``, float32 ``(*other, k2, k1, k0, 3)`` (CPU) and bool
        ``(*other, k2, k1)`` (CPU), where ``k1`` grows by the number of averages.

    Raises
    ------
    ParameterError
        Without a trajectory.
    DataError
        When trajectory and data shapes disagree.
    """
    if kspace.trajectory is None:
        raise ParameterError(
            "this k-space has no trajectory: a non-Cartesian reconstruction needs one "
            "(Cartesian data: use the direct FFT reconstruction)"
        )
    data = kspace.data
    other = tuple(data.shape[:-4])
    traj = kspace.trajectory.detach().to("cpu", torch.float32)
    if traj.ndim < 4 or traj.shape[-1] != 3 or tuple(traj.shape[-4:-1]) != tuple(data.shape[-3:]):
        raise DataError(
            f"trajectory shape {tuple(traj.shape)} does not match the data {tuple(data.shape)}: "
            "expected (*other, k2, k1, k0, 3) for data (*other, coils, k2, k1, k0)"
        )
    try:
        traj = traj.expand(*other, *traj.shape[-4:])
        mask = kspace.sampling_mask.detach().to("cpu", torch.bool).expand(*other, *data.shape[-3:-1])
    except RuntimeError:
        raise DataError(
            f"trajectory {tuple(kspace.trajectory.shape)} / sampling mask "
            f"{tuple(kspace.sampling_mask.shape)} do not broadcast to the data's other axes {other}"
        ) from None
    axes = kspace.other_axes
    if "average" in axes and len(axes) == len(other):
        ax = axes.index("average")
        data = data.movedim(ax, -3).flatten(-3, -2)
        traj = traj.movedim(ax, -4).flatten(-4, -3)
        mask = mask.movedim(ax, -2).flatten(-2, -1)
        axes = tuple(a for a in axes if a != "average")
    return data, traj, mask, axes


def direct_nufft_steps(
    kspace: KSpace,
    *,
    combine: CombineMethod = "rss",
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    kernel_size: int = 7,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """Direct (gridding-type) non-Cartesian reconstruction as a progress generator.

    Parameters
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)`` (``k1`` spokes, interleaves or
        EPI lines, ``k0`` samples, ``k2`` 1 or stack partitions); ``trajectory`` float32
        ``(*other, k2, k1, k0, 3)`` ``(kz, ky, kx)`` in cycles per recon FOV.
    combine
        ``"rss"``, ``"adaptive"`` (Walsh) or ``"none"`` (keep coil images).
    prewhitening
        Decorrelate the coils using ``kspace.noise``.
    density
        Density compensation: ``"pipe"`` (Pipe–Menon), ``"voronoi"`` or ``"none"``.
    kernel_size
        Neighbourhood (voxels) of the adaptive combination.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ImageData
        complex64 ``(*other, 1, z, y, x)`` (``coils`` instead of 1 for ``"none"``) on the
        recon matrix ``header.recon_matrix`` (``z = 1`` for 2D) with the recon-space geometry.

    Raises
    ------
    ParameterError
        No trajectory, or an unknown ``combine`` / ``density``.
    DataError
        Trajectory/data shape mismatch, NaNs, or a trajectory beyond ``±N/2``.
    """
    if combine not in COMBINE_METHODS:
        raise ParameterError(f"unknown coil combination {combine!r}; choose one of {COMBINE_METHODS}")
    if density not in DENSITY_METHODS:
        raise ParameterError(f"unknown density compensation {density!r}; choose one of {DENSITY_METHODS}")
    data, traj, mask, axes = noncartesian_arrays(kspace)
    # readouts at the FOV's Nyquist spacing: band-limited midpoints (see readout_interpolation)
    data, traj, interpolated = interpolate_readouts(data, traj, acquired=mask)
    shape = nufft_image_shape(kspace, traj)
    check_trajectory(traj, shape)
    dev = resolve_device(device)
    data, whitened = prewhiten_with_noise_scan(data.to(dev, torch.complex64), kspace.noise, prewhitening)
    lead = data.shape[:-4]
    vols = data.reshape(-1, *data.shape[-4:])
    trajs = traj.reshape(-1, *traj.shape[-4:])
    masks = mask.reshape(-1, *mask.shape[-2:])
    spatial = (1, *shape) if len(shape) == 2 else shape
    throttle = PreviewThrottle()
    total = vols.shape[0]
    outs: list[torch.Tensor] = []
    key: tuple[torch.Tensor, torch.Tensor] | None = None
    op: NUFFTOp | None = None
    weights = torch.empty(0)
    dev_mask = torch.empty(0)
    yield ProgressEvent("nufft", 0, total)
    for i in range(total):
        if key is None or op is None or not (torch.equal(key[0], trajs[i]) and torch.equal(key[1], masks[i])):
            key = (trajs[i], masks[i])
            if not bool(masks[i].any()):
                raise DataError(f"volume {i + 1} of {total} has no acquired readouts")
            pts = trajs[i][masks[i]].reshape(-1, 3)
            op = NUFFTOp(pts, shape, device=dev)
            weights = density_compensation(pts, shape, density, device=dev).to(torch.complex64)
            dev_mask = masks[i].to(dev)
            yield ProgressEvent(f"density compensation {i + 1}/{total}", i, total)
        n_coils = vols.shape[1]
        y = vols[i] if bool(key[1].all()) else vols[i][:, dev_mask]
        img = op.adjoint(y.reshape(n_coils, -1) * weights).reshape(n_coils, *spatial)
        img = combine_coils(img, combine, kernel_size)
        outs.append(img)
        yield volume_done(img, i, total, throttle)
    meta = {
        "method": "direct_nufft",
        "combine": combine,
        "density": density,
        "readout_interpolation": interpolated,
        "prewhitened": whitened,
        "device": str(dev),
    }
    return assemble_image(kspace, outs, lead, axes, meta)
