"""ESPIRiT coil sensitivities from a fully sampled Cartesian calibration block.

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

The calibration block comes from :func:`recon_engine.calibration.calibration_region.calibration_data`;
:func:`recon_engine.calibration.coil_maps.estimate_coil_maps` runs this per volume and
references the phase to a virtual body coil.

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from recon_engine.errors import DataError, ParameterError

__all__ = ["check_espirit_parameters", "espirit_maps"]

_CHUNK = 16384  # voxels per batched eigh (cuSOLVER rejects much larger batches)


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
    check_espirit_parameters(kernel_size, threshold, crop, n_maps, calib.shape[0])
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


def check_espirit_parameters(kernel_size: int, threshold: float, crop: float, n_maps: int, c: int) -> None:
    """Raise :class:`ParameterError` for impossible ESPIRiT options (``c`` coils).

    Parameters
    ----------
    kernel_size, threshold, crop, n_maps
        As in :func:`espirit_maps`.
    c
        Number of coils (``n_maps`` cannot exceed it).
    """
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
