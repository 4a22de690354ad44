"""SigPy on the benchmark's problems (only when the optional ``sigpy`` package is installed).

The same data, maps, iteration counts and (absolute) regularization weights as this engine:
``SenseRecon`` (CG), ``TotalVariationRecon`` (PDHG), ``L1WaveletRecon`` (accelerated proximal
gradient), ``EspiritCalib`` (the same kernel 6, calibration block, threshold 0.02 and crop 0.95),
``nufft_adjoint`` and radial ``SenseRecon`` with our Pipe–Menon density weights. SigPy's
``lamda`` multiplies the same ``½‖Ax − y‖² + λ R(x)`` objective, so ``λ = weight·max|Aᴴy|``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from recon_engine.cli.bench import problems
from recon_engine.cli.bench.ours import LAMBDA_TV, LAMBDA_WAVELET, reference_adjoint
from recon_engine.cli.bench.quality import map_similarity, nrmse_fitted, nrmse_magnitude
from recon_engine.cli.bench.records import Case

__all__ = ["TOOL", "sigpy_cases"]

TOOL = "sigpy"


def _zero_filled_max(data: np.ndarray, maps: np.ndarray) -> float:
    """``max|Aᴴy|`` of P1 (centred orthonormal FFT, coil-combined)."""
    import torch

    from recon_engine.operators.fft import centered_ifft

    img = centered_ifft(torch.from_numpy(data), 2).numpy()
    return float(np.abs((np.conj(maps) * img).sum(axis=0)).max())


def sigpy_cases(quick: bool, only: Callable[[str], bool]) -> list[Case]:
    """SigPy's cases, or none when SigPy is not installed."""
    try:
        import sigpy as sp
        import sigpy.mri as mr
    except ImportError:
        return []
    version = getattr(sp, "__version__", "?")
    tool = f"{TOOL} {version}"
    cases: list[Case] = []
    p = problems.cartesian_2d(quick)
    ksp = np.ascontiguousarray(p.data[:, 0])  # (coils, ky, kx)
    mps = np.ascontiguousarray(p.maps[:, 0])
    truth = p.truth[0]
    scale = _zero_filled_max(ksp, mps)
    image_quality = (lambda x: nrmse_magnitude(np.asarray(x), truth)), "NRMSE"

    def app(cls: Any, **kw: Any) -> Callable[[], Any]:
        return lambda: cls(ksp, mps, show_pbar=False, **kw).run()

    if only("espirit"):
        mask = np.abs(truth) > 0
        cases.append(
            Case(
                "espirit",
                tool,
                lambda: mr.app.EspiritCalib(
                    ksp,
                    calib_width=p.calibration_lines,
                    thresh=0.02,
                    kernel_width=6,
                    crop=0.95,
                    show_pbar=False,
                ).run(),
                lambda m: map_similarity(np.asarray(m), mps, mask),
                "map similarity",
            )
        )
    apps: tuple[tuple[str, Any, dict[str, Any], str], ...] = (
        ("cg_sense", mr.app.SenseRecon, {"lamda": 0.0, "max_iter": 20, "tol": 0.0}, ""),
        ("tv", mr.app.TotalVariationRecon, {"lamda": LAMBDA_TV * scale, "max_iter": 50}, "anisotropic TV"),
        ("wavelet", mr.app.L1WaveletRecon, {"lamda": LAMBDA_WAVELET * scale, "max_iter": 50}, ""),
    )
    for key, cls, options, note in apps:
        if only(key):
            cases.append(Case(key, tool, app(cls, **options), *image_quality, note=note))
    r = problems.radial_2d(quick)
    coord = np.ascontiguousarray(
        r.points[:, 1:].reshape(r.kspace.data.shape[2], -1, 2)
    )  # (spokes, samples, 2)
    samples = np.ascontiguousarray(r.samples.reshape(-1, *coord.shape[:2]))
    if only("nufft_adjoint"):
        ref = reference_adjoint(r)
        cases.append(
            Case(
                "nufft_adjoint",
                tool,
                lambda: sp.nufft_adjoint(samples, coord, oshape=(samples.shape[0], *r.matrix)),
                lambda x: nrmse_fitted(np.asarray(x), ref),
                "rel. error",
                warmup=1,
            )
        )
    if only("radial_cg_sense"):
        import torch

        from recon_engine.calibration.density import density_compensation

        dcf = density_compensation(torch.from_numpy(r.points), r.matrix, "pipe").numpy()
        dcf = dcf.reshape(coord.shape[:2]).astype(np.float32)
        cases.append(
            Case(
                "radial_cg_sense",
                tool,
                lambda: mr.app.SenseRecon(
                    samples,
                    r.maps,
                    lamda=0.0,
                    coord=coord,
                    weights=dcf,
                    max_iter=20,
                    tol=0.0,
                    show_pbar=False,
                ).run(),
                lambda x: nrmse_magnitude(np.asarray(x), r.truth),
                "NRMSE",
                warmup=1,
            )
        )
    return cases
