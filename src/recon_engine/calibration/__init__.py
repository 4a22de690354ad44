"""Calibration and preprocessing: noise prewhitening, oversampling removal, coil combination."""

from recon_engine.calibration.coil_combine import adaptive_combine, rss_combine, walsh_maps
from recon_engine.calibration.density import (
    DENSITY_METHODS,
    density_compensation,
    pipe_menon_density,
    voronoi_density,
)
from recon_engine.calibration.epi import epi_phase_correction, estimate_epi_phase, ghost_to_signal_ratio
from recon_engine.calibration.noise import noise_covariance, prewhiten, prewhitening_matrix
from recon_engine.calibration.oversampling import fit_to_recon_space, resize_centered

__all__ = [
    "DENSITY_METHODS",
    "adaptive_combine",
    "density_compensation",
    "epi_phase_correction",
    "estimate_epi_phase",
    "fit_to_recon_space",
    "ghost_to_signal_ratio",
    "noise_covariance",
    "pipe_menon_density",
    "prewhiten",
    "prewhitening_matrix",
    "resize_centered",
    "rss_combine",
    "voronoi_density",
    "walsh_maps",
]
