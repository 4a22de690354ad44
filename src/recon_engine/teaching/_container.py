"""2D teaching arrays → :class:`~recon_engine.data.kspace.KSpace` containers for the engine's recons.

The reconstructions take KSpace containers ``(coils, k2, k1, k0)``. A 2D slice with whole
``ky`` lines sampled becomes ``(coils, 1, ky, kx)`` (sampling mask ``(1, ky)``); a 2D point
pattern (Poisson disc) becomes ``(coils, ky, kx, 1)``, so that the mask ``(k2, k1) = (ky, kx)``
can hold it (the length-1 ``k0`` axis makes the 3D FFT a 2D FFT over ``(ky, kx)``). Headers are
written as :func:`~recon_engine.simulate.acquire.simulate_cartesian` writes them, without
per-readout acquisition headers (no reconstruction reads them).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.geometry import Geometry
from recon_engine.data.header import parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype
from recon_engine.io.ismrmrd_write import encoding_limits, make_header_xml
from recon_engine.simulate.trajectories import simulate_noncartesian

__all__ = ["cartesian_kspace", "maps_layout", "radial_kspace"]


_FOV_MM = 220.0


@lru_cache(maxsize=8)
def _template(n_coils: int, shape: tuple[int, int, int]) -> KSpace:
    """An empty Cartesian KSpace ``(coils, k2, k1, k0) = (n_coils, *shape)`` with a simulator's header."""
    nz, ny, nx = shape
    fov = (_FOV_MM, _FOV_MM * ny / nx, _FOV_MM * nz / nx if nz > 1 else 5.0)
    xml = make_header_xml(
        encoded_matrix=(nx, ny, nz),
        encoded_fov_mm=fov,
        recon_matrix=(nx, ny, nz),
        recon_fov_mm=fov,
        limits=encoding_limits(ny, nz),
        receiver_channels=n_coils,
        protocol_name="K-space Explorer",
        system_model="recon_engine.teaching",
    )
    return KSpace(
        data=torch.zeros((n_coils, *shape), dtype=torch.complex64),
        header=parse_header(xml),
        geometry=Geometry.from_vectors((nx, ny, nz), fov),
        other_axes=(),
        sampling_mask=torch.ones((nz, ny), dtype=torch.bool),
        calibration_mask=torch.zeros((nz, ny), dtype=torch.bool),
        acquisitions=AcquisitionTable(np.zeros(0, dtype=acquisition_header_dtype())),
    )


def maps_layout(maps: np.ndarray, points: bool) -> np.ndarray:
    """Coil maps ``(coils, y, x)`` in the layout of :func:`cartesian_kspace`: ``(coils, z, y, x)``."""
    return maps[..., None] if points else maps[:, None]


def cartesian_kspace(
    data: np.ndarray, acquired: np.ndarray, calibration: np.ndarray, *, points: bool
) -> KSpace:
    """A Cartesian KSpace of one 2D slice.

    Parameters
    ----------
    data
        complex64 ``(coils, ky, kx)`` (zero where not acquired).
    acquired
        bool ``(ky, kx)``: acquired samples.
    calibration
        bool ``(ky, kx)``: the fully sampled calibration region (flagged as ACS).
    points
        False: whole lines (``(coils, 1, ky, kx)``); True: points (``(coils, ky, kx, 1)``).

    Returns
    -------
    KSpace
        ``(coils, 1, ky, kx)`` or ``(coils, ky, kx, 1)`` with matching sampling/calibration masks.
    """
    c, ny, nx = data.shape
    if points:
        tmpl = _template(c, (ny, nx, 1))
        d, mask, cal = data[..., None], acquired, calibration & acquired
    else:
        tmpl = _template(c, (1, ny, nx))
        lines = np.asarray(acquired.any(axis=1))
        d, mask, cal = data[:, None], lines[None], (np.asarray(calibration.any(axis=1)) & lines)[None]
    return replace(
        tmpl,
        data=torch.from_numpy(np.ascontiguousarray(d, dtype=np.complex64)),
        sampling_mask=torch.from_numpy(np.ascontiguousarray(mask)),
        calibration_mask=torch.from_numpy(np.ascontiguousarray(cal)),
        meta={},
    )


def radial_kspace(samples: np.ndarray, trajectory: np.ndarray, shape: tuple[int, int]) -> KSpace:
    """A radial KSpace: ``samples`` complex ``(coils, spokes, n)`` on ``trajectory`` ``(spokes, n, 3)``."""
    c = samples.shape[0]
    zeros = np.zeros(shape, dtype=np.complex64)
    tmpl = simulate_noncartesian(
        zeros, trajectory, np.zeros((c, *shape), np.complex64), matrix=shape, trajectory_name="radial"
    )
    return replace(tmpl, data=torch.from_numpy(np.ascontiguousarray(samples[:, None], dtype=np.complex64)))
