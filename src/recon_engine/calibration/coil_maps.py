"""Coil sensitivity maps from the calibration region of k-space: ESPIRiT, Walsh and Inati.

:func:`estimate_coil_maps` is the entry point: it takes the calibration block of every
volume (:mod:`recon_engine.calibration.calibration_region`) and runs one of

- ESPIRiT (:mod:`recon_engine.calibration.espirit`, Uecker et al. 2014), one or two sets;
- Walsh (Walsh et al. 2000, :func:`~recon_engine.calibration.coil_combine.walsh_maps`);
- Inati (Inati, Hansen & Kellman 2013, :func:`inati_maps`, here).

Walsh and Inati work on low-resolution coil images made from the same calibration block
(zero-padded to the image grid). The maps live on the *encoded* grid of the k-space
(readout oversampling kept): SENSE and CS reconstruct there and crop to the recon space
afterwards. For non-Cartesian data the grid is the NUFFT's (the recon matrix).

Normalisation and phase: every set is unit-norm over coils, ``Σ_c |S_mc(r)|² = 1``, where
its eigenvalue ≥ ``crop`` (ESPIRiT) and everywhere (Walsh, Inati), 0 elsewhere; so with two
sets ``Σ_{m,c} |S|²`` is 2 where both are present, as each set represents a different part of
the object. The per-voxel phase is made relative to a virtual body coil, the dominant
principal component of the calibration data (Buehrer, Boesiger & Kozerke 2009), so that
``Σ_c S_c* x_c`` has a smooth, body-coil-like phase.

References
----------
S. J. Inati, M. S. Hansen, P. Kellman, "A solution to the phase problem in adaptive coil
combination", Proc. ISMRM 21:2672 (2013).
M. Buehrer, P. Boesiger, S. Kozerke, "Virtual body coil calibration for phased-array imaging",
Proc. ISMRM 17 (2009).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from recon_engine.calibration.calibration_region import calibration_data, maps_grid, maps_lead_shape
from recon_engine.calibration.coil_combine import walsh_maps
from recon_engine.calibration.espirit import check_espirit_parameters, espirit_maps
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_ifft

# calibration_data, espirit_maps and maps_grid are re-exported: their import path from here stays
__all__ = [
    "COIL_MAP_METHODS",
    "CoilMapMethod",
    "calibration_data",
    "check_coil_maps",
    "espirit_maps",
    "estimate_coil_maps",
    "inati_maps",
    "maps_grid",
]

CoilMapMethod = Literal["espirit", "walsh", "inati"]
COIL_MAP_METHODS: tuple[str, ...] = ("espirit", "walsh", "inati")


# --------------------------------------------------------------------------- Inati
def _smooth(x: torch.Tensor, size: int) -> torch.Tensor:
    """Box mean over ``size`` voxels of complex ``(c, z, y, x)`` (along ``z`` only in 3D)."""
    kz = size if x.shape[-3] > 1 else 1
    pad = (size // 2, (size - 1) // 2, size // 2, (size - 1) // 2, kz // 2, (kz - 1) // 2)
    parts = torch.view_as_real(x).permute(0, 4, 1, 2, 3).reshape(-1, 1, *x.shape[-3:])
    parts = F.avg_pool3d(F.pad(parts, pad, mode="replicate"), (kz, size, size), stride=1)
    parts = parts.reshape(x.shape[0], 2, *x.shape[-3:]).permute(0, 2, 3, 4, 1)
    return torch.view_as_complex(parts.contiguous())


def _virtual_coil(data: torch.Tensor) -> torch.Tensor:
    """Unit coil weights ``(coils,)`` of the dominant principal component of ``data (coils, ...)``."""
    x = data.reshape(data.shape[0], -1).to(torch.complex64)
    cov = x @ x.conj().T
    _, vecs = torch.linalg.eigh((cov + cov.conj().T) / 2)
    return vecs[:, -1]


def inati_maps(images: torch.Tensor, *, kernel_size: int = 7, iterations: int = 5) -> torch.Tensor:
    """Coil sensitivities by Inati's iterative method.

    Alternates a combined image ``R = Σ_c D_c* x_c`` and sensitivities
    ``D = smooth(x · R*) / ‖smooth(x · R*)‖_c``, starting from the virtual body coil (dominant
    principal component of the images), whose phase the result keeps: a power iteration of
    the locally smoothed coil covariance that needs no ``coils × coils`` eigen-decomposition.

    Parameters
    ----------
    images
        complex ``(coils, z, y, x)`` coil images of one volume.
    kernel_size
        Edge of the smoothing box in voxels (``z`` only for 3D), ≥ 1.
    iterations
        Number of iterations, ≥ 1.

    Returns
    -------
    torch.Tensor
        complex64 ``(coils, z, y, x)``, unit norm over coils (0 where the images are 0).
    """
    if images.ndim != 4:
        raise DataError(f"Inati maps need coil images (coils, z, y, x), got shape {tuple(images.shape)}")
    if int(kernel_size) != kernel_size or kernel_size < 1 or int(iterations) != iterations or iterations < 1:
        raise ParameterError(
            f"Inati needs an integer kernel_size ≥ 1 and iterations ≥ 1, got {kernel_size} and {iterations}"
        )
    x = images.to(torch.complex64)
    eps = torch.finfo(torch.float32).eps * float(x.abs().mean()) + 1e-30
    w = _virtual_coil(x)
    r = torch.einsum("c,czyx->zyx", w.conj(), x)
    d = x
    for _ in range(int(iterations)):
        d = _smooth(x * r.conj(), int(kernel_size))
        d = d / (torch.linalg.vector_norm(d, dim=0, keepdim=True) + eps)
        r = (d.conj() * x).sum(dim=0)
    return d


# --------------------------------------------------------------------------- entry points
def _pad_to(calib: torch.Tensor, zyx: Sequence[int]) -> torch.Tensor:
    """Zero-pad a centred block ``(coils, n2, n1, n0)`` to ``(coils, *zyx)`` (centres kept)."""
    out = torch.zeros((calib.shape[0], *zyx), dtype=calib.dtype, device=calib.device)
    idx = [slice(None)] + [
        slice(n // 2 - c // 2, n // 2 - c // 2 + c) for n, c in zip(zyx, calib.shape[1:], strict=True)
    ]
    out[tuple(idx)] = calib
    return out


def _reference_phase(maps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Rotate each set ``(n_maps, c, z, y, x)`` so that ``Σ_c w_c* S_c`` is real and positive."""
    p = torch.einsum("c,mczyx->mzyx", weights.conj(), maps)
    mag = p.abs()
    ok = mag > 1e-6 * mag.amax().clamp_min(1e-30)
    rot = torch.where(ok, p.conj() / mag.clamp_min(1e-30), torch.ones_like(p))
    return maps * rot[:, None]


# --------------------------------------------------------------------------- entry points
def estimate_coil_maps(
    kspace: KSpace,
    *,
    method: CoilMapMethod = "espirit",
    kernel_size: int = 6,
    calibration_size: int = 24,
    threshold: float = 0.02,
    crop: float = 0.95,
    n_maps: int = 1,
    iterations: int = 5,
    device: DeviceLike = "auto",
) -> torch.Tensor:
    """Coil sensitivities of every volume of a k-space (see the module docstring).

    Parameters
    ----------
    kspace
        ``data`` ``(*other, coils, k2, k1, k0)``, Cartesian (``calibration_mask`` lines, or a
        fully sampled centre) or with a ``trajectory`` ``(*other, k2, k1, k0, 3)``. Maps are
        estimated in the coil basis of ``data`` as given: prewhiten or compress first when the
        reconstruction does.
    method
        ``"espirit"``, ``"walsh"`` or ``"inati"``.
    kernel_size
        ESPIRiT kernel width in k-space samples; for Walsh/Inati the neighbourhood edge in
        voxels (an even value is rounded up to the next odd one).
    calibration_size
        At most this many calibration samples along each encoded axis.
    threshold, crop
        ESPIRiT singular-value threshold (relative) and eigenvalue crop.
    n_maps
        ESPIRiT sets: 1, or 2 where the object is larger than the FOV.
    iterations
        Inati iterations.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``: where the maps are computed and returned.

    Returns
    -------
    torch.Tensor
        complex64 ``(*other, n_maps, coils, z, y, x)`` on the encoded grid ``(k2, k1, k0)``
        sizes (readout oversampling kept; non-Cartesian: the recon matrix, ``z = 1`` in 2D);
        ``other`` without ``average`` (averages are summed before calibrating), so data
        without ``other`` axes gives ``(n_maps, coils, z, y, x)``.

    Raises
    ------
    ParameterError
        Unknown method, impossible sizes or thresholds.
    DataError
        No usable calibration region (centre not acquired, fewer samples than the kernel).
    """
    if method not in COIL_MAP_METHODS:
        raise ParameterError(f"unknown coil sensitivity method {method!r}; choose one of {COIL_MAP_METHODS}")
    if int(calibration_size) != calibration_size or calibration_size < 2:
        raise ParameterError(f"calibration_size must be an integer ≥ 2 samples, got {calibration_size!r}")
    if method == "espirit":
        check_espirit_parameters(kernel_size, threshold, crop, n_maps, kspace.n_coils)
        if calibration_size < kernel_size:
            raise ParameterError(
                f"calibration_size {calibration_size} is smaller than the ESPIRiT kernel ({kernel_size} "
                "samples): the calibration region must hold at least one kernel"
            )
    elif n_maps != 1:
        raise ParameterError(f"{method} gives one set of maps; n_maps = {n_maps} needs method='espirit'")
    elif int(kernel_size) != kernel_size or kernel_size < 1:
        raise ParameterError(f"kernel_size must be a positive integer, got {kernel_size!r}")
    zyx = maps_grid(kspace)
    lead = maps_lead_shape(kspace)
    outs = []
    for calib in calibration_data(kspace, calibration_size=calibration_size, device=device):
        if method == "espirit":
            maps = espirit_maps(
                calib, zyx, kernel_size=kernel_size, threshold=threshold, crop=crop, n_maps=n_maps
            )
        else:
            images = centered_ifft(_pad_to(calib, zyx), 3 if zyx[0] > 1 else 2)
            size = max(3, int(kernel_size) | 1)
            if method == "walsh":
                maps = walsh_maps(images, kernel_size=size)[None]
            else:
                maps = inati_maps(images, kernel_size=size, iterations=iterations)[None]
        outs.append(_reference_phase(maps, _virtual_coil(calib)))
    return torch.stack(outs).reshape(*lead, *outs[0].shape)


def check_coil_maps(maps: torch.Tensor, kspace: KSpace) -> torch.Tensor:
    """Check that coil maps fit a k-space; return them as ``(*other, n_maps, coils, z, y, x)``.

    Parameters
    ----------
    maps
        complex ``(coils, z, y, x)``, ``(n_maps, coils, z, y, x)`` or
        ``(*other, n_maps, coils, z, y, x)`` (``other`` as :func:`estimate_coil_maps` returns it).
    kspace
        The k-space they are meant for.

    Returns
    -------
    torch.Tensor
        ``maps`` with a leading ``n_maps`` axis added when it was missing.

    Raises
    ------
    DataError
        Wrong number of coils, a grid other than the encoded one, or NaNs.
    """
    if maps.ndim == 4:
        maps = maps[None]
    grid = maps_grid(kspace)
    if maps.ndim < 5:
        raise DataError(
            f"coil maps must be (n_maps, coils, z, y, x), got shape {tuple(maps.shape)} (2D maps have z = 1)"
        )
    c = kspace.n_coils
    if maps.shape[-4] != c:
        raise DataError(
            f"the coil maps have {maps.shape[-4]} coils but the k-space has {c}: estimate the maps from "
            "this k-space (after any coil compression or channel selection)"
        )
    if tuple(maps.shape[-3:]) != grid:
        what = (
            "the encoded grid (readout oversampling kept)" if kspace.trajectory is None else "the NUFFT grid"
        )
        raise DataError(
            f"the coil maps are {' × '.join(map(str, maps.shape[-3:]))} (z × y × x) but {what} is "
            f"{' × '.join(map(str, grid))}"
        )
    if not bool(torch.isfinite(torch.view_as_real(maps.to(torch.complex64))).all()):
        raise DataError("the coil maps contain NaN or infinite values")
    return maps
