"""Suite ``qmri-raw``: T1 maps straight from the undersampled multi-coil IR raw data (P5).

Every case calls :func:`recon_engine.qmri.model_based.map_raw_steps` (what ``mrrecon fit RAW
--method NAME`` and the qMRI dock call) on P5 with the true coil maps, end to end (SENSE or
subspace set-up, solver, voxel fit). Methods and options are those of ``scripts/qmri_figures.py``
(the table in ``docs/qmri.md``):

=========================  ==============================================================
``qmri_raw_two_step``      ``"two-step"``: CG-SENSE per contrast, then the voxel-wise fit
``qmri_raw_model_based``   ``"model-based"``: IRGNM (12 outer × 20 CG), from the two-step fit
``qmri_raw_subspace``      ``"subspace"``: dictionary SVD basis, CG (30 iterations), fit
``qmri_raw_llr``           ``"subspace"`` + locally low-rank, λ = 0.02, 40 FISTA iterations
``qmri_raw_pnp``           ``"pnp"``: ADMM over the subspace images with the built-in denoiser
``qmri_raw_learned``       ``"learned"``: the relaxometry-guided unrolled network (built-in
                           weights), where the engine has that method (else skipped, noted)
=========================  ==============================================================

Quality: the median of ``|T1 − T1_true| / T1_true`` over the eroded white-matter, grey-matter
and CSF masks together (:func:`recon_engine.simulate.qmri_raw.tissue_masks`; a voxel whose fit
failed, NaN, counts as 1); ``extra``: the median per tissue. ``--quick`` (32², unless
``--matrix``) runs model-based with 4 outer iterations and LLR with 10 (a smoke test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from recon_engine.cli.bench import problems
from recon_engine.cli.bench._suites import HEAVY_REPEATS, sync
from recon_engine.cli.bench.records import OURS, Case
from recon_engine.progress import run

__all__ = ["QMRI_RAW_METHODS", "qmri_raw_cases", "tissue_errors"]

#: Problem key → (mapping method, options, options added with ``--quick``).
QMRI_RAW_METHODS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "qmri_raw_two_step": ("two-step", {}, {}),
    "qmri_raw_model_based": ("model-based", {"solver": "irgnm"}, {"iterations": 4}),
    "qmri_raw_subspace": ("subspace", {}, {}),
    "qmri_raw_llr": (
        "subspace",
        {"regularization": "llr", "regularization_weight": 0.02, "iterations": 40},
        {"iterations": 10},
    ),
    "qmri_raw_pnp": ("pnp", {}, {}),
    "qmri_raw_learned": ("learned", {}, {}),
}

_TISSUES = {"wm": "WM", "gm": "GM", "csf": "CSF"}


def _relative(t1: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    est = np.asarray(t1, dtype=np.float64)[mask]
    ref = np.asarray(truth, dtype=np.float64)[mask]
    err = np.abs(est - ref) / ref
    return np.where(np.isfinite(err), err, 1.0)


def tissue_errors(t1: np.ndarray, raw: Any) -> tuple[float, dict[str, float]]:
    """Median relative T1 error over WM ∪ GM ∪ CSF, and per tissue (NaN estimates count as 1).

    Parameters
    ----------
    t1
        float ``(y, x)`` T1 map (ms).
    raw
        The :class:`~recon_engine.simulate.qmri_raw.QMRIRaw` with the truth.
    """
    from recon_engine.simulate.qmri_raw import tissue_masks

    masks = tissue_masks(raw.truth["labels"])
    per = {
        label: float(np.median(_relative(t1, raw.truth["t1"], masks[key])))
        for key, label in _TISSUES.items()
        if key in masks and masks[key].any()
    }
    union = np.zeros_like(raw.truth["t1"], dtype=bool)
    for key in _TISSUES:
        if key in masks:
            union |= masks[key]
    pooled = float(np.median(_relative(t1, raw.truth["t1"], union))) if union.any() else float("nan")
    return pooled, per


def qmri_raw_cases(
    quick: bool,
    dev: torch.device,
    only: Callable[[str], bool],
    notes: list[str],
    matrix: int | None = None,
) -> list[Case]:
    """The ``qmri-raw`` suite's cases selected by ``only`` on P5 of ``matrix``² (default 128, quick 32)."""
    from recon_engine.qmri.model_based import MAPPING_METHODS, map_raw_steps

    chosen = [key for key in QMRI_RAW_METHODS if only(key)]
    for key in list(chosen):
        if QMRI_RAW_METHODS[key][0] not in MAPPING_METHODS:
            notes.append(
                f"{key}: mapping method {QMRI_RAW_METHODS[key][0]!r} is not in this version (skipped)"
            )
            chosen.remove(key)
    if not chosen:
        return []

    n = int(matrix or (problems.RAW_MATRIX_QUICK if quick else problems.RAW_MATRIX))
    raw = problems.qmri_raw_problem(n)
    note = f"{n}² × {raw.times.size} TIs, 8 coils, R = 6 (eff. {raw.effective_acceleration:.1f})"
    cases: list[Case] = []
    for key in chosen:
        method, options, quick_options = QMRI_RAW_METHODS[key]
        kw = {**options, **(quick_options if quick else {})}

        def call(method: str = method, kw: dict[str, Any] = kw) -> np.ndarray:
            res = run(map_raw_steps(raw.kspace, "ir", method, maps=raw.maps_for_recon, device=dev, **kw))
            sync(dev)
            return np.asarray(res.maps["t1"])

        cases.append(
            Case(
                key,
                OURS,
                call,
                lambda t1: tissue_errors(t1, raw)[0],
                "median T1 error",
                note=note,
                extra=lambda t1: tissue_errors(t1, raw)[1],
                repeats=HEAVY_REPEATS,
            )
        )
    return cases
