"""Quantitative MRI: signal models, voxel-wise fitting, dictionary matching.

Units: times (TI, TE, TS, TR) and relaxation times in **ms**, flip angles in **degrees**.
Series axis order: contrast first, ``(n, y, x)`` or ``(n, z, y, x)``; maps ``(y, x)`` or
``(z, y, x)``.

>>> import recon_engine.qmri as q                                   # doctest: +SKIP
>>> s = q.load_series("ir.nii.gz", times=[50, 100, 200, 400, 800, 1600, 3200])
>>> res = q.fit(s, "ir")                                            # maps t1, m0, b, r2, residual
>>> q.write_maps(res, "maps.npz")
"""

from __future__ import annotations

from recon_engine.qmri._model import ModelInfo
from recon_engine.qmri.fitting import fit, fit_steps
from recon_engine.qmri.models import MODEL_NAMES, model_info
from recon_engine.qmri.output import write_maps
from recon_engine.qmri.result import FitResult
from recon_engine.qmri.roi import roi_statistics
from recon_engine.qmri.series import QMRISeries, load_series, series_from_image
from recon_engine.qmri.signals import (
    inversion_recovery,
    molli_t1,
    mono_exponential,
    saturation_recovery,
    spoiled_gre,
)
from recon_engine.solvers.dictionary import MatchResult, match_dictionary

__all__ = [
    "MODEL_NAMES",
    "FitResult",
    "MatchResult",
    "ModelInfo",
    "QMRISeries",
    "fit",
    "fit_steps",
    "inversion_recovery",
    "load_series",
    "match_dictionary",
    "model_info",
    "molli_t1",
    "mono_exponential",
    "roi_statistics",
    "saturation_recovery",
    "series_from_image",
    "spoiled_gre",
    "write_maps",
]
