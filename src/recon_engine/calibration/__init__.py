"""Calibration and preprocessing: noise prewhitening, oversampling removal, coil combination."""

from recon_engine.calibration.coil_combine import adaptive_combine, rss_combine, walsh_maps
from recon_engine.calibration.coil_compression import (
    coil_compression_matrix,
    compress_coils,
    compression_energy,
)
from recon_engine.calibration.coil_maps import (
    COIL_MAP_METHODS,
    calibration_data,
    check_coil_maps,
    espirit_maps,
    estimate_coil_maps,
    inati_maps,
)
from recon_engine.calibration.density import (
    DENSITY_METHODS,
    density_compensation,
    pipe_menon_density,
    voronoi_density,
)
from recon_engine.calibration.epi import epi_phase_correction, estimate_epi_phase, ghost_to_signal_ratio
from recon_engine.calibration.noise import noise_covariance, prewhiten, prewhitening_matrix
from recon_engine.calibration.oversampling import fit_to_recon_space, resize_centered
from recon_engine.calibration.partial_fourier import homodyne, pocs_partial_fourier

__all__ = [
    "COIL_MAP_METHODS",
    "DENSITY_METHODS",
    "adaptive_combine",
    "calibration_data",
    "check_coil_maps",
    "coil_compression_matrix",
    "compress_coils",
    "compression_energy",
    "density_compensation",
    "epi_phase_correction",
    "espirit_maps",
    "estimate_coil_maps",
    "estimate_epi_phase",
    "fit_to_recon_space",
    "ghost_to_signal_ratio",
    "homodyne",
    "inati_maps",
    "noise_covariance",
    "pipe_menon_density",
    "pocs_partial_fourier",
    "prewhiten",
    "prewhitening_matrix",
    "resize_centered",
    "rss_combine",
    "voronoi_density",
    "walsh_maps",
]
