"""Coil compression: fewer virtual coils that keep almost all of the signal.

SVD / PCA compression (Buehrer et al. 2007; Huang et al. 2008): the coil covariance
``R = X Xᴴ`` of the data ``X (coils, samples)`` has eigenvectors ``U`` (descending
eigenvalues); the ``n`` virtual coils are ``A X`` with ``A = U[:, :n]ᴴ`` ``(n, coils)``, which
keep the fraction ``Σ_{i<n} λ_i / Σ λ_i`` of the energy. The rows of ``A`` are orthonormal,
so prewhitened noise stays white with the same variance: prewhiten first, then compress.

Geometric coil compression (Zhang et al. 2013), Cartesian data only: after an inverse FFT
along the fully sampled readout, every readout position ``x`` of the hybrid space
``(coils, k2, k1, x)`` gets its own SVD matrix ``A_x``; the matrices are aligned from the
centre outwards (``A_x ← P A_x`` with the unitary ``P = V Uᴴ`` from the SVD
``A_x A_{x∓1}ᴴ = U Σ Vᴴ``, the orthogonal Procrustes solution), so that the virtual coils vary
smoothly along ``x`` and stay valid for k-space methods (GRAPPA, ESPIRiT). It keeps more
energy than one global matrix for the same number of virtual coils.

The noise scan is compressed with the same matrices (for geometric compression in blocks of
``k0`` samples, each treated like a readout: its per-``x`` covariance is exact, the
covariance of the time samples is the mean over ``x``), so prewhitening after compression
still works.

References
----------
M. Buehrer, K. P. Pruessmann, P. Boesiger, S. Kozerke, "Array compression for MRI with large
coil arrays", Magn. Reson. Med. 57:1131–1139 (2007), doi:10.1002/mrm.21237.
F. Huang, S. Vijayakumar, Y. Li, S. Hertel, G. R. Duensing, "A software channel compression
technique for faster reconstruction with many channels", Magn. Reson. Imaging 26:133–141
(2008), doi:10.1016/j.mri.2007.04.010.
T. Zhang, J. M. Pauly, S. S. Vasanawala, M. Lustig, "Coil compression for accelerated imaging
with Cartesian sampling", Magn. Reson. Med. 69:571–582 (2013), doi:10.1002/mrm.24267.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import torch

from recon_engine.calibration.calibration_region import calibration_data
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_fft, centered_ifft

__all__ = [
    "COMPRESSION_METHODS",
    "CompressionMethod",
    "CompressionRegion",
    "apply_coil_compression",
    "coil_compression_matrix",
    "compress_coils",
    "compression_energy",
]

CompressionMethod = Literal["svd", "geometric"]
CompressionRegion = Literal["all", "calibration"]
COMPRESSION_METHODS: tuple[str, ...] = ("svd", "geometric")


def _check(kspace: KSpace, method: str, region: str) -> None:
    if method not in COMPRESSION_METHODS:
        raise ParameterError(f"unknown coil compression {method!r}; choose one of {COMPRESSION_METHODS}")
    if region not in ("all", "calibration"):
        raise ParameterError(f"coil compression region must be 'all' or 'calibration', got {region!r}")
    if method == "geometric" and kspace.trajectory is not None:
        raise ParameterError(
            "geometric coil compression needs a Cartesian, fully sampled readout (k0); "
            "use method='svd' for non-Cartesian data"
        )


def _sampled_lines(kspace: KSpace, device: torch.device) -> torch.Tensor:
    """Acquired readouts ``(coils, n_lines, k0)`` of all volumes."""
    data = kspace.data.to(device, torch.complex64)
    mask = kspace.sampling_mask.to(device).expand(*data.shape[:-4], *data.shape[-3:-1])
    lines = data.movedim(-4, -1)[mask]  # (n_lines, k0, coils)
    if lines.shape[0] == 0:
        raise DataError("the k-space holds no acquired readouts")
    return lines.permute(2, 0, 1)


def _training_data(kspace: KSpace, region: str, device: torch.device) -> torch.Tensor:
    """Samples the compression is computed from: ``(coils, n_lines, k0)``."""
    if region == "all":
        return _sampled_lines(kspace, device)
    blocks = calibration_data(kspace, full_readout=True, device=device)
    c = kspace.n_coils
    return torch.cat([b.reshape(c, -1, b.shape[-1]) for b in blocks], dim=1)


def _sorted_eig(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors (columns) of Hermitian ``(..., c, c)``."""
    c = cov.to(torch.complex64)
    vals, vecs = torch.linalg.eigh((c + c.conj().transpose(-1, -2)) / 2)
    return vals.flip(-1).clamp_min(0), vecs.flip(-1)


def _procrustes_align(a: torch.Tensor) -> torch.Tensor:
    """Align per-``x`` matrices ``(x, n, c)`` from the centre outwards (Zhang 2013)."""
    out = a.clone()
    n_x = a.shape[0]
    centre = n_x // 2
    order = [(x, x - 1) for x in range(centre + 1, n_x)] + [(x, x + 1) for x in range(centre - 1, -1, -1)]
    for x, prev in order:
        u, _, vh = torch.linalg.svd(out[x] @ out[prev].conj().T)
        out[x] = (vh.conj().T @ u.conj().T) @ out[x]
    return out


def _geometric(lines: torch.Tensor, n_virtual: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-``x`` aligned matrices ``(x, n, c)`` and eigenvalues ``(x, c)`` from readouts ``(c, n, k0)``."""
    hybrid = centered_ifft(lines, 1)  # (c, n, x)
    cov = torch.einsum("anx,bnx->xab", hybrid, hybrid.conj())
    vals, vecs = _sorted_eig(cov)
    a = vecs[..., :n_virtual].conj().transpose(-1, -2)  # (x, n, c)
    return _procrustes_align(a).to(torch.complex64), vals


def coil_compression_matrix(
    kspace: KSpace,
    n_virtual: int,
    *,
    method: CompressionMethod = "svd",
    region: CompressionRegion = "all",
    device: DeviceLike = "auto",
) -> torch.Tensor:
    """The compression matrix of a k-space.

    Parameters
    ----------
    kspace
        ``data`` ``(*other, coils, k2, k1, k0)``; one matrix is computed from all volumes.
    n_virtual
        Number of virtual coils, ``1 ≤ n_virtual ≤ coils``.
    method
        ``"svd"`` (one matrix) or ``"geometric"`` (one per readout position, Cartesian only).
    region
        ``"all"`` acquired samples, or the ``"calibration"`` lines (ACS lines or the fully
        sampled centre, as for the coil maps, with their whole readout).
    device
        Where it is computed and returned.

    Returns
    -------
    torch.Tensor
        complex64 ``(n_virtual, coils)`` for ``"svd"``; ``(k0, n_virtual, coils)`` for
        ``"geometric"``, indexed by the readout position ``x`` of the hybrid space (encoded
        grid, readout oversampling kept). Rows are orthonormal.
    """
    _check(kspace, method, region)
    c = kspace.n_coils
    if int(n_virtual) != n_virtual or not 1 <= n_virtual <= c:
        raise ParameterError(f"n_virtual must be an integer between 1 and the {c} coils, got {n_virtual!r}")
    lines = _training_data(kspace, region, resolve_device(device))
    if method == "geometric":
        return _geometric(lines, int(n_virtual))[0].resolve_conj()
    x = lines.reshape(c, -1)
    _, vecs = _sorted_eig(x @ x.conj().T)
    return vecs[:, : int(n_virtual)].conj().T.resolve_conj().contiguous()


def compression_energy(
    kspace: KSpace,
    *,
    method: CompressionMethod = "svd",
    region: CompressionRegion = "all",
    device: DeviceLike = "auto",
) -> torch.Tensor:
    """Fraction of the signal energy kept by ``1, 2, …, coils`` virtual coils.

    Returns
    -------
    torch.Tensor
        float64 ``(coils,)``, non-decreasing, last entry 1; pick the smallest ``n_virtual``
        whose entry reaches the energy you want to keep (e.g. 0.99).
    """
    _check(kspace, method, region)
    lines = _training_data(kspace, region, resolve_device(device))
    if method == "geometric":
        hybrid = centered_ifft(lines, 1)
        vals, _ = _sorted_eig(torch.einsum("anx,bnx->xab", hybrid, hybrid.conj()))
        vals = vals.sum(dim=0)
    else:
        x = lines.reshape(lines.shape[0], -1)
        vals, _ = _sorted_eig(x @ x.conj().T)
    total = vals.sum()
    if float(total) <= 0:
        raise DataError("the k-space holds no signal (all zeros)")
    return (vals.to(torch.float64).cumsum(0) / float(total)).cpu()


def apply_coil_compression(data: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a compression matrix to k-space ``(*, coils, k2, k1, k0)`` → ``(*, n_virtual, k2, k1, k0)``.

    ``matrix`` is ``(n_virtual, coils)`` or, for geometric compression, ``(k0, n_virtual, coils)``
    (applied in the hybrid space ``x`` of an inverse FFT along ``k0``).
    """
    a = matrix.to(data.device, torch.complex64)
    if a.ndim == 2:
        return torch.einsum("vc,...ckji->...vkji", a, data.to(torch.complex64))
    if a.shape[0] != data.shape[-1]:
        raise DataError(
            f"the geometric compression matrix is for {a.shape[0]} readout samples, "
            f"the k-space has {data.shape[-1]}"
        )
    hybrid = centered_ifft(data.to(torch.complex64), 1)
    return centered_fft(torch.einsum("xvc,...ckjx->...vkjx", a, hybrid), 1)


def _compress_noise(noise: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor | None:
    """Noise scan ``(coils, samples)`` → ``(n_virtual, samples')``; None if too short for a block."""
    a = matrix.to(noise.device, torch.complex64)
    n = noise.to(torch.complex64)
    if a.ndim == 2:
        return a @ n
    block = a.shape[0]
    n_blocks = n.shape[1] // block
    if n_blocks == 0:
        return None
    blocks = n[:, : n_blocks * block].reshape(n.shape[0], n_blocks, 1, 1, block)
    out = apply_coil_compression(blocks.movedim(0, 1), a)  # (blocks, v, 1, 1, k0)
    return out.movedim(0, 1).reshape(a.shape[1], -1)


def compress_coils(
    kspace: KSpace,
    n_virtual: int,
    *,
    method: CompressionMethod = "svd",
    region: CompressionRegion = "all",
    device: DeviceLike = "auto",
) -> KSpace:
    """Compress the receive channels of a k-space to ``n_virtual`` virtual coils.

    Parameters
    ----------
    kspace
        ``data`` ``(*other, coils, k2, k1, k0)``, best prewhitened (the rows of the matrix are
        orthonormal, so white noise stays white).
    n_virtual
        Number of virtual coils.
    method
        ``"svd"`` or ``"geometric"`` (Cartesian only).
    region
        ``"all"`` acquired samples or the ``"calibration"`` region.
    device
        Where it is computed; the returned k-space lives there.

    Returns
    -------
    KSpace
        ``data`` complex64 ``(*other, n_virtual, k2, k1, k0)``, ``noise`` compressed the same
        way (``(n_virtual, samples)``; None for geometric compression of a noise scan shorter
        than one readout), ``header.receiver_channels = n_virtual``, and
        ``meta["coil_compression"]`` with the method, region, coil counts and kept energy.
    """
    matrix = coil_compression_matrix(kspace, n_virtual, method=method, region=region, device=device)
    data = apply_coil_compression(kspace.data.to(matrix.device), matrix)
    lines = _training_data(kspace, region, matrix.device)
    kept = float(apply_coil_compression(lines[:, None], matrix).abs().square().sum())
    energy = kept / max(float(lines.abs().square().sum()), 1e-30)
    noise = None if kspace.noise is None else _compress_noise(kspace.noise.to(matrix.device), matrix)
    record: dict[str, object] = {
        "method": method,
        "region": region,
        "coils": kspace.n_coils,
        "virtual_coils": int(n_virtual),
        "energy_kept": round(energy, 6),
    }
    if kspace.noise is not None and noise is None:
        record["noise"] = "dropped: the noise scan is shorter than one readout"
    meta = {**kspace.meta, "coil_compression": record}
    return replace(
        kspace.to(matrix.device),
        data=data,
        noise=noise,
        header=replace(kspace.header, receiver_channels=int(n_virtual)),
        meta=meta,
    )
