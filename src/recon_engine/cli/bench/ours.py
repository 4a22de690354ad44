"""Cases of this engine (napari-mrrecon): the public entry points a user calls, timed end to end.

The suites ``learned``, ``qmri-raw`` and ``simulation`` have their cases in
:mod:`.ours_learned`, :mod:`.ours_qmri_raw` and :mod:`.ours_simulation`.

Each case calls the same function a script or the GUI calls (``sense_steps``, ``tv_steps``,
``wavelet_steps``, ``grappa_steps``, ``estimate_coil_maps``, :class:`NUFFTOp`,
``recon_engine.qmri.fit``/``match_dictionary`` and ``recon_engine.teaching.explore`` when those
packages exist), including their set-up (operator construction, step sizes, warm starts,
cropping), and waits for the result (on CUDA with a synchronisation).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from recon_engine.calibration.coil_maps import estimate_coil_maps
from recon_engine.cli.bench import problems
from recon_engine.cli.bench.quality import agreement, map_similarity, nrmse_fitted, nrmse_magnitude, t1_error
from recon_engine.cli.bench.records import OURS, Case
from recon_engine.device import resolve_device
from recon_engine.operators.nufft import NUFFTOp
from recon_engine.progress import run
from recon_engine.reconstructions import grappa_steps, sense_steps, tv_steps, wavelet_steps

__all__ = ["LAMBDA_TV", "LAMBDA_WAVELET", "has_module", "our_cases", "reference_adjoint"]

#: Regularization weights, relative to ``max|Aᴴy|`` (this engine's convention).
LAMBDA_TV = 2e-3
LAMBDA_WAVELET = 2e-3


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _image(steps: Any, device: torch.device) -> np.ndarray:
    out = run(steps)
    _sync(device)
    return np.asarray(out.data.detach().to("cpu").numpy())


def reference_adjoint(p: problems.RadialProblem) -> np.ndarray:
    """Adjoint NUFFT of P2 by finufft in float64 at ``eps = 1e-10`` (our convention), ``(coils, y, x)``."""
    import finufft

    n = np.array(p.matrix, dtype=np.float64)
    pts = p.points.astype(np.float64)
    wy, wx = 2 * np.pi * pts[:, 1] / n[0], 2 * np.pi * pts[:, 2] / n[1]
    c = p.samples.astype(np.complex128)
    out = finufft.nufft2d1(wy, wx, c, n_modes=p.matrix, eps=1e-10, isign=1)
    return np.asarray(out) / np.sqrt(n.prod())


def _p1_cases(quick: bool, dev: torch.device, only: Callable[[str], bool]) -> list[Case]:
    p = problems.cartesian_2d(quick)
    cases: list[Case] = []
    truth = p.truth
    object_mask = np.abs(truth[0]) > 0
    if only("espirit"):

        def espirit() -> np.ndarray:
            maps = estimate_coil_maps(
                p.kspace,
                method="espirit",
                kernel_size=6,
                calibration_size=p.calibration_lines,
                threshold=0.02,
                crop=0.95,
                device=dev,
            )
            _sync(dev)
            return np.asarray(maps.to("cpu").numpy())[0, :, 0]

        cases.append(
            Case(
                "espirit",
                OURS,
                espirit,
                lambda m: map_similarity(m, p.maps[:, 0], object_mask),
                "map similarity",
            )
        )
    common: dict[str, Any] = {"maps": p.maps, "prewhitening": False, "tolerance": 0.0, "device": dev}
    quality = (lambda x: nrmse_magnitude(x, truth)), "NRMSE"
    if only("cg_sense"):
        cases.append(
            Case(
                "cg_sense",
                OURS,
                lambda: _image(sense_steps(p.kspace, iterations=20, **common), dev),
                *quality,
            )
        )
    if only("tv"):
        cases.append(
            Case(
                "tv",
                OURS,
                lambda: _image(
                    tv_steps(p.kspace, iterations=50, regularization_weight=LAMBDA_TV, **common), dev
                ),
                *quality,
            )
        )
    if only("wavelet"):
        cases.append(
            Case(
                "wavelet",
                OURS,
                lambda: _image(
                    wavelet_steps(p.kspace, iterations=50, regularization_weight=LAMBDA_WAVELET, **common),
                    dev,
                ),
                *quality,
            )
        )
    if only("grappa"):
        cases.append(
            Case(
                "grappa",
                OURS,
                lambda: _image(grappa_steps(p.kspace, prewhitening=False, device=dev), dev),
                *quality,
            )
        )
    return cases


def _p2_cases(quick: bool, dev: torch.device, only: Callable[[str], bool]) -> list[Case]:
    p = problems.radial_2d(quick)
    cases: list[Case] = []
    if only("nufft_adjoint"):
        ref = reference_adjoint(p)
        y = torch.from_numpy(p.samples).to(dev)

        def adjoint() -> np.ndarray:
            op = NUFFTOp(p.points, p.matrix, device=dev)
            out = op.adjoint(y)
            _sync(dev)
            return np.asarray(out.to("cpu").numpy())

        cases.append(
            Case(
                "nufft_adjoint",
                OURS,
                adjoint,
                lambda x: nrmse_fitted(x, ref),
                "rel. error",
                note="includes plan creation",
                warmup=1,
            )
        )
    if only("radial_cg_sense"):
        maps = p.maps[:, None]
        cases.append(
            Case(
                "radial_cg_sense",
                OURS,
                lambda: _image(
                    sense_steps(
                        p.kspace, maps=maps, iterations=20, tolerance=0.0, prewhitening=False, device=dev
                    ),
                    dev,
                ),
                lambda x: nrmse_magnitude(x, p.truth),
                "NRMSE",
                warmup=1,
            )
        )
    return cases


def _p3d_cases(quick: bool, dev: torch.device, only: Callable[[str], bool]) -> list[Case]:
    if not only("cg_sense_3d"):
        return []
    p = problems.cartesian_3d(quick)
    return [
        Case(
            "cg_sense_3d",
            OURS,
            lambda: _image(
                sense_steps(
                    p.kspace, maps=p.maps, iterations=20, tolerance=0.0, prewhitening=False, device=dev
                ),
                dev,
            ),
            lambda x: nrmse_magnitude(x, p.truth),
            "NRMSE",
        )
    ]


def _qmri_cases(quick: bool, dev: torch.device, only: Callable[[str], bool], notes: list[str]) -> list[Case]:
    if not (only("t1_fit") or only("mrf_match")):
        return []
    if not has_module("recon_engine.qmri"):
        notes.append("t1_fit, mrf_match: recon_engine.qmri is not in this version (skipped)")
        return []
    qmri: Any = importlib.import_module("recon_engine.qmri")
    cases: list[Case] = []
    if only("t1_fit") and hasattr(qmri, "fit"):
        t = problems.t1_problem(quick)

        def t1_fit() -> np.ndarray:
            res = qmri.fit(t.series, "ir", times=t.times, mask=t.mask, device=dev)
            return np.asarray(res.maps["t1"])

        cases.append(Case("t1_fit", OURS, t1_fit, lambda m: t1_error(m, t.t1, t.mask), "median T1 error"))
    if only("mrf_match") and hasattr(qmri, "match_dictionary"):
        m = problems.mrf_problem(quick)
        params = {"atom": np.arange(m.dictionary.shape[0], dtype=np.float32)}
        exact = exact_match(m.signals, m.dictionary)

        def match() -> np.ndarray:
            res = qmri.match_dictionary(m.signals, m.dictionary, params, device=dev)
            return np.asarray(res.index)

        cases.append(Case("mrf_match", OURS, match, lambda i: agreement(i, exact), "agreement with exact"))
    return cases


def exact_match(signals: np.ndarray, dictionary: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Exact matching by numpy: ``argmax_j |⟨d_j, s⟩| / ‖d_j‖`` per voxel (the reference)."""
    d = dictionary / np.linalg.norm(dictionary, axis=1, keepdims=True)
    dh = np.ascontiguousarray(d.conj().T)
    out = np.empty(signals.shape[0], dtype=np.int64)
    for i in range(0, signals.shape[0], chunk):
        out[i : i + chunk] = np.argmax(np.abs(signals[i : i + chunk] @ dh), axis=1)
    return out


def _explorer_cases(only: Callable[[str], bool], notes: list[str]) -> list[Case]:
    if not only("explorer_refresh"):
        return []
    if not has_module("recon_engine.teaching"):
        notes.append("explorer_refresh: recon_engine.teaching is not in this version (skipped)")
        return []
    teaching: Any = importlib.import_module("recon_engine.teaching")
    if not hasattr(teaching, "explore"):
        notes.append("explorer_refresh: recon_engine.teaching.explore missing (skipped)")
        return []
    source = teaching.ExplorerSource.phantom(256, 8)
    settings = teaching.ExplorerSettings(pattern="regular", acceleration=2.0)

    def refresh() -> Any:
        return teaching.explore(source, settings)

    return [
        Case(
            "explorer_refresh",
            OURS,
            refresh,
            lambda v: float(v.metrics.get("nrmse", float("nan"))),
            "NRMSE (zero-filled)",
            warmup=1,
        )
    ]


def our_cases(
    quick: bool, device: str, only: Callable[[str], bool], notes: list[str], matrix: int | None = None
) -> list[Case]:
    """All of this engine's cases selected by ``only`` (problem key → bool); skips go to ``notes``.

    ``matrix`` is the matrix of P5 and P6 (suites ``qmri-raw`` and ``simulation``; default 128,
    quick 32).
    """
    from recon_engine.cli.bench.ours_learned import learned_cases
    from recon_engine.cli.bench.ours_qmri_raw import qmri_raw_cases
    from recon_engine.cli.bench.ours_simulation import simulation_cases

    dev = resolve_device(device)
    return [
        *learned_cases(quick, dev, only, notes),
        *qmri_raw_cases(quick, dev, only, notes, matrix),
        *simulation_cases(quick, dev, only, notes, matrix),
        *_p1_cases(quick, dev, only),
        *_p2_cases(quick, dev, only),
        *_p3d_cases(quick, dev, only),
        *_qmri_cases(quick, dev, only, notes),
        *_explorer_cases(only, notes),
    ]
