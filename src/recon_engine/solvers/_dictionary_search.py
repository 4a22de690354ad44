"""Best-atom search for dictionary matching: brute force, or clustered (inverted file) (private).

Both take compressed, unit-norm real atoms ``D (A, r)`` and signals as real and (optionally)
imaginary parts ``(V, r)``; the score of an atom is ``|⟨d, s⟩|²``.

The clustered search (an inverted-file index, as in FAISS; Jégou et al. 2011,
doi:10.1109/TPAMI.2010.57) groups the atoms by phase-invariant spherical k-means into ``≈√A``
clusters, ranks the cluster centroids for every voxel by ``|⟨c, s⟩|`` and searches the atoms
of the ``n_probe`` best clusters only: ``V·(k + n_probe·A/k)`` instead of ``V·A`` inner
products, with all voxels probing one cluster handled by one matmul.
"""

from __future__ import annotations

import torch

__all__ = ["brute_force", "cluster_atoms", "clustered"]


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


def cluster_atoms(atoms: torch.Tensor, k: int, iterations: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase-invariant spherical k-means of unit-norm atoms (real or complex): labels ``(A,)``, centroids.

    An atom belongs to the centroid ``c`` with the largest ``|⟨c, d⟩|`` — the same measure the
    search ranks clusters by — and centroids average their members after removing the phase
    (sign) of ``⟨c, d⟩``. Deterministic start: evenly spaced atoms.
    """
    centroids = atoms[torch.linspace(0, atoms.shape[0] - 1, k, device=atoms.device).round().long()]
    labels = torch.zeros(atoms.shape[0], dtype=torch.int64, device=atoms.device)
    for _ in range(iterations):
        ip = atoms @ centroids.conj().T  # (A, k) = ⟨c, d⟩
        labels = ip.abs().argmax(1)
        sel = ip.gather(1, labels[:, None])
        phase = sel / sel.abs().clamp_min(1e-30)
        aligned = atoms * phase.conj()
        sums = torch.zeros_like(centroids).index_add_(0, labels, aligned)
        norm = torch.linalg.vector_norm(sums, dim=1, keepdim=True)
        centroids = torch.where(norm > 0, sums / norm.clamp_min(1e-30), centroids)
    return labels, centroids


def clustered(
    sr: torch.Tensor,
    si: torch.Tensor | None,
    atoms: torch.Tensor,
    labels: torch.Tensor,
    centroids: torch.Tensor,
    *,
    n_probe: int = 8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Best atom among the ``n_probe`` clusters per voxel whose centroids score best.

    ``atoms (A, m)`` and ``centroids (k, m)`` are real (complex ones embedded as ``[re, im]``,
    signals then as ``sr = [re, im]``, ``si = [im, −re]``); ``labels (A,)`` from
    :func:`cluster_atoms`. All (voxel, probe) pairs of one cluster share one matmul.
    """
    k = centroids.shape[0]
    order_atoms = torch.argsort(labels)
    members = list(torch.split(order_atoms, torch.bincount(labels, minlength=k).tolist()))
    _, _, coarse = _score(sr, si, centroids.T.contiguous())
    n_probe = min(n_probe, k)
    probes = coarse.topk(n_probe, dim=1).indices.reshape(-1)  # (V·P,) cluster of each pair
    pair_voxel = torch.arange(sr.shape[0], device=sr.device).repeat_interleave(n_probe)
    order = torch.argsort(probes)
    counts = torch.bincount(probes, minlength=k).tolist()
    n_pairs = probes.numel()
    pair_score = torch.full((n_pairs,), -1.0, dtype=sr.dtype, device=sr.device)
    pair_atom = torch.zeros(n_pairs, dtype=torch.int64, device=sr.device)
    pair_r = torch.zeros(n_pairs, dtype=sr.dtype, device=sr.device)
    pair_i = None if si is None else torch.zeros_like(pair_r)
    for c, pairs in enumerate(torch.split(order, counts)):
        if pairs.numel() == 0 or members[c].numel() == 0:
            continue
        vox = pair_voxel[pairs]
        ipr, ipi, score = _score(sr[vox], None if si is None else si[vox], atoms[members[c]].T)
        s_best, a_best = score.max(1)
        pair_score[pairs] = s_best
        pair_atom[pairs] = members[c][a_best]
        pair_r[pairs] = ipr.gather(1, a_best[:, None])[:, 0]
        if pair_i is not None and ipi is not None:
            pair_i[pairs] = ipi.gather(1, a_best[:, None])[:, 0]
    best = pair_score.view(-1, n_probe).argmax(1) + torch.arange(sr.shape[0], device=sr.device) * n_probe
    return pair_atom[best], pair_r[best], None if pair_i is None else pair_i[best]
