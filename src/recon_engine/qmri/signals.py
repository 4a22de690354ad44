"""Closed-form relaxation signal models as differentiable torch functions.

Every function broadcasts its parameter maps (any shape ``(...)``, e.g. ``(V,)`` voxels or
``(z, y, x)``) against the 1-D sampling times ``(n,)`` and returns ``(..., n)``. Times and
relaxation times are in **ms**, flip angles in **degrees**. All functions are built from
torch operations, so autograd and forward-mode AD give their derivatives.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "inversion_recovery",
    "molli_t1",
    "mono_exponential",
    "saturation_recovery",
    "spoiled_gre",
]


def _last(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(-1)


def inversion_recovery(t1: torch.Tensor, a: torch.Tensor, b: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
    """Three-parameter inversion recovery ``S(TI) = a − b·exp(−TI/T1)``.

    For an ideal inversion and TR ≫ T1, ``a = M0`` and ``b = 2·M0``; ``b/a < 2`` absorbs an
    imperfect inversion and incomplete recovery (Barral et al. 2010, doi:10.1002/mrm.22497).

    Parameters
    ----------
    t1
        ``(...)`` T1 in ms (for MOLLI the apparent ``T1*``).
    a, b
        ``(...)`` signal amplitudes (a.u.).
    ti
        ``(n,)`` inversion times in ms.

    Returns
    -------
    torch.Tensor
        ``(..., n)`` signed signal.
    """
    return _last(a) - _last(b) * torch.exp(-ti / _last(t1))


def saturation_recovery(t1: torch.Tensor, m0: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
    """Saturation recovery ``S(TS) = M0·(1 − exp(−TS/T1))``.

    Parameters
    ----------
    t1, m0
        ``(...)`` T1 (ms) and M0 (a.u.).
    ts
        ``(n,)`` saturation-recovery delays in ms.

    Returns
    -------
    torch.Tensor
        ``(..., n)``.
    """
    return _last(m0) * (1.0 - torch.exp(-ts / _last(t1)))


def molli_t1(t1_star: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Look-Locker correction of a MOLLI fit: ``T1 = T1*·(b/a − 1)``.

    Messroghli et al. 2004, doi:10.1002/mrm.20110 (parameters of :func:`inversion_recovery`).
    """
    return t1_star * (b / a - 1.0)


def mono_exponential(
    t2: torch.Tensor, m0: torch.Tensor, te: torch.Tensor, offset: torch.Tensor | None = None
) -> torch.Tensor:
    """Mono-exponential decay ``S(TE) = M0·exp(−TE/T2) (+ c)`` (T2 or T2*).

    Parameters
    ----------
    t2, m0
        ``(...)`` T2 or T2* (ms) and M0 (a.u.).
    te
        ``(n,)`` echo times in ms.
    offset
        ``(...)`` constant ``c`` (noise floor, long-T2 component) or None.

    Returns
    -------
    torch.Tensor
        ``(..., n)``.
    """
    s = _last(m0) * torch.exp(-te / _last(t2))
    return s if offset is None else s + _last(offset)


def spoiled_gre(
    t1: torch.Tensor,
    m0: torch.Tensor,
    flip_angle: torch.Tensor,
    tr: float,
    b1: torch.Tensor | None = None,
) -> torch.Tensor:
    """Spoiled gradient-echo steady state (Ernst; DESPOT1 / variable flip angle).

    ``S(α) = M0·sin(α')·(1 − E1)/(1 − E1·cos(α'))`` with ``E1 = exp(−TR/T1)`` and
    ``α' = B1·α`` (Deoni et al. 2003, doi:10.1002/mrm.10407).

    Parameters
    ----------
    t1, m0
        ``(...)`` T1 (ms) and M0 (a.u.).
    flip_angle
        ``(n,)`` nominal flip angles in degrees.
    tr
        Repetition time in ms.
    b1
        ``(...)`` relative transmit field (1 = nominal) or None.

    Returns
    -------
    torch.Tensor
        ``(..., n)``.
    """
    alpha = flip_angle * (math.pi / 180.0)
    if b1 is not None:
        alpha = _last(b1) * alpha
    e1 = _last(torch.exp(-tr / t1))
    return _last(m0) * torch.sin(alpha) * (1.0 - e1) / (1.0 - e1 * torch.cos(alpha))
