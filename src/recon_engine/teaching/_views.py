"""Assembling :class:`~recon_engine.teaching.settings.ExplorerViews` from complex images."""

from __future__ import annotations

import numpy as np

from recon_engine.teaching.corruptions import SIGNAL_THRESHOLD
from recon_engine.teaching.settings import ExplorerViews
from recon_engine.teaching.source import ExplorerSource

__all__ = ["add_gfactor", "make_views"]


def _nrmse(a: np.ndarray, ref: np.ndarray) -> float:
    """``‖a − ref‖ / ‖ref‖`` as :func:`recon_engine.metrics.nrmse`, by pairwise sums instead of BLAS.

    ``np.linalg.norm`` costs ~30 ms at 256² on a busy 2-core machine (BLAS threads), this ~0.1 ms.
    """
    d = (a - ref).astype(np.float64)
    r = ref.astype(np.float64)
    return float(np.sqrt(np.sum(d * d) / max(float(np.sum(r * r)), 1e-300)))


def make_views(
    source: ExplorerSource,
    mask: np.ndarray,
    kspace_log: np.ndarray,
    aliased: np.ndarray,
    recon: np.ndarray,
    psf: np.ndarray,
) -> ExplorerViews:
    """Views of complex ``aliased``/``recon`` ``(y, x)`` and the log PSF; metrics against the reference."""
    ref = source.cached("reference_abs", lambda: np.abs(source.reference()).astype(np.float32))
    mag = np.abs(recon).astype(np.float32)
    fraction = float(mask.astype(bool).mean())
    metrics = {
        "nrmse": _nrmse(mag, ref),
        "sampled_fraction": fraction,
        "acceleration": 1.0 / fraction if fraction > 0 else float("inf"),
    }
    return ExplorerViews(
        mask=mask,
        kspace_log=kspace_log.astype(np.float32),
        aliased=np.abs(aliased).astype(np.float32),
        recon=mag,
        difference=np.abs(mag - ref).astype(np.float32),
        psf=psf,
        metrics=metrics,
    )


def add_gfactor(views: ExplorerViews, gmap: np.ndarray | None, source: ExplorerSource) -> None:
    """Put the g-factor map and its mean/max over the object into ``views``."""
    if gmap is None:
        return
    views.gfactor = gmap
    ref = np.abs(source.reference())
    inside = (ref > SIGNAL_THRESHOLD * ref.max()) & (gmap > 0)
    if inside.any():
        views.metrics["gfactor_mean"] = float(gmap[inside].mean())
        views.metrics["gfactor_max"] = float(gmap[inside].max())
