"""Data preparation for the voxel-wise fit (private): checks, mask, real signals, polarity."""

from __future__ import annotations

import numpy as np
import torch

from recon_engine.errors import DataError, ParameterError
from recon_engine.qmri._model import SignalModel
from recon_engine.qmri.series import QMRISeries

__all__ = ["abscissa", "make_mask", "polarity_variants", "real_signals", "resolve_options"]


def resolve_options(model: SignalModel, given: dict[str, object]) -> dict[str, object]:
    """Model defaults updated with the given options; unknown keys are a ParameterError."""
    unknown = sorted(set(given) - set(model.info.options))
    if unknown:
        known = ", ".join(sorted(model.info.options)) or "none"
        raise ParameterError(
            f"model {model.info.name!r} has no option {', '.join(unknown)} (options: {known})"
        )
    return {**model.info.options, **given}


def abscissa(model: SignalModel, series: QMRISeries) -> np.ndarray:
    """The sampling values (times in ms or flip angles in degrees), checked against the data."""
    what = "flip angles (deg)" if model.abscissa == "flip_angles" else f"{model.info.times_label} times (ms)"
    values = series.flip_angles if model.abscissa == "flip_angles" else series.times
    if values is None:
        flag = "--flip-angles" if model.abscissa == "flip_angles" else "--times"
        raise ParameterError(
            f"model {model.info.name!r} needs the {what} of the images; give them with {flag}"
        )
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size != series.n:
        raise DataError(f"{x.size} {what} were given for {series.n} images; give one value per image")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ParameterError(f"the {what} must be positive and finite, got {x.tolist()}")
    return x


def make_mask(
    y: np.ndarray, spatial: tuple[int, ...], mask: np.ndarray | None, mask_threshold: float | None
) -> np.ndarray:
    """Voxels to fit: finite, non-zero, inside ``mask`` and above the threshold.

    ``y`` is ``(n, V)``. With ``mask_threshold = f`` a voxel is kept when its largest
    absolute signal over the contrasts is at least ``f`` times the largest over the image.
    """
    finite = np.all(np.isfinite(y), axis=0)
    peak = np.where(finite, np.abs(np.nan_to_num(y)).max(axis=0), 0.0)
    keep = finite & (peak > 0)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != spatial:
            raise DataError(f"the mask has shape {m.shape} but the images are {spatial}")
        keep &= m.reshape(-1).astype(bool)
    if mask_threshold is not None:
        if not 0 <= mask_threshold < 1:
            raise ParameterError(f"mask_threshold must be in [0, 1), got {mask_threshold}")
        keep &= peak >= mask_threshold * (peak[keep].max() if keep.any() else 0.0)
    return keep


def real_signals(y: np.ndarray, x: np.ndarray, model: SignalModel, signed: object) -> tuple[np.ndarray, bool]:
    """Real signals ``(V, n)`` for the fit and whether they are signed (IR).

    Complex data: for inversion-recovery models the phase of the longest-TI image (always
    positive magnetization) is removed per voxel and the real part kept; for the other
    models the magnitude is used. For IR the (real or phase-corrected) data count as signed
    when ``signed`` is True or (``None``) when any value is below −5 % of the largest
    absolute value; otherwise they are magnitudes (polarity restoration).
    """
    if np.iscomplexobj(y):
        if not (model.polarity and signed is not False):
            return np.ascontiguousarray(np.abs(y), dtype=np.float32), False
        ref = y[:, int(np.argmax(x))]
        y = (y * np.exp(-1j * np.angle(ref))[:, None]).real
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not model.polarity:
        return y, False
    if signed is None:
        peak = float(np.abs(y).max()) if y.size else 0.0
        signed = bool(y.size) and float(y.min()) < -0.05 * peak
    if not signed:
        y = np.abs(y)
    return y, bool(signed)


def polarity_variants(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Two polarity restorations of magnitude IR data (Barral et al. 2010).

    The signal's sign changes once, near the smallest magnitude. Variant 0 negates the
    points at TIs before the minimum, variant 1 also the minimum itself.

    Parameters
    ----------
    y
        ``(V, n)`` magnitudes.
    x
        ``(n,)`` inversion times.

    Returns
    -------
    torch.Tensor
        ``(2, V, n)``.
    """
    rank = torch.argsort(torch.argsort(x))  # rank of each TI
    k = rank.gather(0, y.argmin(1))[:, None]  # (V, 1) rank of the minimum
    flip0 = rank[None, :] < k
    flip1 = rank[None, :] <= k
    return torch.stack((torch.where(flip0, -y, y), torch.where(flip1, -y, y)))
