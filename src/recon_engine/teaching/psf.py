"""Point-spread function of a sampling pattern: what one bright point looks like after sampling.

For Cartesian sampling with weights ``m(k)`` (mask × window × filter) the zero-filled image is
the true image convolved with ``PSF = F⁻¹(m)``. Regular undersampling by R puts copies of the
central peak, of the same height, at multiples of FOV/R (the aliases); random and
variable-density sampling smear that energy into low, noise-like side lobes spread over the
whole image (incoherent aliasing, which compressed sensing removes); a low resolution or a
window widens the central peak (blurring) and a sharp cut-off rings (Gibbs).
"""

from __future__ import annotations

import numpy as np

from recon_engine.errors import ParameterError
from recon_engine.teaching._fft import ifft2c

__all__ = ["PSF_FLOOR", "log_magnitude", "point_spread_function"]

#: Floor of the log-magnitude view (1e-4 of the peak, i.e. -80 dB).
PSF_FLOOR = 1e-4


def point_spread_function(mask: np.ndarray) -> np.ndarray:
    """PSF of a Cartesian sampling mask or weighting.

    Parameters
    ----------
    mask
        bool or real ``(ky, kx)`` sampling weights, k-space centre at ``N // 2``.

    Returns
    -------
    np.ndarray
        complex64 ``(y, x)`` image-space PSF, normalised to 1 at the image centre
        ``(N_y // 2, N_x // 2)`` (the response to a point there).

    Raises
    ------
    ParameterError
        Not 2D, or nothing sampled.
    """
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim != 2:
        raise ParameterError(f"mask must be 2D (ky, kx), got shape {m.shape}")
    total = float(m.sum())
    if not total > 0:
        raise ParameterError("the mask samples nothing: the PSF is zero")
    psf = ifft2c(m)
    return (psf / psf[m.shape[0] // 2, m.shape[1] // 2]).astype(np.complex64)


def log_magnitude(psf: np.ndarray) -> np.ndarray:
    """float32 ``log10(max(|psf|, 1e-4))``: 0 at the peak, -4 at the floor."""
    return np.log10(np.maximum(np.abs(psf), PSF_FLOOR)).astype(np.float32)
