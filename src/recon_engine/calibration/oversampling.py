"""From the encoded space to the reconstruction space.

Readout oversampling removal and matrix changes (ISMRMRD ``encodedSpace`` →
``reconSpace``).
"""

from __future__ import annotations

import math

import torch

from recon_engine.data.header import MRHeader
from recon_engine.operators.fft import centered_fft, centered_ifft

__all__ = ["crop_centered", "fit_to_recon_space", "resize_centered"]


def crop_centered(x: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Keep ``n`` entries of ``axis`` around index ``N // 2`` (which stays the centre)."""
    size = x.shape[axis]
    if n >= size:
        return x
    start = size // 2 - n // 2
    return x.narrow(axis, start, n)


def resize_centered(x: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Change the number of samples of an image axis by zero-padding or cropping its k-space.

    The FOV stays the same; the voxel size changes. Amplitudes are preserved
    (orthonormal FFTs rescaled by ``sqrt(n / N)``).

    Parameters
    ----------
    x
        complex tensor; ``axis`` is an image axis.
    axis
        Axis to resize.
    n
        New number of samples.
    """
    size = x.shape[axis]
    if n == size:
        return x
    k = centered_fft(x.movedim(axis, -1), 1)
    if n < size:
        k = crop_centered(k, -1, n)
    else:
        pad = torch.zeros((*k.shape[:-1], n), dtype=k.dtype, device=k.device)
        start = n // 2 - size // 2
        pad[..., start : start + size] = k
        k = pad
    out = centered_ifft(k, 1) * math.sqrt(n / size)
    return out.movedim(-1, axis)


def fit_to_recon_space(image: torch.Tensor, header: MRHeader) -> torch.Tensor:
    """Crop the encoded FOV to the recon FOV, then resample to the recon matrix.

    Removes readout oversampling (encoded FOV x = 2 × recon FOV x → keep the central
    half) and applies any phase-encoding FOV or matrix difference the same way.

    Parameters
    ----------
    image
        complex tensor ``(*, z, y, x)`` in the encoded space.
    header
        Gives encoded and recon matrix and FOV.

    Returns
    -------
    torch.Tensor
        complex ``(*, z', y', x')`` with ``(x', y', z')`` the recon matrix (``z'`` is
        the encoded ``z`` for 2D acquisitions, i.e. 1).
    """
    out = image
    for axis, a in ((-1, 0), (-2, 1), (-3, 2)):
        n_enc = out.shape[axis]
        if n_enc <= 1:
            continue
        fov_e, fov_r = header.encoded_fov_mm[a], header.recon_fov_mm[a]
        if fov_e > 0 and 0 < fov_r < fov_e * (1 - 1e-6):
            out = crop_centered(out, axis, max(1, round(n_enc * fov_r / fov_e)))
        n_rec = header.recon_matrix[a]
        if n_rec > 1 and n_rec != out.shape[axis]:
            out = resize_centered(out, axis, n_rec)
    return out
