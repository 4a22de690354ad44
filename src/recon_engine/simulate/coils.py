"""Simulated receive-coil sensitivities of a ring (birdcage-like) array.

Each coil is modelled as a straight conductor parallel to ``z`` at angle
``θ_c = 2π c / n`` on a circle of radius ``relative_radius`` (in units of half the FOV).
Its field falls off like ``1 / r`` (Biot–Savart of a line current; in 3D the distance
includes the ``z`` offset of the coil's ring) and its phase is the polar angle around
the conductor plus the coil's position on the ring, so the phase varies smoothly
across the FOV as in a birdcage / SigPy's ``birdcage_maps``. With
``normalize=True`` the maps are divided by their root-sum-of-squares:
``Σ_c |S_c|² = 1`` at every voxel.
"""

from __future__ import annotations

import numpy as np

from recon_engine.errors import ParameterError

__all__ = ["birdcage_sensitivities"]


def _coord(n: int) -> np.ndarray:
    """Normalised voxel coordinates of an axis: index ``n // 2`` at 0, ±1 at the FOV edges."""
    return (np.arange(n) - n // 2) / (n / 2.0)


def birdcage_sensitivities(
    n_coils: int,
    shape: tuple[int, ...],
    *,
    relative_radius: float = 1.5,
    normalize: bool = True,
    n_rings: int = 1,
) -> np.ndarray:
    """Complex coil sensitivities of ``n_coils`` coils on a ring around the FOV.

    Parameters
    ----------
    n_coils
        Number of receive channels (≥ 1).
    shape
        Image shape ``(y, x)`` or ``(z, y, x)`` in voxels.
    relative_radius
        Radius of the ring in units of half the FOV; > 1 places the coils outside it.
    normalize
        Divide by the root-sum-of-squares so that ``Σ_c |S_c|² = 1`` everywhere;
        otherwise the maps are scaled so that the largest magnitude is 1.
    n_rings
        3D only: number of rings along ``z`` (``n_coils`` must be divisible by it),
        spread over the central half of the ``z`` FOV.

    Returns
    -------
    np.ndarray
        complex64 ``(coils, y, x)`` or ``(coils, z, y, x)``.

    Raises
    ------
    ParameterError
        For a non-positive coil count or radius, a shape that is not 2D/3D, or a ring
        count that does not divide the coils.
    """
    if n_coils < 1:
        raise ParameterError(f"n_coils must be ≥ 1, got {n_coils}")
    if relative_radius <= 0:
        raise ParameterError(f"relative_radius must be > 0, got {relative_radius}")
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ParameterError(f"shape must be (y, x) or (z, y, x) with positive sizes, got {shape}")
    if n_rings < 1 or n_coils % n_rings:
        raise ParameterError(f"n_rings={n_rings} must be ≥ 1 and divide n_coils={n_coils}")
    if len(shape) == 2 and n_rings != 1:
        raise ParameterError("n_rings > 1 needs a 3D shape (z, y, x)")
    per_ring = n_coils // n_rings
    c = np.arange(n_coils)
    theta = 2.0 * np.pi * (c % per_ring) / per_ring
    ring = c // per_ring
    ring_z = np.linspace(-0.5, 0.5, n_rings) if n_rings > 1 else np.zeros(1)

    y = -_coord(shape[-2])[:, None]  # row 0 at the top (+y), as in the phantom
    x = _coord(shape[-1])[None, :]
    if len(shape) == 3:
        z: np.ndarray | float = _coord(shape[0])[:, None, None]
        y, x = y[None], x[None]
    else:
        z = 0.0
    maps = []
    for k in range(n_coils):
        dx = x - relative_radius * np.cos(theta[k])
        dy = y - relative_radius * np.sin(theta[k])
        dz = np.asarray(z) - ring_z[ring[k]]
        r = np.sqrt(dx**2 + dy**2 + dz**2)
        phase = np.arctan2(dx, -dy) - theta[k]
        maps.append(np.broadcast_to((1.0 / r) * np.exp(1j * phase), shape))
    out = np.stack(maps)
    if normalize:
        out = out / np.sqrt(np.sum(np.abs(out) ** 2, axis=0, keepdims=True))
    else:
        out = out / np.abs(out).max()
    return out.astype(np.complex64)
