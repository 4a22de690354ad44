"""The Gaussian k-space convolution of Pipe–Menon density compensation, two ways.

Private helpers of :func:`recon_engine.calibration.density.pipe_menon_density` (see the
docstring of :mod:`recon_engine.calibration.density` for the choice and the measurements).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import sparse
from scipy.spatial import cKDTree

from recon_engine.data.limits import check_allocation
from recon_engine.operators.nufft import NUFFTOp

__all__ = ["CUTOFF_SIGMAS", "MAX_PAIRS", "nufft_fixed_point", "sample_convolution"]

#: the Gaussian kernel is cut where it falls below 1e-4 (exp(-4.3²/2))
CUTOFF_SIGMAS = 4.3
#: above this many (estimated) sample pairs within the cut-off, use NUFFTs
MAX_PAIRS = 4_000_000


def sample_convolution(pts: torch.Tensor, shape: tuple[int, ...], width: float) -> sparse.coo_array | None:
    """Sparse ``C[i, j] = exp(-|k_i - k_j|² / (2 width²))`` (k periodic with period ``N``), or None.

    Only pairs closer than ``CUTOFF_SIGMAS · width`` are kept (the kernel is < 1e-4 beyond).
    None when the samples are so dense that the matrix would exceed ``MAX_PAIRS`` entries
    (e.g. the centre of 3D radial): then the NUFFT convolution is cheaper.
    """
    nd = len(shape)
    k = pts[:, 3 - nd :].to(torch.float64).cpu().numpy()
    n = np.asarray(shape, dtype=np.float64)
    u = np.mod(k + n / 2, n)
    u = np.where(u >= n, u - n, u)  # rounding of mod can give exactly n
    tree = cKDTree(u, boxsize=n)
    radius = CUTOFF_SIGMAS * width
    probe = np.random.default_rng(0).choice(len(u), min(len(u), 512), replace=False)
    estimate = tree.count_neighbors(cKDTree(u[probe], boxsize=n), radius) / len(probe) * len(u)
    if estimate > MAX_PAIRS:
        return None
    pairs = tree.query_pairs(radius, output_type="ndarray")  # i < j
    i, j = pairs[:, 0], pairs[:, 1]
    d = k[i] - k[j]
    d -= n * np.round(d / n)
    d *= d
    v = np.exp(d.sum(axis=1) * (-0.5 / width**2))
    m = len(k)
    diag = np.arange(m)
    # COO: its product is as fast here and it needs no sorting into CSR (10 ms for P2)
    return sparse.coo_array(
        (np.concatenate([v, v, np.ones(m)]), (np.concatenate([i, j, diag]), np.concatenate([j, i, diag]))),
        shape=(m, m),
    )


def nufft_fixed_point(
    pts: torch.Tensor, shape: tuple[int, ...], iterations: int, width: float, dev: torch.device
) -> torch.Tensor:
    """Pipe–Menon iterations with the convolution ``A₂ H A₂ᴴ`` through NUFFTs on the 2× grid."""
    big = tuple(2 * int(n) for n in shape)
    # Python ints: the product of a damaged (huge) matrix must not overflow before it is refused
    check_allocation(big, np.complex64, f"Pipe–Menon density compensation on the 2× oversampled grid {big}")
    op2 = NUFFTOp(2.0 * pts, big, device=dev)
    window = torch.ones(big, dtype=torch.float32, device=dev)
    for a, m in enumerate(big):
        sigma = m / (2 * math.pi * 2 * width)  # pixels of the 2× grid
        r = torch.arange(m, dtype=torch.float32, device=dev) - m // 2
        window = window * torch.exp(-0.5 * (r / sigma) ** 2).reshape(
            [m if b == a else 1 for b in range(len(big))]
        )
    # normalise the kernel to unit peak: K(0) = s₂² Σ_r H(r) over the 2× grid
    window = window * (math.prod(big) / float(window.sum()))
    w = torch.ones(pts.shape[0], dtype=torch.complex64, device=dev)
    for _ in range(iterations):
        w = w / op2(op2.adjoint(w) * window).abs().clamp_min(1e-12)
    return w
