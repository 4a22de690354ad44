"""Noise covariance and prewhitening of multi-coil data.

After prewhitening with ``W = L⁻¹`` (``Ψ = L Lᴴ`` the Cholesky factor of the noise
covariance) the channels carry uncorrelated noise of unit variance, which makes
root-sum-of-squares and adaptive combination SNR-optimal (Roemer 1990,
doi:10.1002/mrm.1910160203; Pruessmann 2001, doi:10.1002/mrm.1241).
"""

from __future__ import annotations

import torch

from recon_engine.errors import DataError

__all__ = ["noise_covariance", "prewhiten", "prewhitening_matrix"]


def noise_covariance(noise: torch.Tensor) -> torch.Tensor:
    """Sample covariance ``Ψ`` of noise samples.

    Parameters
    ----------
    noise
        complex tensor ``(coils, samples)``.

    Returns
    -------
    torch.Tensor
        complex ``(coils, coils)`` Hermitian, ``Ψ_ij = E[n_i n_j*]``, in the dtype of ``noise``.
        The mean and the sums are taken in complex128: a complex64 sum over many thousand
        samples is off by ~1e-4 relative, by an amount that depends on the CPU's summation
        order (vector width, threads); in float64 the result is exact to the output rounding.
    """
    if noise.ndim != 2 or noise.shape[1] < 2:
        raise DataError(f"noise scan must be (coils, samples) with ≥ 2 samples, got {tuple(noise.shape)}")
    wide = noise.to(torch.complex128)
    n = wide - wide.mean(dim=1, keepdim=True)
    return ((n @ n.conj().T) / (n.shape[1] - 1)).to(noise.dtype)


def prewhitening_matrix(covariance: torch.Tensor) -> torch.Tensor:
    """``W = L⁻¹`` with ``Ψ = L Lᴴ``; scaled so that the mean noise variance is unchanged.

    Parameters
    ----------
    covariance
        complex ``(coils, coils)`` noise covariance.

    Returns
    -------
    torch.Tensor
        complex ``(coils, coils)`` lower-triangular whitening matrix.

    Raises
    ------
    DataError
        If the covariance is not positive definite (a dead or duplicated channel).
    """
    c = covariance.to(torch.complex128)
    try:
        chol = torch.linalg.cholesky(c)
    except RuntimeError as exc:  # torch raises _LinAlgError (a RuntimeError)
        raise DataError(
            "noise covariance is not positive definite (a dead or duplicated receive channel?)"
        ) from exc
    eye = torch.eye(c.shape[0], dtype=c.dtype, device=c.device)
    w = torch.linalg.solve_triangular(chol, eye, upper=False)
    scale = torch.sqrt(torch.diagonal(c).real.mean())
    return (w * scale).to(covariance.dtype)


def prewhiten(data: torch.Tensor, whitening: torch.Tensor, coil_axis: int = -4) -> torch.Tensor:
    """Apply a whitening matrix along the coil axis.

    Parameters
    ----------
    data
        complex tensor with coils on ``coil_axis`` (k-space ``(*other, coils, k2, k1, k0)``).
    whitening
        complex ``(coils, coils)`` from :func:`prewhitening_matrix`.
    coil_axis
        Axis of the coils.

    Returns
    -------
    torch.Tensor
        Same shape as ``data``.
    """
    moved = data.movedim(coil_axis, -1)
    out = moved @ whitening.to(data.dtype).T
    return out.movedim(-1, coil_axis)
