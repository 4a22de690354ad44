"""Simulation: phantoms with PD/T1/T2, coil sensitivities, Cartesian acquisitions, sample data.

- :func:`shepp_logan` / :func:`shepp_logan_3d`: modified Shepp–Logan phantom ``(y, x)`` /
  ``(z, y, x)``; :func:`shepp_logan_kspace`: its analytic k-space (no inverse crime);
  :func:`tissue_maps`: PD, T1, T2 maps of the same ellipses.
- :func:`birdcage_sensitivities`: ring-array coil maps ``(coils, [z,] y, x)``.
- :func:`simulate_cartesian`: image → :class:`~recon_engine.data.kspace.KSpace` with
  undersampling, calibration lines, readout oversampling, correlated noise and a noise scan.
- :func:`sample_path`: the project's sample ISMRMRD files (:data:`SAMPLES`).
- :func:`simulate_seq` / :func:`simulate_seq_steps`: Bloch simulation of a Pulseq sequence on
  a phantom (:data:`SEQ_PHANTOMS`), raw data with the sequence's ADC layout;
  :func:`smooth_b0_map`: a demonstration off-resonance map.
"""

from recon_engine.simulate.acquire import cartesian_mask, noise_covariance, simulate_cartesian
from recon_engine.simulate.coils import birdcage_sensitivities
from recon_engine.simulate.phantom import (
    ELLIPSES,
    TISSUES,
    Ellipse,
    Tissue,
    shepp_logan,
    shepp_logan_3d,
    shepp_logan_kspace,
    shepp_logan_kspace_3d,
    tissue_maps,
)
from recon_engine.simulate.sample_data import (
    SAMPLES,
    cache_dir,
    make_sample_data,
    sample_path,
    simulate_sample,
)
from recon_engine.simulate.seq_sim import PHANTOMS as SEQ_PHANTOMS
from recon_engine.simulate.seq_sim import simulate_seq, simulate_seq_steps, smooth_b0_map
from recon_engine.simulate.trajectories import GOLDEN_ANGLE_RAD, epi, radial, simulate_noncartesian, spiral

__all__ = [
    "ELLIPSES",
    "GOLDEN_ANGLE_RAD",
    "SAMPLES",
    "SEQ_PHANTOMS",
    "TISSUES",
    "Ellipse",
    "Tissue",
    "birdcage_sensitivities",
    "cache_dir",
    "cartesian_mask",
    "epi",
    "make_sample_data",
    "noise_covariance",
    "radial",
    "sample_path",
    "shepp_logan",
    "shepp_logan_3d",
    "shepp_logan_kspace",
    "shepp_logan_kspace_3d",
    "simulate_cartesian",
    "simulate_noncartesian",
    "simulate_sample",
    "simulate_seq",
    "simulate_seq_steps",
    "smooth_b0_map",
    "spiral",
    "tissue_maps",
]
