"""MoDL: the trained unrolled network (:class:`~recon_engine.learned.modl_net.MoDLNet`) on SENSE data.

The data-consistency blocks use the encoding of each volume as ``"sense"`` builds it
(Cartesian ``AᴴA = SᴴFᴴMFS`` with readout oversampling, non-Cartesian through the Toeplitz
normal operator, multi-coil, several map sets), so any data ``"sense"`` accepts runs; the CNN
denoises the planes of every map set and slice (:func:`~recon_engine.learned.denoiser.to_planes`;
3D volumes slice by slice, the data consistency over the whole volume). Start and scaling as in
training (:func:`recon_engine.learned.train.modl_start`): ``x₀`` = 5 CG-SENSE iterations, the network
runs on ``x/s`` with ``s`` the 99th percentile of ``|x₀|``. Each unroll is one progress step
with a preview.

Reference
---------
H. K. Aggarwal, M. P. Mani, M. Jacob, "MoDL: model-based deep learning architecture for inverse
problems", IEEE Trans. Med. Imaging 38:394–405 (2019), doi:10.1109/TMI.2018.2865356.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import torch

from recon_engine.calibration.coil_maps import CoilMapMethod
from recon_engine.calibration.density import DensityMethod
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.learned.denoiser import from_planes, to_planes
from recon_engine.learned.modl_net import MoDLNet, batched_cg
from recon_engine.learned.train import modl_start
from recon_engine.learned.weights import load_model
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions._encoding import Encoding
from recon_engine.reconstructions._iterative import MapsArray, SolverState, prepare_steps, solve_all_steps
from recon_engine.solvers.fista import FISTAState

__all__ = ["modl_steps"]

_CHUNK = 16  # planes per CNN call


def modl_steps(
    kspace: KSpace,
    *,
    weights: str = "builtin",
    unrolls: int = 0,
    coil_maps: CoilMapMethod = "espirit",
    maps: MapsArray | None = None,
    prewhitening: bool = True,
    density: DensityMethod = "pipe",
    coil_map_options: Mapping[str, Any] | None = None,
    keep_iterates: bool = False,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """MoDL reconstruction (trained unrolled network) as a progress generator.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)``, Cartesian or with a trajectory (as for ``"sense"``).
    weights
        ``"builtin"`` (shipped with the engine) or a path to a weights file trained by
        ``mrrecon train modl``.
    unrolls
        Denoiser + data-consistency blocks to run; 0: as many as the network was trained with.
    coil_maps, maps, prewhitening, density, coil_map_options, keep_iterates, device
        As for :func:`~recon_engine.reconstructions.sense.sense_steps` (``keep_iterates``
        keeps every unroll's image).

    Returns
    -------
    ImageData
        complex64 ``(*other, n_maps, z, y, x)``; ``meta`` as for SENSE plus ``"weights"``,
        ``"network"`` (architecture), ``"lambda"`` (learned), ``"unrolls"``.

    Raises
    ------
    ParameterError
        ``unrolls < 0``, a weights file of another network.
    FileFormatError
        Missing or unsafe weights file.
    """
    if int(unrolls) != unrolls or unrolls < 0:
        raise ParameterError(f"unrolls must be an integer ≥ 0 (0 = as trained), got {unrolls!r}")
    problem = yield from prepare_steps(
        kspace,
        coil_maps=coil_maps,
        maps=maps,
        prewhitening=prewhitening,
        device=device,
        density=density,
        coil_map_options=coil_map_options,
    )
    net, _ = load_model(weights, "modl", device=problem.device)
    assert isinstance(net, MoDLNet)
    k_total = int(unrolls) or net.unrolls
    lam = float(net.lam)

    def solve(enc: Encoding) -> Generator[ProgressEvent | SolverState, None, torch.Tensor]:
        shape = enc.rhs.shape

        def normal(v: torch.Tensor) -> torch.Tensor:
            return to_planes(enc.normal(from_planes(v, shape)))

        def dc_normal(v: torch.Tensor) -> torch.Tensor:
            return normal(v) + lam * v

        rhs = to_planes(enc.rhs)
        yield ProgressEvent("start (CG-SENSE)", 0, 0)
        with torch.no_grad():
            x0, s = modl_start(normal, rhs, per_sample=False)
            x, rhs_s = x0 / s, rhs / s
            for k in range(k_total):
                z = torch.cat([net.denoiser(c) for c in x.split(_CHUNK)])
                previous = x
                x = batched_cg(dc_normal, rhs_s + lam * z, z, net.cg_iterations, per_sample=False)
                change = float(
                    torch.linalg.vector_norm(x - previous) / torch.linalg.vector_norm(x).clamp_min(1e-30)
                )
                hx = normal(x)
                objective = float((x.conj() * hx).real.sum() * 0.5 - (x.conj() * rhs_s).real.sum())
                yield FISTAState(
                    k + 1, change, objective * float(s) ** 2 + enc.constant, from_planes(x * s, shape)
                )
        return from_planes(x * s, shape)

    meta: dict[str, object] = {
        "weights": str(weights),
        "network": net.architecture,
        "lambda": lam,
        "unrolls": k_total,
        "iterations": k_total,
    }
    return (yield from solve_all_steps(problem, "modl", solve, k_total, meta, keep_iterates=keep_iterates))
