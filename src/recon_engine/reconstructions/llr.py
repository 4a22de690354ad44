"""Locally low-rank (LLR) reconstruction of dynamic / multi-contrast data by FISTA.

Solves, jointly over the frames ``t`` (the first ``other`` axis: contrasts, cardiac phases …),

    ``min_x  ½ Σ_t ‖A_t x_t − y_t‖² + λ Σ_b ‖C_b(x)‖_*``,

where ``C_b(x)`` is the Casorati matrix (``block² × frames``) of the ``block × block`` patch
``b`` and ``‖·‖_*`` the nuclear norm. FISTA (:func:`~recon_engine.solvers.fista.fista_steps`)
with the proximal map of singular-value soft thresholding per block (:func:`block_svt`); the
block grid is shifted by a seeded random offset every call (cycle spinning, as in Trzasko &
Manduca 2011 and BART ``pics -R L``), which removes the block artefacts.

References
----------
J. D. Trzasko, A. Manduca, "Local versus global low-rank promotion in dynamic MRI series
reconstruction", Proc. ISMRM 19:4371 (2011).
T. Zhang, J. M. Pauly, I. R. Levesque, "Accelerating parameter mapping with a locally low rank
constraint", Magn. Reson. Med. 73:655–661 (2015), doi:10.1002/mrm.25161.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import torch

from recon_engine.calibration.coil_maps import CoilMapMethod
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike
from recon_engine.errors import ParameterError
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.reconstructions._encoding import Encoding
from recon_engine.reconstructions._iterative import (
    MapsArray,
    SolverState,
    check_options,
    prepare_steps,
    solve_all_steps,
)
from recon_engine.solvers.fista import fista_steps

__all__ = ["BlockSVT", "block_svt", "llr_steps"]


def block_svt(x: torch.Tensor, threshold: float, block: int, shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Singular-value soft thresholding of every ``block × block`` Casorati matrix.

    Parameters
    ----------
    x
        complex ``(frames, *batch, y, x)``; the Casorati matrix of a block is
        ``(block² · batch, frames)``.
    threshold
        Subtracted from every singular value (clamped at 0).
    block
        Block edge in voxels.
    shift
        ``(dy, dx)`` offset of the block grid (cyclic).

    Returns
    -------
    torch.Tensor
        The same shape as ``x``.
    """
    if block < 1:
        raise ParameterError(f"the LLR block size must be ≥ 1, got {block}")
    frames = x.shape[0]
    ny, nx = x.shape[-2:]
    z = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(-2, -1))
    py, px = (-ny) % block, (-nx) % block
    if py or px:
        z = torch.nn.functional.pad(z.reshape(-1, ny, nx), (0, px, 0, py)).reshape(
            *x.shape[:-2], ny + py, nx + px
        )
    by, bx = z.shape[-2] // block, z.shape[-1] // block
    lead = z.shape[1:-2]
    c = z.reshape(frames, -1, by, block, bx, block).permute(2, 4, 1, 3, 5, 0)
    cas = c.reshape(by * bx, -1, frames)
    u, s, vh = torch.linalg.svd(cas, full_matrices=False)
    s = (s - threshold).clamp_min(0.0)
    rec = (u * s[:, None, :].to(u.dtype)) @ vh
    rec = rec.reshape(by, bx, -1, block, block, frames).permute(5, 2, 0, 3, 1, 4)
    out = rec.reshape(frames, *lead, by * block, bx * block)[..., :ny, :nx]
    return torch.roll(out, shifts=shift, dims=(-2, -1))


class BlockSVT:
    """The LLR proximal map ``(v, τ) ↦ block_svt(v, λτ)`` with seeded random block shifts.

    Parameters
    ----------
    weight
        ``λ`` (absolute).
    block
        Block edge in voxels.
    seed
        Seed of the shift sequence (the result is deterministic).
    """

    def __init__(self, weight: float, block: int = 8, seed: int = 0) -> None:
        self.weight, self.block = float(weight), int(block)
        self._gen = torch.Generator().manual_seed(seed)

    def __call__(self, v: torch.Tensor, tau: float) -> torch.Tensor:
        """Threshold ``λτ`` on a freshly shifted block grid."""
        dy, dx = (int(a) for a in torch.randint(0, self.block, (2,), generator=self._gen))
        return block_svt(v, self.weight * tau, self.block, (dy, dx))


def llr_steps(
    kspace: KSpace,
    *,
    coil_maps: CoilMapMethod = "espirit",
    maps: MapsArray | None = None,
    iterations: int = 40,
    tolerance: float = 1e-5,
    regularization_weight: float = 0.02,
    block_size: int = 8,
    prewhitening: bool = True,
    coil_map_options: Mapping[str, Any] | None = None,
    keep_iterates: bool = False,
    device: DeviceLike = "auto",
) -> Steps[ImageData]:
    """Locally low-rank reconstruction over the first ``other`` axis (progress generator).

    Parameters
    ----------
    kspace
        ``(frames, *other, coils, k2, k1, k0)`` Cartesian, each frame with its own mask.
    coil_maps, maps, prewhitening, coil_map_options, keep_iterates, device
        As for :func:`~recon_engine.reconstructions.sense.sense_steps`.
    iterations, tolerance
        FISTA iterations and relative-change tolerance.
    regularization_weight
        ``λ`` relative to ``max|Aᴴy|``.
    block_size
        Block edge in voxels.

    Returns
    -------
    ImageData
        complex64 ``(frames, *other, n_maps, z, y, x)``; ``meta`` as for SENSE plus the weight and block.
    """
    check_options(iterations, tolerance, regularization_weight=regularization_weight)
    if int(block_size) != block_size or block_size < 1:
        raise ParameterError(f"block_size must be an integer ≥ 1, got {block_size!r}")
    problem = yield from prepare_steps(
        kspace, coil_maps=coil_maps, maps=maps, prewhitening=prewhitening, device=device,
        joint_frames=True, coil_map_options=coil_map_options,
    )  # fmt: skip

    def solve(enc: Encoding) -> Generator[ProgressEvent | SolverState, None, torch.Tensor]:
        prox = BlockSVT(regularization_weight * enc.scale, int(block_size))
        return (
            yield from fista_steps(
                enc.normal,
                enc.rhs,
                prox,
                max_iterations=iterations,
                tolerance=tolerance,
                constant=enc.constant,
            )
        )

    meta: dict[str, object] = {
        "iterations": int(iterations),
        "regularization_weight": float(regularization_weight),
        "block_size": int(block_size),
        "weight_scaling": "relative to max|A^H y|",
    }
    return (
        yield from solve_all_steps(problem, "llr", solve, int(iterations), meta, keep_iterates=keep_iterates)
    )
