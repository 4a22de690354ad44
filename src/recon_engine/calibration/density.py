"""Sampling density compensation for non-Cartesian trajectories.

Weights are in units of k-space area (volume) per sample in grid units (cycles per FOV):
a Nyquist Cartesian grid gets 1 per sample, so the density-compensated adjoint NUFFT
``Aᴴ(w · y)`` of k-space scaled like the orthonormal FFT has the image's intensity.

- :func:`voronoi_density`: area of each sample's Voronoi cell (2D; stacks of 2D planes
  in 3D), outer cells clipped at the sampled region (convex hull grown by half the typical
  sample spacing) (Rasche et al. 1999). Samples closer than :data:`COINCIDENT` (every
  spoke's ``k = 0``, antiparallel spokes over 360°, trajectories computed from gradients
  that agree only to rounding) are merged first and share their cell equally: for ``n``
  spokes through the centre at readout spacing ``h`` that cell is the disc ``π(h/2)²``, so
  each centre sample gets ``π h²/(4n)`` — the analytic ramp ``π|k|h/n`` continued to the
  disc of the centre sample. Unmerged near-duplicates would split their cell arbitrarily
  and shrink the spacing estimate (360° spokes with 2·10⁻⁵ jitter: total area −6 %).
- :func:`pipe_menon_density`: the fixed point ``w ← w / |C * w|`` of Pipe & Menon (1999)
  for any 2D/3D trajectory, ``C`` a positive Gaussian kernel of ``kernel_width`` grid units
  (std), periodic with the grid size ``N`` like the NUFFT. A plain ``A Aᴴ`` kernel (Dirichlet,
  with negative lobes) oscillates for readouts sampled finer than the grid. The result is
  scaled so that ``AᴴWA`` has unit DC gain.

  ``C`` is a sparse matrix between samples closer than 4.3 std (a k-d tree finds them; the
  kernel is < 1e-4 beyond, and cutting at 6 std changes the weights by < 5e-4). Only where
  that matrix would be huge (more than 4·10⁶ pairs, e.g. the centre of 3D radial) is the
  convolution done by NUFFTs, ``A₂ H A₂ᴴ`` on the 2× grid with a Gaussian image window
  ``H``; that window is cut at ±FOV (3.1 of its std), which adds a ripple to the kernel:
  for P2 (64 golden-angle spokes × 256, 256²) those weights differ by up to 8.6 % (rel. ℓ2
  0.66 %) from the sparse ones, while a 4× grid (negligible cut) agrees with the sparse ones
  to 6e-4. P2 cost: 35 ms (CPU time, one thread) instead of 180 ms for the NUFFT iterations.

Measured on 101 radial spokes × 128 samples (2× oversampled) for 64²: Voronoi weights are
within 1 % of the polar-grid areas ``π|k|Δk/n_spokes``; Pipe–Menon within 2.7 % for
``1 ≤ |k| ≤ N/2 - 2`` (×1.68 at ``k = 0``, ×0.81 at ``|k| = Δk``, and the classic edge
oscillation, ×0.59–1.92, on the outermost grid unit). Mean intensity of the
density-compensated adjoint of the analytic Shepp–Logan k-space in flat regions: Pipe–Menon
1.005×, Voronoi 1.033× the truth (exact areas still carry the discretisation error of
2×-oversampled radial gridding; 1.008× at 4×), against 0.991× for the Cartesian FFT (Gibbs).

References
----------
J. G. Pipe and P. Menon, "Sampling density compensation in MRI: rationale and an iterative
numerical solution", Magn. Reson. Med. 41:179–186 (1999),
doi:10.1002/(SICI)1522-2594(199901)41:1<179::AID-MRM25>3.0.CO;2-V.
V. Rasche, R. Proksa, R. Sinkus, P. Börnert, H. Eggers, "Resampling of data between
arbitrary grids using convolution interpolation", IEEE Trans. Med. Imaging 18:385–392
(1999), doi:10.1109/42.774166.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, Voronoi, cKDTree

from recon_engine.calibration import _pipe_menon
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.nufft import NUFFTOp, check_trajectory

__all__ = [
    "COINCIDENT",
    "DENSITY_METHODS",
    "DensityMethod",
    "density_compensation",
    "merge_coincident",
    "pipe_menon_density",
    "voronoi_density",
]

DensityMethod = Literal["pipe", "voronoi", "none"]
DENSITY_METHODS: tuple[str, ...] = ("pipe", "voronoi", "none")
#: samples closer than this (grid units) are one k-space position for the Voronoi cells: the
#: NUFFT cannot tell them apart (phase difference ≤ 2π·10⁻³ across the FOV), while their own
#: Voronoi cells would be slivers of arbitrary size and the spacing estimate would collapse
COINCIDENT = 1e-3


def _clip(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Sutherland–Hodgman: keep the part of a convex polygon with ``normal·p + offset ≤ 0``."""
    s = poly @ normal + offset
    out = []
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if s[i] <= 0:
            out.append(poly[i])
        if (s[i] <= 0) != (s[j] <= 0):
            out.append(poly[i] + (poly[j] - poly[i]) * (s[i] / (s[i] - s[j])))
    return np.asarray(out).reshape(-1, 2)


def _polygon_areas(verts: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    """Areas of convex polygons given as unordered vertices ``verts`` with cell ids ``cell``."""
    centre = np.zeros((n_cells, 2))
    np.add.at(centre, cell, verts)
    centre /= np.maximum(np.bincount(cell, minlength=n_cells), 1)[:, None]
    d = verts - centre[cell]
    order = np.lexsort((np.arctan2(d[:, 1], d[:, 0]), cell))
    v, c = d[order], cell[order]
    start = np.r_[0, np.flatnonzero(np.diff(c)) + 1]
    nxt = np.arange(len(v)) + 1
    nxt[np.r_[start[1:] - 1, len(v) - 1]] = start
    cross = v[:, 0] * v[nxt, 1] - v[nxt, 0] * v[:, 1]
    areas = np.zeros(n_cells)
    areas[c[start]] = 0.5 * np.abs(np.add.reduceat(cross, start))
    return areas


def _voronoi_areas(points: np.ndarray) -> np.ndarray:
    """Voronoi cell areas of distinct 2D points, clipped at the grown convex hull."""
    n = len(points)
    if n < 4:
        raise DataError(f"Voronoi density needs at least 4 distinct k-space points, got {n}")
    spacing = float(np.median(cKDTree(points).query(points, k=2)[0][:, 1]))
    try:
        hull = ConvexHull(points)
    except Exception as exc:  # qhull: collinear points
        raise DataError(f"Voronoi density needs a 2D point set ({exc})") from None
    eq = hull.equations.copy()  # n·p + b ≤ 0 inside; grow by half the typical spacing
    eq[:, 2] -= 0.5 * spacing
    # guard points just outside the grown hull (and a far ring) close every cell nearby
    a, b = points[hull.simplices[:, 0]], points[hull.simplices[:, 1]]
    steps = np.maximum(np.ceil(np.linalg.norm(b - a, axis=1) / spacing), 1).astype(np.int64)
    f = np.concatenate([np.arange(m) / m for m in steps])
    edge = np.repeat(np.arange(len(a)), steps)
    guard = a[edge] + f[:, None] * (b - a)[edge] + 1.5 * spacing * eq[edge, :2]
    centre = points.mean(axis=0)
    radius = float(np.max(np.linalg.norm(points - centre, axis=1))) + spacing
    phi = np.linspace(0, 2 * math.pi, 32, endpoint=False)
    ring = centre + 4 * radius * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    vor = Voronoi(np.vstack([points, guard, ring]))
    regions = [vor.regions[r] for r in vor.point_region[:n]]
    lens = np.array([len(r) for r in regions], dtype=np.int64)
    flat = np.concatenate(regions).astype(np.int64)
    # a vertex within the hull's inscribed circle (about the centroid) is inside; test the rest
    r_in = float(np.min(-(eq[:, :2] @ centre + eq[:, 2])))
    inside = np.linalg.norm(vor.vertices - centre, axis=1) <= r_in
    rest = np.flatnonzero(~inside)
    inside[rest] = (vor.vertices[rest] @ eq[:, :2].T + eq[:, 2] <= 0).all(axis=1)
    inside = np.append(inside, False)  # index -1: the vertex at infinity
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    interior = np.logical_and.reduceat(inside[flat], starts) & (lens > 2)
    cell = np.repeat(np.arange(n), lens)
    keep = interior[cell]
    areas = _polygon_areas(vor.vertices[flat[keep]], cell[keep], n)
    for i in np.flatnonzero(~interior):
        if min(regions[i], default=-1) < 0:
            raise DataError("Voronoi density: an unbounded cell remained; the trajectory is degenerate")
        poly = vor.vertices[regions[i]]
        poly = poly[np.argsort(np.arctan2(*(poly - poly.mean(axis=0)).T[::-1]))]
        for h in np.flatnonzero(((poly @ eq[:, :2].T + eq[:, 2]) > 0).any(axis=0)):
            poly = _clip(poly, eq[h, :2], eq[h, 2])
        areas[i] = _polygon_areas(poly, np.zeros(len(poly), dtype=np.int64), 1)[0] if len(poly) > 2 else 0.0
    return areas


def merge_coincident(k: np.ndarray, tolerance: float = COINCIDENT) -> tuple[np.ndarray, np.ndarray]:
    """Group points closer than ``tolerance`` (chains of such pairs form one group).

    Parameters
    ----------
    k
        float ``(n, d)`` points in grid units.
    tolerance
        Distance in grid units below which two samples count as the same position.

    Returns
    -------
    centres, group
        float ``(m, d)``: the mean position of each group; int ``(n,)``: each point's group.
    """
    uniq, inverse = np.unique(k, axis=0, return_inverse=True)  # exact repeats first (cheap)
    inverse = inverse.reshape(-1)
    pairs = cKDTree(uniq).query_pairs(tolerance, output_type="ndarray")
    if len(pairs) == 0:
        return uniq, inverse
    graph = sparse.coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(uniq),) * 2)
    m, label = connected_components(graph, directed=False)
    size = np.bincount(label, minlength=m).astype(np.float64)
    centres = np.stack([np.bincount(label, weights=c, minlength=m) for c in uniq.T], axis=1) / size[:, None]
    return centres, label[inverse]


def _planar_voronoi(k: np.ndarray) -> np.ndarray:
    """Voronoi weights of ``(n, 2)`` points; coincident samples share their cell equally."""
    centres, group = merge_coincident(k)
    counts = np.bincount(group, minlength=len(centres))
    areas = _voronoi_areas(centres)
    return np.asarray(areas[group] / counts[group])


def voronoi_density(trajectory: np.ndarray | torch.Tensor, *, three_d: bool = False) -> torch.Tensor:
    """Voronoi-cell density compensation (2D, or a stack of 2D planes along ``kz``).

    Parameters
    ----------
    trajectory
        float ``(..., 3)`` ``(kz, ky, kx)`` in cycles per FOV.
    three_d
        Treat distinct ``kz`` values as planes of a stack (stack-of-stars/spirals): each
        plane gets its 2D Voronoi areas times its ``kz`` spacing. Otherwise ``kz`` is ignored.

    Returns
    -------
    torch.Tensor
        float32 ``trajectory.shape[:-1]`` on the trajectory's device: cell area in grid
        units² (1 for a Nyquist Cartesian grid).
    """
    t = torch.as_tensor(trajectory)
    if t.ndim < 1 or t.shape[-1] != 3 or not bool(torch.isfinite(t).all()):
        raise DataError(f"trajectory must be finite (..., 3) with (kz, ky, kx), got shape {tuple(t.shape)}")
    k = t.detach().to("cpu", torch.float64).reshape(-1, 3).numpy()
    if not three_d:
        w = _planar_voronoi(k[:, 1:])
    else:
        planes, which, counts = np.unique(np.round(k[:, 0], 4), return_inverse=True, return_counts=True)
        if counts.min() < 4:
            raise DataError(
                "3D Voronoi density needs a stack of 2D planes (stack-of-stars/spirals); "
                "use the 'pipe' density compensation for this 3D trajectory"
            )
        gaps = np.diff(planes)
        width = np.ones(1) if len(planes) == 1 else 0.5 * (np.r_[gaps[0], gaps] + np.r_[gaps, gaps[-1]])
        w = np.zeros(len(k))
        for p in range(len(planes)):
            sel = which.reshape(-1) == p
            w[sel] = _planar_voronoi(k[sel, 1:]) * width[p]
    return torch.from_numpy(w.astype(np.float32)).reshape(t.shape[:-1]).to(t.device)


def pipe_menon_density(
    trajectory: np.ndarray | torch.Tensor,
    image_shape: Sequence[int],
    iterations: int = 10,
    *,
    kernel_width: float = 0.5,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Iterative density compensation of Pipe & Menon (1999).

    Iterates ``w ← w / |C w|`` from ``w = 1``, ``C`` the Gaussian k-space kernel of standard
    deviation ``kernel_width`` grid units between the samples (a sparse matrix; for very
    dense sample clouds ``A₂ H A₂ᴴ`` through NUFFTs on the 2× grid, see the module
    docstring); then scales ``w`` so that ``AᴴWA`` has unit DC gain (``A`` the NUFFT of
    ``image_shape``).

    Parameters
    ----------
    trajectory
        float ``(..., 3)`` ``(kz, ky, kx)`` in cycles per FOV; all points form one set.
    image_shape
        ``(y, x)`` or ``(z, y, x)``.
    iterations
        Number of fixed-point iterations (≥ 1).
    kernel_width
        Kernel standard deviation in grid units; ≈ half the largest sample spacing.
    device
        Device of the NUFFTs (default: the trajectory's).

    Returns
    -------
    torch.Tensor
        float32 ``trajectory.shape[:-1]``: weights in grid units (area/volume per sample).
    """
    if iterations < 1 or kernel_width <= 0:
        raise ParameterError(f"need iterations ≥ 1 and kernel_width > 0, got {iterations}, {kernel_width}")
    t = torch.as_tensor(trajectory)
    shape = tuple(int(n) for n in image_shape)
    check_trajectory(t, shape)
    dev = torch.device(device) if device is not None else t.device
    pts = t.reshape(-1, 3).to(torch.float32)
    conv = _pipe_menon.sample_convolution(pts, shape, kernel_width)
    if conv is not None:  # the Gaussian evaluated directly between neighbouring samples
        wn = np.ones(conv.shape[0])
        for _ in range(iterations):
            wn = wn / np.maximum(np.abs(conv @ wn), 1e-12)
        w = torch.from_numpy(wn.astype(np.float32)).to(dev, torch.complex64)
    else:
        w = _pipe_menon.nufft_fixed_point(pts, shape, iterations, kernel_width, dev)
    op = NUFFTOp(pts, shape, device=dev)
    gain = float((op.adjoint(w).sum() * op.scale).real)
    if not math.isfinite(gain) or gain <= 0:
        raise DataError("density compensation failed: the trajectory does not sample the k-space centre")
    return (w.real / gain).reshape(t.shape[:-1])


def density_compensation(
    trajectory: np.ndarray | torch.Tensor,
    image_shape: Sequence[int],
    method: DensityMethod = "pipe",
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Density compensation weights by name.

    Parameters
    ----------
    trajectory
        float ``(..., 3)`` ``(kz, ky, kx)`` in cycles per FOV.
    image_shape
        ``(y, x)`` or ``(z, y, x)``.
    method
        ``"pipe"`` (:func:`pipe_menon_density`), ``"voronoi"`` (:func:`voronoi_density`;
        planes stacked along ``kz`` in 3D) or ``"none"`` (all ones).
    device
        Device of the result (default: the trajectory's).

    Returns
    -------
    torch.Tensor
        float32 ``trajectory.shape[:-1]``.
    """
    t = torch.as_tensor(trajectory)
    dev = torch.device(device) if device is not None else t.device
    if method == "pipe":
        return pipe_menon_density(t, image_shape, device=dev)
    if method == "voronoi":
        check_trajectory(t, image_shape)
        return voronoi_density(t, three_d=len(image_shape) == 3).to(dev)
    if method == "none":
        check_trajectory(t, image_shape)
        return torch.ones(t.shape[:-1], dtype=torch.float32, device=dev)
    raise ParameterError(f"unknown density compensation {method!r}; choose one of {DENSITY_METHODS}")
