"""k-space weighting for the teaching demos: apodisation windows and low-/high-pass masks.

A window tapers the acquired k-space smoothly to zero at its edge (less Gibbs ringing, a slightly
wider point-spread function); a low-pass keeps only the centre (contrast, blurred edges), a
high-pass removes it (edges only). Both are ``(ky, kx)`` arrays with the centre at ``N // 2``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.signal import windows

from recon_engine.errors import ParameterError
from recon_engine.teaching._shapes import centre_block, check_shape, fraction, kept

__all__ = ["FILTERS", "WINDOWS", "filter_mask", "kspace_window"]

WINDOWS: tuple[str, ...] = ("none", "hamming", "tukey")
FILTERS: tuple[str, ...] = ("none", "lowpass", "highpass")


def filter_mask(shape: tuple[int, int], kind: str, radius: float) -> np.ndarray:
    """Circular low- or high-pass mask in k-space.

    Parameters
    ----------
    shape
        ``(ky, kx)``.
    kind
        ``"none"`` (all True), ``"lowpass"`` (keep ``|k| ≤ radius · k_max``) or ``"highpass"``
        (keep ``|k| > radius · k_max``); ``|k|`` is normalised per axis (``k_max = N/2``).
    radius
        Fraction of ``k_max``, in ``[0, 1.5]``.

    Returns
    -------
    np.ndarray
        bool ``(ky, kx)``.
    """
    ny, nx = check_shape(tuple(shape))
    if kind not in FILTERS:
        raise ParameterError(f"unknown k-space filter {kind!r}; choose one of {FILTERS}")
    if not (math.isfinite(radius) and 0.0 <= radius <= 1.5):
        raise ParameterError(f"filter radius must be a fraction of k_max in [0, 1.5], got {radius!r}")
    if kind == "none":
        return np.ones((ny, nx), dtype=bool)
    ky = (np.arange(ny) - ny // 2) / (ny / 2.0)
    kx = (np.arange(nx) - nx // 2) / (nx / 2.0)
    r = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    return np.asarray(r <= radius if kind == "lowpass" else r > radius)


def _window_1d(n: int, support: int, kind: str, alpha: float) -> np.ndarray:
    w = np.zeros(n)
    if kind == "hamming":
        core = windows.hamming(support, sym=True)
    else:
        core = windows.tukey(support, alpha=alpha, sym=True)
    w[centre_block(n, support)] = core
    return w


@lru_cache(maxsize=32)
def _cached_window(ny: int, nx: int, kind: str, alpha: float, support: tuple[float, float]) -> np.ndarray:
    if kind == "none":
        w = np.ones((ny, nx), dtype=np.float32)
    else:
        wy = _window_1d(ny, kept(ny, support[0]), kind, alpha)
        wx = _window_1d(nx, kept(nx, support[1]), kind, alpha)
        w = (wy[:, None] * wx[None, :]).astype(np.float32)
    w.setflags(write=False)
    return w


def kspace_window(
    shape: tuple[int, int], kind: str, alpha: float = 0.5, *, support: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Separable apodisation window that tapers the edges of the acquired k-space.

    Parameters
    ----------
    shape
        ``(ky, kx)``.
    kind
        ``"none"`` (all ones), ``"hamming"`` (``0.54 + 0.46 cos``) or ``"tukey"`` (flat centre,
        cosine taper over the outer ``alpha`` fraction; ``alpha = 1`` is a Hann window).
    alpha
        Tukey taper fraction in ``[0, 1]`` (unused otherwise).
    support
        ``(phase, readout)`` fractions of k-space the window spans (centred; zero outside):
        match the acquired resolution, so the window tapers towards the edge of what was
        measured (a window over the full matrix barely touches a low-resolution acquisition).

    Returns
    -------
    np.ndarray
        float32 ``(ky, kx)`` in ``[0, 1]``, read-only (cached).
    """
    ny, nx = check_shape(tuple(shape))
    if kind not in WINDOWS:
        raise ParameterError(f"unknown k-space window {kind!r}; choose one of {WINDOWS}")
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ParameterError(f"Tukey alpha must lie in [0, 1], got {alpha!r}")
    sup = (fraction(support[0], "phase"), fraction(support[1], "readout"))
    return _cached_window(ny, nx, kind, float(alpha) if kind == "tukey" else 0.0, sup)
