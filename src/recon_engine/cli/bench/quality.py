"""Quality figures of the benchmark: scale-fitted NRMSE, coil-map similarity, T1 error, agreement.

Tools differ in global scaling (BART rescales its data, NUFFTs differ by ``√N``) and in the
global phase of coil maps, so images are compared after the least-squares fit of one scalar:
magnitudes for reconstructions (real positive scale), complex values for linear transforms
(complex scale). These are the figures ``mrrecon bench`` reports.
"""

from __future__ import annotations

import numpy as np

__all__ = ["agreement", "map_similarity", "nrmse_fitted", "nrmse_magnitude", "t1_error"]


def nrmse_magnitude(image: np.ndarray, truth: np.ndarray) -> float:
    """``‖s|x| − |t|‖ / ‖t‖`` with the least-squares ``s > 0`` (``x`` reshaped to ``t``'s shape).

    Parameters
    ----------
    image
        Reconstruction, any shape with ``truth.size`` elements, real or complex.
    truth
        Reference image.
    """
    a = np.abs(np.asarray(image, dtype=np.complex128).reshape(truth.shape))
    b = np.abs(np.asarray(truth, dtype=np.complex128))
    aa = float(np.vdot(a, a).real)
    s = float(np.vdot(a, b).real) / aa if aa > 0 else 0.0
    return float(np.linalg.norm(s * a - b) / np.linalg.norm(b))


def nrmse_fitted(values: np.ndarray, reference: np.ndarray) -> float:
    """``‖s·x − r‖ / ‖r‖`` with the least-squares complex scalar ``s`` (linear transforms).

    Parameters
    ----------
    values, reference
        complex arrays of the same size.
    """
    a = np.asarray(values, dtype=np.complex128).ravel()
    b = np.asarray(reference, dtype=np.complex128).ravel()
    aa = float(np.vdot(a, a).real)
    s = np.vdot(a, b) / aa if aa > 0 else 0.0
    return float(np.linalg.norm(s * a - b) / np.linalg.norm(b))


def map_similarity(maps: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """Mean over ``mask`` of ``|⟨s(r), t(r)⟩| / (‖s(r)‖‖t(r)‖)`` (coil vectors; phase-invariant).

    Parameters
    ----------
    maps, reference
        complex ``(coils, *spatial)``.
    mask
        bool ``spatial``: voxels compared (inside the object).

    Returns
    -------
    float
        1 for maps equal up to a voxel-wise phase and scale; voxels where either map is 0
        count as 0.
    """
    a = np.asarray(maps, dtype=np.complex128).reshape(maps.shape[0], -1)[:, mask.ravel()]
    b = np.asarray(reference, dtype=np.complex128).reshape(reference.shape[0], -1)[:, mask.ravel()]
    num = np.abs(np.sum(np.conj(a) * b, axis=0))
    den = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    sim = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return float(sim.mean())


def t1_error(t1: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Median relative T1 error ``|T1 − T1_true| / T1_true`` over ``mask`` (NaN counts as 1)."""
    est = np.asarray(t1, dtype=np.float64)[mask]
    ref = np.asarray(truth, dtype=np.float64)[mask]
    err = np.abs(est - ref) / ref
    return float(np.median(np.where(np.isfinite(err), err, 1.0)))


def agreement(index: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of voxels matched to the same atom as ``reference``."""
    return float(np.mean(np.asarray(index).ravel() == np.asarray(reference).ravel()))
