"""Reference implementations the issue names: raw finufft, numpy exact matching, scipy curve_fit.

- ``finufft``: ``nufft2d1`` complex64 at ``eps = 1e-4``, ``upsampfac = 1.25`` (the library's
  fastest correct setting; plan made in the call).
- ``numpy exact``: ``argmax |D̂ᴴ s|`` over all atoms in chunks
  (:func:`~recon_engine.cli.bench.ours.exact_match`).
- ``scipy curve_fit``: a per-voxel loop of ``curve_fit`` of ``|a − b·exp(−TI/T1)|``; it takes
  tens of seconds on the full P3, so it is timed on a fixed subset of voxels and scaled to
  the whole mask (the record's note says so).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recon_engine.cli.bench import problems
from recon_engine.cli.bench.ours import exact_match, has_module, reference_adjoint
from recon_engine.cli.bench.quality import nrmse_fitted, t1_error
from recon_engine.cli.bench.records import Case

__all__ = ["CURVE_FIT_VOXELS", "reference_cases"]

#: Voxels of P3 fitted by the scipy loop (scaled to the mask).
CURVE_FIT_VOXELS = 512


def _curve_fit_t1(series: np.ndarray, times: np.ndarray) -> np.ndarray:
    """T1 (ms) of ``series`` ``(n_ti, n_voxels)`` by scipy ``curve_fit``, one voxel at a time."""
    from scipy.optimize import curve_fit

    def model(ti: np.ndarray, a: float, b: float, t1: float) -> np.ndarray:
        return np.abs(a - b * np.exp(-ti / t1))

    out = np.full(series.shape[1], np.nan)
    for v in range(series.shape[1]):
        s = series[:, v].astype(np.float64)
        p0 = (float(s[-1]), 2.0 * float(s[-1]), 1000.0)
        try:
            popt, _ = curve_fit(model, times, s, p0=p0, maxfev=2000)
            out[v] = popt[2]
        except RuntimeError:
            pass
    return out


def reference_cases(quick: bool, only: Callable[[str], bool]) -> list[Case]:
    """finufft, numpy and scipy reference cases."""
    cases: list[Case] = []
    if only("nufft_adjoint") and has_module("finufft"):
        import finufft

        r = problems.radial_2d(quick)
        n = np.array(r.matrix, dtype=np.float32)
        wy = np.ascontiguousarray(2 * np.pi * r.points[:, 1] / n[0], dtype=np.float32)
        wx = np.ascontiguousarray(2 * np.pi * r.points[:, 2] / n[1], dtype=np.float32)
        c = r.samples
        ref = reference_adjoint(r)
        cases.append(
            Case(
                "nufft_adjoint",
                f"finufft {getattr(finufft, '__version__', '?')}",
                lambda: finufft.nufft2d1(wy, wx, c, n_modes=r.matrix, eps=1e-4, isign=1, upsampfac=1.25),
                lambda x: nrmse_fitted(x, ref),
                "rel. error",
                note="raw complex64, upsampfac 1.25",
                warmup=1,
            )
        )
    if only("mrf_match"):
        m = problems.mrf_problem(quick)
        cases.append(
            Case(
                "mrf_match",
                "numpy exact",
                lambda: exact_match(m.signals, m.dictionary),
                lambda i: 1.0,
                "agreement with exact",
                note="the reference itself",
            )
        )
    if only("t1_fit"):
        t = problems.t1_problem(quick)
        idx = np.flatnonzero(t.mask.ravel())
        sub = idx[np.linspace(0, idx.size - 1, min(CURVE_FIT_VOXELS, idx.size)).astype(int)]
        flat = t.series.reshape(t.series.shape[0], -1)[:, sub]
        factor = idx.size / sub.size

        cases.append(
            Case(
                "t1_fit",
                "scipy curve_fit loop",
                lambda: _curve_fit_t1(flat, t.times),
                lambda est: t1_error(est, t.t1.ravel()[sub], np.ones(sub.size, dtype=bool)),
                "median T1 error",
                note=f"timed on {sub.size} voxels, scaled × {factor:.1f} to the mask",
                time_scale=factor,
            )
        )
    return cases
