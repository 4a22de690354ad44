"""Synthetic qMRI series of the tissue phantom with known T1/T2 (for trying and testing fits).

The phantom's proton density, T1 and T2 (:func:`~recon_engine.simulate.phantom.tissue_maps`,
literature values at 3 T) are put through closed-form signal equations, then complex
Gaussian noise is added and the magnitude taken (Rician noise, as in magnitude images):

- inversion recovery ``S(TI) = |PD·(1 − 2·exp(−TI/T1))|`` (ideal inversion, TR ≫ T1);
- spin echo decay ``S(TE) = PD·exp(−TE/T2)``.

Generated at call time (nothing shipped), deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recon_engine.errors import ParameterError
from recon_engine.simulate.phantom import tissue_maps

__all__ = [
    "DEFAULT_TE_MS",
    "DEFAULT_TI_MS",
    "SyntheticSeries",
    "inversion_recovery_series",
    "t2_decay_series",
]

#: Inversion times of :func:`inversion_recovery_series` (ms).
DEFAULT_TI_MS: tuple[float, ...] = (50.0, 150.0, 300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0)
#: Echo times of :func:`t2_decay_series` (ms).
DEFAULT_TE_MS: tuple[float, ...] = (10.0, 20.0, 40.0, 60.0, 90.0, 130.0, 180.0, 250.0)


@dataclass(frozen=True)
class SyntheticSeries:
    """A simulated series and the maps it was made from.

    Attributes
    ----------
    data
        float32 ``(n, y, x)`` magnitude images, contrast axis first.
    times
        float64 ``(n,)`` TI or TE in ms.
    truth
        ``"pd"`` (0–1), ``"t1"`` and ``"t2"`` (ms), ``"labels"`` (tissue index, see
        :data:`~recon_engine.simulate.phantom.TISSUES`), each ``(y, x)``; 0 outside the head.
    model
        The model that fits it: ``"ir"`` or ``"t2"``.
    snr
        Peak signal (PD = 1) over the noise standard deviation of each of the real and
        imaginary parts.
    """

    data: np.ndarray
    times: np.ndarray
    truth: dict[str, np.ndarray]
    model: str
    snr: float


def _checked(times: Sequence[float], n: int, snr: float) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size < 3:
        raise ParameterError(f"need at least 3 times (ms), got {t.size}")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ParameterError("times must be positive and finite (ms)")
    if n < 8:
        raise ParameterError(f"matrix size {n} is too small (at least 8)")
    if not snr > 0:
        raise ParameterError(f"SNR must be positive, got {snr}")
    return t


def _noisy(clean: np.ndarray, snr: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigma = 1.0 / snr
    noise = rng.normal(0.0, sigma, clean.shape) + 1j * rng.normal(0.0, sigma, clean.shape)
    return np.abs(clean + noise).astype(np.float32)


def _truth(n: int) -> dict[str, np.ndarray]:
    maps = tissue_maps(n)
    return {"pd": maps["pd"], "t1": maps["t1_ms"], "t2": maps["t2_ms"], "labels": maps["labels"]}


def inversion_recovery_series(
    n: int = 128, times: Sequence[float] = DEFAULT_TI_MS, *, snr: float = 100.0, seed: int = 0
) -> SyntheticSeries:
    """Magnitude inversion-recovery images of the tissue phantom.

    Parameters
    ----------
    n
        Matrix size (``n × n``).
    times
        Inversion times in ms.
    snr
        PD = 1 signal over the noise SD per real/imaginary channel.
    seed
        Noise seed.

    Returns
    -------
    SyntheticSeries
        ``data`` ``(len(times), n, n)``, ``model="ir"``.
    """
    t = _checked(times, n, snr)
    truth = _truth(n)
    t1 = np.where(truth["t1"] > 0, truth["t1"], 1.0).astype(np.float64)
    clean = truth["pd"][None] * (1.0 - 2.0 * np.exp(-t[:, None, None] / t1[None]))
    return SyntheticSeries(_noisy(clean, snr, seed), t, truth, "ir", float(snr))


def t2_decay_series(
    n: int = 128, times: Sequence[float] = DEFAULT_TE_MS, *, snr: float = 100.0, seed: int = 0
) -> SyntheticSeries:
    """Magnitude multi-echo spin-echo images (mono-exponential T2 decay) of the tissue phantom.

    Parameters
    ----------
    n, times, snr, seed
        As in :func:`inversion_recovery_series` (``times`` are echo times in ms).

    Returns
    -------
    SyntheticSeries
        ``data`` ``(len(times), n, n)``, ``model="t2"``.
    """
    t = _checked(times, n, snr)
    truth = _truth(n)
    t2 = np.where(truth["t2"] > 0, truth["t2"], 1.0).astype(np.float64)
    clean = truth["pd"][None] * np.exp(-t[:, None, None] / t2[None])
    return SyntheticSeries(_noisy(clean, snr, seed), t, truth, "t2", float(snr))
