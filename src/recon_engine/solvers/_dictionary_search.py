"""Best-atom search for dictionary matching: brute force, or clustered (inverted file) (private).

Both take compressed, unit-norm real atoms ``D (A, r)`` and signals as real and (optionally)
imaginary parts ``(V, r)``; the score of an atom is ``|⟨d, s⟩|²``.

The clustered search (an inverted-file index, as in FAISS; Jégou et al. 2011,
doi:10.1109/TPAMI.2010.57) groups the atoms by spherical k-means into ``≈√A`` clusters,
ranks the cluster centroids for every voxel and searches the atoms of the ``n_probe`` best
clusters only: ``V·(k + n_probe·A/k)`` instead of ``V·A`` inner products, with all voxels of
one cluster handled by one matmul.
"""

from __future__ import annotations

import math

import torch

__all__ = ["brute_force", "clustered"]


Scores = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]


def _score(sr: torch.Tensor, si: torch.Tensor | None, at: torch.Tensor) -> Scores:
    """Inner products with the atoms ``at (r, m)``: real part, imaginary part, score ``|ip|²``."""
    ipr = sr @ at
    if si is None:
        return ipr, None, ipr.square()
    ipi = si @ at
    return ipr, ipi, ipr.square() + ipi.square()


def brute_force(
    sr: torch.Tensor, si: torch.Tensor | None, atoms: torch.Tensor, chunk: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Exact best atom: ``(index (V,), ip real (V,), ip imag (V,) or None)``."""
    at = atoms.T.contiguous()
    n = sr.shape[0]
    index = torch.empty(n, dtype=torch.int64, device=sr.device)
    best_r = torch.empty(n, dtype=sr.dtype, device=sr.device)
    best_i = None if si is None else torch.empty_like(best_r)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        ipr, ipi, score = _score(sr[sl], None if si is None else si[sl], at)
        best = score.argmax(1)
        index[sl] = best
        best_r[sl] = ipr.gather(1, best[:, None])[:, 0]
        if best_i is not None and ipi is not None:
            best_i[sl] = ipi.gather(1, best[:, None])[:, 0]
    return index, best_r, best_i


def _kmeans(atoms: torch.Tensor, k: int, iterations: int = 8) -> torch.Tensor:
    """Spherical k-means labels ``(A,)`` of unit-norm atoms (deterministic start: evenly spaced atoms)."""
    centroids = atoms[torch.linspace(0, atoms.shape[0] - 1, k, device=atoms.device).round().long()]
    labels = torch.zeros(atoms.shape[0], dtype=torch.int64, device=atoms.device)
    for _ in range(iterations):
        labels = (atoms @ centroids.T).argmax(1)
        sums = torch.zeros_like(centroids).index_add_(0, labels, atoms)
        norm = torch.linalg.vector_norm(sums, dim=1, keepdim=True)
        centroids = torch.where(norm > 0, sums / norm.clamp_min(1e-30), centroids)
    return labels


def clustered(
    sr: torch.Tensor,
    si: torch.Tensor | None,
    atoms: torch.Tensor,
    *,
    n_clusters: int | None = None,
    n_probe: int = 8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Approximate best atom (searching the ``n_probe`` best of ``n_clusters`` atom clusters)."""
    n_atoms = atoms.shape[0]
    k = max(1, min(n_atoms, n_clusters or round(math.sqrt(n_atoms))))
    labels = _kmeans(atoms, k)
    order_atoms = torch.argsort(labels)
    counts_atoms = torch.bincount(labels, minlength=k).tolist()
    members = list(torch.split(order_atoms, counts_atoms))
    sums = torch.zeros(k, atoms.shape[1], dtype=atoms.dtype, device=atoms.device).index_add_(0, labels, atoms)
    centroids = sums / torch.linalg.vector_norm(sums, dim=1, keepdim=True).clamp_min(1e-30)
    _, _, coarse = _score(sr, si, centroids.T.contiguous())
    probes = coarse.topk(min(n_probe, k), dim=1).indices  # (V, n_probe)
    n = sr.shape[0]
    best_score = torch.full((n,), -1.0, dtype=sr.dtype, device=sr.device)
    index = torch.zeros(n, dtype=torch.int64, device=sr.device)
    best_r = torch.zeros(n, dtype=sr.dtype, device=sr.device)
    best_i = None if si is None else torch.zeros_like(best_r)
    atoms_t = [atoms[m].T.contiguous() for m in members]
    for j in range(probes.shape[1]):
        cl = probes[:, j]
        order = torch.argsort(cl)
        counts = torch.bincount(cl, minlength=k).tolist()
        for c, vox in enumerate(torch.split(order, counts)):
            if vox.numel() == 0 or members[c].numel() == 0:
                continue
            ipr, ipi, score = _score(sr[vox], None if si is None else si[vox], atoms_t[c])
            s_best, a_best = score.max(1)
            better = s_best > best_score[vox]
            upd = vox[better]
            a_sel = a_best[better]
            best_score[upd] = s_best[better]
            index[upd] = members[c][a_sel]
            best_r[upd] = ipr[better].gather(1, a_sel[:, None])[:, 0]
            if best_i is not None and ipi is not None:
                best_i[upd] = ipi[better].gather(1, a_sel[:, None])[:, 0]
    return index, best_r, best_i
