"""Calibration and preprocessing: noise prewhitening, oversampling removal, coil combination."""

from recon_engine.calibration.coil_combine import adaptive_combine, rss_combine, walsh_maps
from recon_engine.calibration.noise import noise_covariance, prewhiten, prewhitening_matrix
from recon_engine.calibration.oversampling import fit_to_recon_space, resize_centered

__all__ = [
    "adaptive_combine",
    "fit_to_recon_space",
    "noise_covariance",
    "prewhiten",
    "prewhitening_matrix",
    "resize_centered",
    "rss_combine",
    "walsh_maps",
]
