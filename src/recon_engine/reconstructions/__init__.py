"""Reconstructions: thin assemblies of operators, calibration and solvers.

:data:`METHODS` maps a method name to its progress generator
``f(kspace, **options) -> Steps[ImageData]``.
"""

from __future__ import annotations

from collections.abc import Callable

from recon_engine.data.image import ImageData
from recon_engine.progress import Steps
from recon_engine.reconstructions.direct import COMBINE_METHODS, direct_steps

__all__ = ["COMBINE_METHODS", "METHODS", "direct_steps"]

#: Registry of reconstruction methods by name.
METHODS: dict[str, Callable[..., Steps[ImageData]]] = {"direct": direct_steps}
