"""Reconstructions: thin assemblies of operators, calibration and solvers.

:data:`METHODS` maps a method name to its progress generator
``f(kspace, **options) -> Steps[ImageData]``. ``"direct"`` picks the FFT (Cartesian) or
the density-compensated NUFFT (non-Cartesian) by itself.
"""

from __future__ import annotations

from collections.abc import Callable

from recon_engine.data.image import ImageData
from recon_engine.progress import Steps
from recon_engine.reconstructions.auto import direct_auto_steps, suggest_method, uses_nufft
from recon_engine.reconstructions.cs import tv_steps, wavelet_steps
from recon_engine.reconstructions.direct import COMBINE_METHODS, direct_steps
from recon_engine.reconstructions.grappa import grappa_steps
from recon_engine.reconstructions.llr import llr_steps
from recon_engine.reconstructions.modl import modl_steps
from recon_engine.reconstructions.nufft_direct import direct_nufft_steps
from recon_engine.reconstructions.pnp import pnp_steps
from recon_engine.reconstructions.sense import sense_steps

__all__ = [
    "COMBINE_METHODS",
    "METHODS",
    "direct_auto_steps",
    "direct_nufft_steps",
    "direct_steps",
    "grappa_steps",
    "modl_steps",
    "pnp_steps",
    "sense_steps",
    "suggest_method",
    "tv_steps",
    "uses_nufft",
    "wavelet_steps",
]

#: Registry of reconstruction methods by name.
METHODS: dict[str, Callable[..., Steps[ImageData]]] = {
    "direct": direct_auto_steps,
    "grappa": grappa_steps,
    "llr": llr_steps,
    "modl": modl_steps,
    "pnp": pnp_steps,
    "sense": sense_steps,
    "tv": tv_steps,
    "wavelet": wavelet_steps,
}
