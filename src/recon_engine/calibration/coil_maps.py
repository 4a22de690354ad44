"""Coil sensitivity maps from the calibration region of k-space: ESPIRiT, Walsh and Inati.

The maps live on the *encoded* grid of the k-space (readout oversampling kept): SENSE
and CS reconstruct there and crop to the recon space afterwards. For non-Cartesian data
the grid is the NUFFT's (the recon matrix).

Calibration data: the fully sampled block of phase-encoding lines flagged in
``calibration_mask`` (ACS lines), or, when none are flagged, the fully sampled centre of
the sampling mask, at most ``calibration_size`` samples along each encoded axis. For
non-Cartesian data the samples inside the central ``calibration_size`` square (cube) are
gridded with the NUFFT (Pipe–Menon density compensation) onto a Cartesian calibration
block.

ESPIRiT (Uecker et al. 2014): the calibration matrix of all ``kernel_size``-wide k-space
patches is decomposed, ``A = U Σ Vᴴ``; the right singular vectors with
``σ > threshold · σ_max`` span the signal subspace. In image space its projector is, at
every voxel ``r``, the ``coils × coils`` matrix ``G(r) = (1/K) Σ_j ṽ_j(r) ṽ_j(r)ᴴ`` with
``ṽ_j(r) = Σ_κ v_j(κ) exp(2πi κ·r/N)`` (``K`` kernel positions). The sensitivities are the
eigenvectors of ``G(r)`` with eigenvalue 1; voxels whose eigenvalue is below ``crop``
(no signal) are set to 0. ``G`` is a trigonometric polynomial of degree ``kernel_size - 1``,
so its Fourier coefficients are computed exactly on a ``(2·kernel_size - 1)``-point grid
and evaluated on the image grid by separable DFTs (exact interpolation, little memory).
Where the object is larger than the FOV, two eigenvalues are ≈ 1 and ``n_maps = 2``
returns both sets (Uecker et al. 2014, Fig. 8).

Walsh (Walsh et al. 2000, :func:`~recon_engine.calibration.coil_combine.walsh_maps`) and
Inati (Inati, Hansen & Kellman 2013) work on low-resolution coil images made from the same
calibration block (zero-padded to the image grid).

Normalisation and phase: every set is unit-norm over coils, ``Σ_c |S_mc(r)|² = 1``, where
its eigenvalue ≥ ``crop`` (ESPIRiT) and everywhere (Walsh, Inati), 0 elsewhere; so with two
sets ``Σ_{m,c} |S|²`` is 2 where both are present, as each set represents a different part of
the object. The per-voxel phase is made relative to a virtual body coil, the dominant
principal component of the calibration data (Buehrer, Boesiger & Kozerke 2009), so that
``Σ_c S_c* x_c`` has a smooth, body-coil-like phase.

Package choice: none of the existing packages fits, so this module is torch code of our
own. SigPy (``sigpy.mri.app.EspiritCalib``) returns one set of maps only (not the two that
data with a FOV smaller than the object need), runs on numpy/cupy (a GPU reconstruction would
copy every calibration to and from cupy) and pulls numba/llvmlite. MRpro has Walsh and Inati but
no ESPIRiT and depends on torchvision (which pulls a new CUDA torch here). The torch package
``espirit`` needs Python ≥ 3.12 (this project supports 3.10). BART is a C tool, not a Python
dependency. Here everything stays on the compute device.

References
----------
M. Uecker, P. Lai, M. J. Murphy, P. Virtue, M. Elad, J. M. Pauly, S. S. Vasanawala, M. Lustig,
"ESPIRiT—an eigenvalue approach to autocalibrating parallel MRI: where SENSE meets GRAPPA",
Magn. Reson. Med. 71:990–1001 (2014), doi:10.1002/mrm.24751.
S. J. Inati, M. S. Hansen, P. Kellman, "A solution to the phase problem in adaptive coil
combination", Proc. ISMRM 21:2672 (2013).
M. Buehrer, P. Boesiger, S. Kozerke, "Virtual body coil calibration for phased-array imaging",
Proc. ISMRM 17 (2009).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from recon_engine.calibration.coil_combine import walsh_maps
from recon_engine.calibration.density import density_compensation
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_fft, centered_ifft
from recon_engine.operators.nufft import NUFFTOp

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

_CHUNK = 16384  # voxels per batched eigh (cuSOLVER rejects much larger batches)
_GRID_MARGIN = 4  # extra samples gridded around a non-Cartesian calibration block, then cropped


# --------------------------------------------------------------------------- ESPIRiT
def _kernel_shape(calib_shape: Sequence[int], kernel_size: int) -> tuple[int, int, int]:
    """Kernel extent along ``(k2, k1, k0)``: ``kernel_size`` on every axis longer than 1."""
    dims = "k2", "k1", "k0"
    small = [(d, n) for d, n in zip(dims, calib_shape, strict=True) if 1 < n < kernel_size]
    if small:
        sizes = " × ".join(str(n) for n in calib_shape if n > 1)
        names = " × ".join(d for d, n in zip(dims, calib_shape, strict=True) if n > 1)
        raise DataError(
            f"the calibration region is {sizes} ({names}) samples, smaller than the "
            f"{kernel_size}-sample ESPIRiT kernel along {', '.join(d for d, _ in small)}: acquire "
            "more calibration (ACS) lines or reduce kernel_size"
        )
    k = tuple(kernel_size if n > 1 else 1 for n in calib_shape)
    return k[0], k[1], k[2]


def _patches(calib: torch.Tensor, kernel: tuple[int, int, int]) -> torch.Tensor:
    """Calibration matrix ``(patches, coils · K)`` of a block ``(coils, n2, n1, n0)``."""
    c = calib.shape[0]
    p = calib.unfold(1, kernel[0], 1).unfold(2, kernel[1], 1).unfold(3, kernel[2], 1)
    # (c, p2, p1, p0, k2, k1, k0) → (p2, p1, p0, c, k2, k1, k0)
    p = p.permute(1, 2, 3, 0, 4, 5, 6)
    return p.reshape(-1, c * math.prod(kernel))


def _signal_kernels(calib: torch.Tensor, kernel: tuple[int, int, int], threshold: float) -> torch.Tensor:
    """Right singular vectors with ``σ > threshold σ_max``, as kernels ``(n, coils, k2, k1, k0)``."""
    a = _patches(calib, kernel)
    gram = a.conj().T @ a
    # complex64 suffices: σ² down to threshold² σ_max² ≫ float32 rounding of σ_max²
    evals, evecs = torch.linalg.eigh((gram + gram.conj().T) / 2)  # ascending, σ² = evals
    sigma = evals.clamp_min(0).sqrt()
    keep = sigma > threshold * sigma[-1]
    # patches (rows of A, unconjugated) lie in the span of conj(v_j)
    v = evecs[:, keep].T.conj()  # (n, c·K)
    return v.reshape(-1, calib.shape[0], *kernel)


def _coefficients(v: torch.Tensor) -> torch.Tensor:
    """Fourier coefficients ``C (c, c, M2, M1, M0)`` of ``G(r)``, ``M = 2k - 1``, index ``d mod M``."""
    kernel = tuple(v.shape[-3:])
    m = tuple(2 * k - 1 for k in kernel)
    dims = (-3, -2, -1)
    # ṽ_j(f) = Σ_κ v_j(κ) exp(+2πi κ f / M)
    vt = torch.fft.ifftn(v, s=m, dim=dims) * math.prod(m)
    q = torch.einsum("jafgh,jbfgh->abfgh", vt, vt.conj())
    return torch.fft.fftn(q, dim=dims) / (math.prod(kernel) * math.prod(m))


def _dft_matrix(n: int, m: int, device: torch.device) -> torch.Tensor:
    """``E[ρ, i] = exp(2πi d_i ρ / n)`` with ``ρ = idx - n // 2`` and ``d_i = i`` or ``i - m``."""
    idx = torch.arange(m, device=device, dtype=torch.float64)
    d = torch.where(idx <= (m - 1) / 2, idx, idx - m)
    rho = torch.arange(n, device=device, dtype=torch.float64) - n // 2
    return torch.exp(2j * math.pi * rho[:, None] * d[None, :] / n).to(torch.complex64)


def _top_eigen(g: torch.Tensor, n_maps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest ``n_maps`` eigenpairs of Hermitian ``(voxels, c, c)``.

    Returns values ``(n_maps, voxels)`` and vectors ``(n_maps, c, voxels)``. (Subspace
    iteration from the calibration's principal components was tried: 5–10× slower than the
    batched ``eigh`` on the CPU, as voxels with close eigenvalues converge slowly.)
    """
    vals, vecs = [], []
    for start in range(0, g.shape[0], _CHUNK):
        chunk = g[start : start + _CHUNK]
        w, v = torch.linalg.eigh((chunk + chunk.conj().transpose(-1, -2)) / 2)
        vals.append(w[:, -n_maps:].flip(-1).T)
        vecs.append(v[:, :, -n_maps:].flip(-1).permute(2, 1, 0))
    return torch.cat(vals, dim=-1), torch.cat(vecs, dim=-1)


def espirit_maps(
    calib: torch.Tensor,
    image_shape: Sequence[int],
    *,
    kernel_size: int = 6,
    threshold: float = 0.02,
    crop: float = 0.95,
    n_maps: int = 1,
) -> torch.Tensor:
    """ESPIRiT sensitivities from a fully sampled calibration block (module docstring).

    Parameters
    ----------
    calib
        complex ``(coils, kz, ky, kx)`` Cartesian calibration k-space, centre at index
        ``n // 2`` of each axis, on the k-space grid of the image (same sample spacing).
    image_shape
        ``(z, y, x)`` (or ``(y, x)``) of the image grid the maps are evaluated on.
    kernel_size
        ESPIRiT kernel width in samples along every axis with more than one sample.
    threshold
        Singular values above ``threshold · σ_max`` span the signal subspace.
    crop
        Maps are set to 0 where their eigenvalue is below ``crop`` (0 keeps them all).
    n_maps
        Number of sets (eigenvectors) returned, 1 or 2.

    Returns
    -------
    torch.Tensor
        complex64 ``(n_maps, coils, z, y, x)`` (``(n_maps, coils, y, x)`` for a 2-tuple
        ``image_shape``), unit norm over coils where kept; phase as the eigen-solver returns
        it (:func:`estimate_coil_maps` references it to a virtual body coil).

    Raises
    ------
    DataError
        A calibration block smaller than the kernel, or without signal.
    ParameterError
        Impossible parameters.
    """
    shape = tuple(int(n) for n in image_shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ParameterError(f"image_shape must be (z, y, x) or (y, x), got {image_shape!r}")
    zyx = (1, *shape) if len(shape) == 2 else shape
    if calib.ndim != 4:
        raise DataError(f"ESPIRiT calibration data must be (coils, kz, ky, kx), got {tuple(calib.shape)}")
    _check_espirit_parameters(kernel_size, threshold, crop, n_maps, calib.shape[0])
    if any(c > n for c, n in zip(calib.shape[1:], zyx, strict=True)):
        raise ParameterError(f"calibration block {tuple(calib.shape[1:])} is larger than the image {zyx}")
    calib = calib.to(torch.complex64)
    if not bool(torch.isfinite(torch.view_as_real(calib)).all()):
        raise DataError("the calibration data contain NaN or infinite values")
    if float(calib.abs().max()) == 0.0:
        raise DataError("the calibration region holds no signal (all zeros)")
    kernel = _kernel_shape(tuple(calib.shape[1:]), kernel_size)
    coeff = _coefficients(_signal_kernels(calib, kernel, threshold))
    c = calib.shape[0]
    ez, ey, ex = (_dft_matrix(n, m, calib.device) for n, m in zip(zyx, coeff.shape[2:], strict=True))
    out = torch.zeros((n_maps, c, *zyx), dtype=torch.complex64, device=calib.device)
    gyx = torch.einsum("abfgh,yg,xh->abfyx", coeff, ey, ex)  # (c, c, M2, y, x)
    planes = max(1, _CHUNK // (zyx[1] * zyx[2]))
    for z in range(0, zyx[0], planes):
        g = torch.einsum("abfyx,zf->zyxab", gyx, ez[z : z + planes]).reshape(-1, c, c)
        vals, vecs = _top_eigen(g, n_maps)
        keep = (vals >= crop).to(vecs.dtype)
        out[:, :, z : z + planes] = (vecs * keep[:, None]).reshape(n_maps, c, -1, *zyx[1:])
    return out if len(shape) == 3 else out[:, :, 0]


def _check_espirit_parameters(kernel_size: int, threshold: float, crop: float, n_maps: int, c: int) -> None:
    if int(kernel_size) != kernel_size or kernel_size < 2:
        raise ParameterError(f"ESPIRiT kernel_size must be an integer ≥ 2 samples, got {kernel_size!r}")
    if not 0.0 < threshold < 1.0:
        raise ParameterError(
            f"ESPIRiT threshold is relative to the largest singular value, in (0, 1); got {threshold}"
        )
    if not 0.0 <= crop < 1.0:
        raise ParameterError(f"ESPIRiT crop is an eigenvalue threshold in [0, 1); got {crop}")
    if n_maps not in (1, 2) or n_maps > c:
        raise ParameterError(f"n_maps must be 1 or 2 (and ≤ the {c} coils), got {n_maps}")


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


# --------------------------------------------------------------------------- calibration data
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


def _lead(kspace: KSpace) -> tuple[int, ...]:
    """Shape of ``other`` without the ``average`` axis."""
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
        _check_espirit_parameters(kernel_size, threshold, crop, n_maps, kspace.n_coils)
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
    lead = _lead(kspace)
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
