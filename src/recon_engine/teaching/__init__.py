"""Teaching mode: k-space, undersampling, parallel imaging and compressed sensing demos.

The engine half of the napari "K-space Explorer": mask generators, point-spread functions,
noise and spikes, simulated coils, an :class:`ExplorerSource` (phantom, image or raw data) and
:func:`explore`, which turns :class:`ExplorerSettings` into every linked view
(:class:`ExplorerViews`) using the engine's own reconstructions; acquisition and iteration
movies; and :data:`EXPLANATIONS`, short texts for students. The same demos run in a notebook::

    from recon_engine.teaching import ExplorerSettings, ExplorerSource, explore
    views = explore(ExplorerSource.phantom(256), ExplorerSettings(acceleration=2, recon="sense"))
"""

from __future__ import annotations

from recon_engine.teaching.corruptions import add_noise, add_spikes, mean_signal, noise_std
from recon_engine.teaching.explanations import EXPLANATIONS
from recon_engine.teaching.explorer import explore, explore_steps
from recon_engine.teaching.filters import FILTERS, WINDOWS, filter_mask, kspace_window
from recon_engine.teaching.masks import (
    PATTERNS,
    calibration_region,
    partial_fourier_mask,
    resolution_mask,
    sampling_mask,
)
from recon_engine.teaching.movies import ORDERS, acquisition_movie
from recon_engine.teaching.psf import point_spread_function
from recon_engine.teaching.radial import nyquist_spokes
from recon_engine.teaching.settings import (
    CS_REGULARIZERS,
    PF_METHODS,
    RECONS,
    ExplorerSettings,
    ExplorerViews,
)
from recon_engine.teaching.source import ExplorerSource, image_to_kspace, simulated_coils

__all__ = [
    "CS_REGULARIZERS",
    "EXPLANATIONS",
    "FILTERS",
    "ORDERS",
    "PATTERNS",
    "PF_METHODS",
    "RECONS",
    "WINDOWS",
    "ExplorerSettings",
    "ExplorerSource",
    "ExplorerViews",
    "acquisition_movie",
    "add_noise",
    "add_spikes",
    "calibration_region",
    "explore",
    "explore_steps",
    "filter_mask",
    "image_to_kspace",
    "kspace_window",
    "mean_signal",
    "noise_std",
    "nyquist_spokes",
    "partial_fourier_mask",
    "point_spread_function",
    "resolution_mask",
    "sampling_mask",
    "simulated_coils",
]
