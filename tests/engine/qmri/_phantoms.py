"""Synthetic qMRI series with known maps (shared by the qMRI tests; seeded by the caller)."""

from __future__ import annotations

import numpy as np

from recon_engine.simulate.phantom import tissue_maps


def brain_maps(n: int = 64) -> dict[str, np.ndarray]:
    """PD / T1 / T2 (ms) maps of the phantom and the mask of voxels with PD ≥ 0.5."""
    tm = tissue_maps(n)
    inside = tm["pd"] >= 0.5
    t1 = np.where(inside, tm["t1_ms"], 1000.0)
    t2 = np.where(inside, tm["t2_ms"], 80.0)
    return {"pd": tm["pd"], "t1": t1, "t2": t2, "inside": inside}


def add_noise(signal: np.ndarray, snr: float, rng: np.random.Generator, reference: float = 1.0) -> np.ndarray:
    """Gaussian noise of SD ``reference / snr`` (SNR relative to M0 = ``reference``)."""
    return (signal + rng.normal(0.0, reference / snr, signal.shape)).astype(np.float32)


def median_rel_error(estimate: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    """Median of ``|estimate − truth| / truth`` over ``where``."""
    return float(np.median(np.abs(estimate[where] - truth[where]) / truth[where]))
