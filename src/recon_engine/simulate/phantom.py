"""Modified Shepp–Logan phantom (2D and 3D) with tissue properties and analytic k-space.

Ellipses follow the modified Shepp–Logan table of Toft (1996), which raises the contrast
of the original CT phantom (Shepp & Logan 1974, doi:10.1109/TNS.1974.6499235) so that it
is visible on a display; the 3D ellipsoids take the semi-axes ``c`` and centres ``z0`` of
Schabel's ``phantom3d`` (rotations about ``z`` only). The phantom occupies the square
``[-1, 1)²`` (or cube) that fills the field of view.

Images are ``(y, x)`` / ``(z, y, x)`` arrays whose row 0 is the *top* of the displayed
image (anterior / ``+y`` of the table), so the three small ellipses sit at the bottom as
in every textbook picture. Pixel ``j`` of an ``n``-pixel axis lies at
``(j - n // 2) · 2 / n``: index ``n // 2`` is the FOV centre, where a centred FFT puts
DC.

Each ellipse also carries a tissue label with MR properties at 3 T (``PD``, ``T1``,
``T2``), painted in table order, for qMRI simulations (:func:`tissue_maps`).

References
----------
P. A. Toft, "The Radon Transform: Theory and Implementation", PhD thesis, DTU, 1996.
M. Schabel, ``phantom3d.m``, MATLAB Central File Exchange 9416, 2006.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import j1

from recon_engine.errors import ParameterError

__all__ = [
    "ELLIPSES",
    "TISSUES",
    "Ellipse",
    "Tissue",
    "shepp_logan",
    "shepp_logan_3d",
    "shepp_logan_kspace",
    "shepp_logan_kspace_3d",
    "tissue_maps",
]


class Tissue(NamedTuple):
    """MR properties of a tissue class at 3 T.

    Attributes
    ----------
    pd
        Proton density relative to water (0–1).
    t1_ms, t2_ms
        Longitudinal and transverse relaxation times in ms.
    """

    pd: float
    t1_ms: float
    t2_ms: float


#: Tissue classes of the phantom (approximate literature values at 3 T).
TISSUES: dict[str, Tissue] = {
    "background": Tissue(0.0, 0.0, 0.0),
    "scalp": Tissue(0.90, 380.0, 120.0),
    "white_matter": Tissue(0.69, 830.0, 80.0),
    "grey_matter": Tissue(0.80, 1330.0, 110.0),
    "csf": Tissue(1.00, 4000.0, 2000.0),
    "lesion": Tissue(0.85, 1600.0, 180.0),
    "vessel": Tissue(0.90, 1650.0, 150.0),
}


class Ellipse(NamedTuple):
    """One ellipse(oid) of the phantom.

    Attributes
    ----------
    amplitude
        Additive intensity (modified Shepp–Logan).
    a, b, c
        Semi-axes along ``x'``, ``y'`` and ``z`` (units of half the FOV).
    x0, y0, z0
        Centre (units of half the FOV, ``y`` up).
    phi_deg
        Rotation about ``z`` in degrees (counter-clockwise, ``x`` towards ``y``).
    tissue
        Key of :data:`TISSUES` painted inside it.
    """

    amplitude: float
    a: float
    b: float
    c: float
    x0: float
    y0: float
    z0: float
    phi_deg: float
    tissue: str


#: Modified Shepp–Logan ellipses (Toft 1996) with the 3D extent of Schabel's phantom3d.
ELLIPSES: tuple[Ellipse, ...] = (
    Ellipse(1.0, 0.6900, 0.9200, 0.810, 0.00, 0.0000, 0.00, 0.0, "scalp"),
    Ellipse(-0.8, 0.6624, 0.8740, 0.780, 0.00, -0.0184, 0.00, 0.0, "white_matter"),
    Ellipse(-0.2, 0.1100, 0.3100, 0.220, 0.22, 0.0000, 0.00, -18.0, "csf"),
    Ellipse(-0.2, 0.1600, 0.4100, 0.280, -0.22, 0.0000, 0.00, 18.0, "csf"),
    Ellipse(0.1, 0.2100, 0.2500, 0.410, 0.00, 0.3500, -0.15, 0.0, "grey_matter"),
    Ellipse(0.1, 0.0460, 0.0460, 0.050, 0.00, 0.1000, 0.25, 0.0, "lesion"),
    Ellipse(0.1, 0.0460, 0.0460, 0.050, 0.00, -0.1000, 0.25, 0.0, "lesion"),
    Ellipse(0.1, 0.0460, 0.0230, 0.050, -0.08, -0.6050, 0.00, 0.0, "vessel"),
    Ellipse(0.1, 0.0230, 0.0230, 0.020, 0.00, -0.6060, 0.00, 0.0, "vessel"),
    Ellipse(0.1, 0.0230, 0.0460, 0.020, 0.06, -0.6050, 0.00, 0.0, "vessel"),
)


def _axis(n: int) -> np.ndarray:
    """Pixel centres of an ``n``-pixel axis on ``[-1, 1)``, index ``n // 2`` at 0."""
    return ((np.arange(n) - n // 2) * (2.0 / n)).astype(np.float64)


def _check_n(n: int, name: str = "n") -> int:
    if int(n) != n or n < 2:
        raise ParameterError(f"phantom size {name}={n!r} must be an integer ≥ 2")
    return int(n)


def _inside(e: Ellipse, x: np.ndarray, y: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """Boolean mask of points inside ellipse ``e`` (``y`` up, physical orientation)."""
    phi = np.deg2rad(e.phi_deg)
    xr = (x - e.x0) * np.cos(phi) + (y - e.y0) * np.sin(phi)
    yr = -(x - e.x0) * np.sin(phi) + (y - e.y0) * np.cos(phi)
    r2 = (xr / e.a) ** 2 + (yr / e.b) ** 2
    if z is not None:
        r2 = r2 + ((z - e.z0) / e.c) ** 2
    return np.asarray(r2 <= 1.0)


def _grid(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Physical coordinates ``(x, y, z)`` broadcast to ``shape`` = ``([z,] y, x)``."""
    ny, nx = shape[-2], shape[-1]
    x = _axis(nx)[None, :]
    y = -_axis(ny)[:, None]  # row 0 is the top: +y
    if len(shape) == 2:
        return x, y, None
    z = _axis(shape[0])[:, None, None]
    return x[None], y[None], z


def _additive(shape: tuple[int, ...]) -> np.ndarray:
    x, y, z = _grid(shape)
    out = np.zeros(shape, dtype=np.float64)
    for e in ELLIPSES:
        out += e.amplitude * _inside(e, x, y, z)
    return np.maximum(out, 0.0).astype(np.float32)  # clear -1e-17 round-off


def shepp_logan(n: int) -> np.ndarray:
    """Modified Shepp–Logan phantom, intensities in ``[0, 1]``.

    Parameters
    ----------
    n
        Matrix size (pixels per side).

    Returns
    -------
    np.ndarray
        float32 ``(y, x)`` of shape ``(n, n)``; 1.0 on the scalp ring, 0.2–0.4 inside.
    """
    n = _check_n(n)
    return _additive((n, n))


def shepp_logan_3d(n: int, nz: int | None = None) -> np.ndarray:
    """3D modified Shepp–Logan phantom.

    Parameters
    ----------
    n
        In-plane matrix size.
    nz
        Number of partitions (defaults to ``n``); the phantom spans the whole ``z`` FOV.

    Returns
    -------
    np.ndarray
        float32 ``(z, y, x)`` of shape ``(nz, n, n)``.
    """
    n = _check_n(n)
    nz = n if nz is None else _check_n(nz, "nz")
    return _additive((nz, n, n))


def tissue_maps(n: int, nz: int | None = None, *, three_d: bool = False) -> dict[str, np.ndarray]:
    """Proton density, T1 and T2 maps of the phantom (tissues painted in table order).

    Parameters
    ----------
    n
        In-plane matrix size.
    nz
        Partitions for a 3D phantom (defaults to ``n`` when ``three_d``).
    three_d
        Return ``(z, y, x)`` maps instead of ``(y, x)``.

    Returns
    -------
    dict[str, np.ndarray]
        ``"labels"`` (int16 index into ``list(TISSUES)``), ``"pd"`` (0–1), ``"t1_ms"``,
        ``"t2_ms"`` (float32, ms); each ``(y, x)`` or ``(z, y, x)``; 0 outside the head.
    """
    n = _check_n(n)
    shape: tuple[int, ...] = (n, n)
    if three_d or nz is not None:
        shape = (n if nz is None else _check_n(nz, "nz"), n, n)
    x, y, z = _grid(shape)
    names = list(TISSUES)
    labels = np.zeros(shape, dtype=np.int16)
    for e in ELLIPSES:
        labels[_inside(e, x, y, z)] = names.index(e.tissue)
    table = np.array([TISSUES[k] for k in names], dtype=np.float32)  # (n_tissues, 3)
    return {
        "labels": labels,
        "pd": table[labels, 0],
        "t1_ms": table[labels, 1],
        "t2_ms": table[labels, 2],
    }


def _ellipse_ft(e: Ellipse, kx: np.ndarray, ky: np.ndarray, kz: np.ndarray | None) -> np.ndarray:
    """Continuous Fourier transform of one ellipse(oid) with unit amplitude.

    ``k`` in cycles per unit length (physical orientation, ``y`` up). Convention:
    ``F(k) = ∫ f(r) exp(-2πi k·r) dr``.
    """
    phi = np.deg2rad(e.phi_deg)
    u = e.a * (kx * np.cos(phi) + ky * np.sin(phi))
    v = e.b * (-kx * np.sin(phi) + ky * np.cos(phi))
    shift = kx * e.x0 + ky * e.y0
    if kz is None:
        kappa = np.sqrt(u**2 + v**2)
        q = 2.0 * np.pi * kappa
        safe = np.where(q > 1e-12, q, 1.0)
        # ∫_disc exp(-2πi k·u) du = J1(2π|k|)/|k| → π as k → 0
        shape = np.where(q > 1e-12, 2.0 * np.pi * j1(safe) / safe, np.pi)
        vol = e.a * e.b
    else:
        w = e.c * kz
        kappa = np.sqrt(u**2 + v**2 + w**2)
        q = 2.0 * np.pi * kappa
        safe = np.where(q > 1e-6, q, 1.0)
        # ∫_ball exp(-2πi k·u) du = 4π (sin q − q cos q) / q³ → 4π/3
        shape = np.where(
            q > 1e-6, 4.0 * np.pi * (np.sin(safe) - safe * np.cos(safe)) / safe**3, 4.0 * np.pi / 3
        )
        vol = e.a * e.b * e.c
        shift = shift + kz * e.z0
    return np.asarray(vol * shape * np.exp(-2j * np.pi * shift))


def shepp_logan_kspace(kx: np.ndarray, ky: np.ndarray, n: int) -> np.ndarray:
    """Analytic k-space of :func:`shepp_logan`, scaled like its orthonormal centred FFT.

    No inverse crime: the values are the continuous Fourier transform of the ellipses
    (Bessel-J1 formula), sampled at ``(kx, ky)``; only the scale matches
    ``fftshift(fft2(ifftshift(shepp_logan(n)), norm="ortho"))``.

    Parameters
    ----------
    kx, ky
        k-space positions in cycles per FOV (grid units, ``[-n/2, n/2)`` for the
        Nyquist-sampled grid), any broadcastable shapes. ``ky`` follows the array's row
        axis (row 0 at the top).
    n
        Matrix size the scaling refers to.

    Returns
    -------
    np.ndarray
        complex64, broadcast shape of ``kx`` and ``ky``.
    """
    n = _check_n(n)
    # FOV spans 2 units: k [cycles/FOV] = 2 · k [cycles/unit]; rows run along -y.
    kxu = np.asarray(kx, dtype=np.float64) / 2.0
    kyu = -np.asarray(ky, dtype=np.float64) / 2.0
    out = np.zeros(np.broadcast_shapes(kxu.shape, kyu.shape), dtype=np.complex128)
    for e in ELLIPSES:
        out += e.amplitude * _ellipse_ft(e, kxu, kyu, None)
    # Riemann sum of n² pixels of area (2/n)² with 1/n orthonormal scaling → n / 4
    return (out * (n / 4.0)).astype(np.complex64)


def shepp_logan_kspace_3d(
    kx: np.ndarray, ky: np.ndarray, kz: np.ndarray, n: int, nz: int | None = None
) -> np.ndarray:
    """Analytic k-space of :func:`shepp_logan_3d`, scaled like its orthonormal centred FFT.

    Parameters
    ----------
    kx, ky, kz
        k-space positions in cycles per FOV (grid units), broadcastable.
    n, nz
        Matrix sizes of the ``(nz, n, n)`` volume the scaling refers to.

    Returns
    -------
    np.ndarray
        complex64, broadcast shape of ``kx``, ``ky`` and ``kz``.
    """
    n = _check_n(n)
    nz = n if nz is None else _check_n(nz, "nz")
    kxu = np.asarray(kx, dtype=np.float64) / 2.0
    kyu = -np.asarray(ky, dtype=np.float64) / 2.0
    kzu = np.asarray(kz, dtype=np.float64) / 2.0
    out = np.zeros(np.broadcast_shapes(kxu.shape, kyu.shape, kzu.shape), dtype=np.complex128)
    for e in ELLIPSES:
        out += e.amplitude * _ellipse_ft(e, kxu, kyu, kzu)
    # n²·nz voxels of volume 8/(n² nz), orthonormal scaling 1/sqrt(n² nz)
    return (out * (np.sqrt(n * n * nz) / 8.0)).astype(np.complex64)
