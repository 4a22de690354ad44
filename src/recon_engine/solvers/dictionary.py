"""Dictionary matching: normalized inner products, chunked, optionally SVD-compressed.

Problem
-------
Given signals ``s_v ∈ ℂⁿ`` and a dictionary of atoms ``d_a ∈ ℝⁿ`` (or ℂⁿ) simulated over a
parameter grid, find per voxel

    ``a* = argmax_a |⟨d_a, s_v⟩| / (‖d_a‖ ‖s_v‖)``,   ``m0 = ⟨d_a*, s_v⟩ / ‖d_a*‖²``,

the best-correlated atom and the proton-density scale ``m0`` (least squares ``s ≈ m0·d``).

Steps
-----
1. Normalize the atoms to unit norm.
2. Optionally compress the time axis (McGivney et al. 2014): ``D = U Σ Vᴴ``; keep the
   ``rank`` leading right singular vectors ``V_r`` (or the fewest whose ``Σσᵢ²`` reaches
   ``energy`` of the total), and match ``D V_r`` against ``s V_r`` (``n`` → ``rank``).
3. For chunks of voxels, one real matmul gives all inner products; ``argmax`` over atoms.
   Complex signals against a real dictionary use two real matmuls (real and imaginary part).
   Large dictionaries are searched through clusters of atoms (inverted file, ``search``).

:func:`variable_projection_search` (re-exported from ``variable_projection.py``) is the same
search for models with several linear coefficients; it gives the start values of voxel fits.

References
----------
D. Ma et al., "Magnetic resonance fingerprinting", Nature 495:187–192 (2013),
doi:10.1038/nature11971.
D. F. McGivney et al., "SVD compression for magnetic resonance fingerprinting in the time
domain", IEEE Trans. Med. Imaging 33:2311–2322 (2014), doi:10.1109/TMI.2014.2337321.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.solvers._dictionary_search import brute_force, cluster_atoms, clustered
from recon_engine.solvers._threads import torch_threads
from recon_engine.solvers.variable_projection import variable_projection_search

__all__ = ["MatchResult", "match_dictionary", "svd_compress", "variable_projection_search"]


@dataclass(frozen=True)
class MatchResult:
    """Result of :func:`match_dictionary`.

    Attributes
    ----------
    index
        int64 atom index per voxel, shape = the signals' spatial shape (or ``(n_voxels,)``).
    parameters
        Name → float32 map of the matched atom's parameters (same shape as ``index``).
    m0
        Scale ``⟨d, s⟩/‖d‖²`` (complex64 for complex signals, else float32).
    correlation
        float32 normalized correlation ``|⟨d, s⟩|/(‖d‖‖s‖)`` in [0, 1].
    rank
        Rank of the compressed dictionary used (``n_frames`` without compression).
    """

    index: np.ndarray
    parameters: dict[str, np.ndarray]
    m0: np.ndarray
    correlation: np.ndarray
    rank: int


def svd_compress(
    dictionary: torch.Tensor, *, rank: int | None = None, energy: float | None = 0.9999
) -> torch.Tensor:
    """Temporal subspace ``V_r`` of a dictionary.

    Parameters
    ----------
    dictionary
        ``(n_atoms, n_frames)`` atoms (real or complex).
    rank
        Number of singular vectors kept; overrides ``energy``.
    energy
        Fraction of ``Σσᵢ²`` to retain (0–1] when ``rank`` is None.

    Returns
    -------
    torch.Tensor
        ``(n_frames, rank)`` orthonormal columns (same dtype as the dictionary).
    """
    n_frames = dictionary.shape[1]
    gram = dictionary.mH @ dictionary if dictionary.is_complex() else dictionary.T @ dictionary
    evals, evecs = torch.linalg.eigh(gram)
    evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    if rank is None:
        if energy is None or not 0 < energy <= 1:
            raise ParameterError(f"energy must be in (0, 1], got {energy}")
        cum = torch.cumsum(evals, 0) / evals.sum().clamp_min(1e-300)
        rank = int(torch.searchsorted(cum, torch.tensor(energy, dtype=cum.dtype)).item()) + 1
    if not 1 <= rank <= n_frames:
        raise ParameterError(f"rank must be between 1 and {n_frames}, got {rank}")
    return evecs[:, :rank].to(dictionary.dtype)


def _row_norms(x: torch.Tensor) -> torch.Tensor:
    """``‖x_i‖`` per row (complex via real and imaginary parts: much faster than vector_norm on the CPU)."""
    sq = x.real.square() + x.imag.square() if x.is_complex() else x.square()
    return sq.sum(1).sqrt()


def _voxels_first(signals: np.ndarray, n_frames: int) -> tuple[np.ndarray, tuple[int, ...]]:
    if signals.ndim == 2 and signals.shape[1] == n_frames:
        return signals, (signals.shape[0],)
    if signals.shape[0] != n_frames:
        raise DataError(f"signals have {signals.shape[0]} frames but the dictionary atoms have {n_frames}")
    spatial = signals.shape[1:]
    return signals.reshape(n_frames, -1).T, spatial


def match_dictionary(
    signals: np.ndarray | torch.Tensor,
    dictionary: np.ndarray | torch.Tensor,
    parameters: dict[str, np.ndarray],
    *,
    rank: int | None = None,
    energy: float | None = 0.9999,
    chunk: int = 1024,
    search: str = "auto",
    n_probe: int = 8,
    device: DeviceLike = "auto",
    cpu_threads: int | None = 1,
) -> MatchResult:
    """Match every voxel's signal to the best-correlated dictionary atom.

    Parameters
    ----------
    signals
        ``(n_frames, *spatial)`` or ``(n_voxels, n_frames)``, real or complex.
    dictionary
        ``(n_atoms, n_frames)``, real or complex (need not be normalized).
    parameters
        Name → ``(n_atoms,)`` parameter value of each atom (e.g. ``"t1"``, ``"t2"`` in ms).
    rank, energy
        SVD compression (see :func:`svd_compress`); ``rank=None, energy=None`` matches
        the uncompressed signals (exact search).
    chunk
        Voxels per matmul of the exact search (memory ``chunk × n_atoms`` floats).
    search
        ``"exact"`` compares every voxel with every atom; ``"clustered"`` groups the atoms into
        ``≈√n_atoms`` clusters (spherical k-means) and searches the ``n_probe`` clusters whose
        centroids correlate best (an inverted-file index: ~``√n_atoms/n_probe`` times fewer
        inner products, the same atom as the exact search for ≥ 99 % of voxels in the tests);
        ``"auto"`` clusters from 4096 atoms and 4096 voxels on.
    n_probe
        Clusters searched per voxel by the clustered search.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    cpu_threads
        torch threads on the CPU during the search (None: torch's setting; see ``_threads.py``).

    Returns
    -------
    MatchResult
    """
    dev = resolve_device(device)
    with torch_threads(cpu_threads if dev.type == "cpu" else None):
        return _match(signals, dictionary, parameters, rank, energy, chunk, search, n_probe, dev)


def _match(
    signals: np.ndarray | torch.Tensor,
    dictionary: np.ndarray | torch.Tensor,
    parameters: dict[str, np.ndarray],
    rank: int | None,
    energy: float | None,
    chunk: int,
    search: str,
    n_probe: int,
    dev: torch.device,
) -> MatchResult:
    d = torch.as_tensor(np.asarray(dictionary) if not isinstance(dictionary, torch.Tensor) else dictionary)
    if d.ndim != 2 or d.shape[0] == 0:
        raise DataError(f"dictionary must be (n_atoms, n_frames), got shape {tuple(d.shape)}")
    n_atoms, n_frames = d.shape
    for name, values in parameters.items():
        if np.asarray(values).shape != (n_atoms,):
            raise DataError(f"parameter {name!r} has shape {np.asarray(values).shape}, expected ({n_atoms},)")
    s_np = signals.detach().cpu().numpy() if isinstance(signals, torch.Tensor) else np.asarray(signals)
    flat, spatial = _voxels_first(s_np, n_frames)
    cdtype = torch.complex64 if d.is_complex() else torch.float32
    d = d.to(dev, cdtype)
    norms = _row_norms(d).clamp_min(1e-30)
    d = d / norms[:, None]
    basis = None
    if rank is not None or energy is not None:
        basis = svd_compress(d, rank=rank, energy=energy)
        d = d @ basis
    used_rank = d.shape[1]
    complex_signals = np.iscomplexobj(flat) or d.is_complex()
    sdtype = torch.complex64 if complex_signals else torch.float32
    n_vox = flat.shape[0]
    basis_c = None if basis is None else basis.to(sdtype)
    compressed = torch.empty(n_vox, used_rank, dtype=sdtype, device=dev)
    for start in range(0, n_vox, 8192):  # compress (and move) the signals in chunks
        s = torch.as_tensor(flat[start : start + 8192]).to(dev, sdtype)
        compressed[start : start + s.shape[0]] = s if basis_c is None else s @ basis_c
    compressed = torch.nan_to_num(compressed)  # a NaN/inf voxel matches with correlation 0
    s_norm = _row_norms(compressed).float()

    def embed(a: torch.Tensor) -> torch.Tensor:
        return torch.cat((a.real, a.imag), 1).contiguous() if a.is_complex() else a

    if d.is_complex():  # ⟨d, s⟩ = [dr, di]·[sr, si] + i·[dr, di]·[si, −sr]: real matmuls only
        atoms = embed(d)
        sr = torch.cat((compressed.real, compressed.imag), 1).contiguous()
        si: torch.Tensor | None = torch.cat((compressed.imag, -compressed.real), 1).contiguous()
    else:
        atoms = d
        sr = compressed.real.contiguous() if complex_signals else compressed
        si = compressed.imag.contiguous() if complex_signals else None
    use = search
    if use == "auto":
        use = "clustered" if n_atoms >= 4096 and n_vox >= 4096 else "exact"
    if use == "clustered":
        labels, centroids = cluster_atoms(d, max(1, min(n_atoms, round(n_atoms**0.5))))
        index, ipr, ipi = clustered(sr, si, atoms, labels, embed(centroids), n_probe=n_probe)
    elif use == "exact":
        index, ipr, ipi = brute_force(sr, si, atoms, chunk)
    else:
        raise ParameterError(f"search must be auto, exact or clustered, got {search!r}")
    ip_best = ipr if ipi is None else torch.complex(ipr, ipi)
    corr = (ip_best.abs() / s_norm.clamp_min(1e-30)).clamp(0, 1)
    m0 = ip_best / norms[index]
    idx_np = index.cpu().numpy()
    maps = {k: np.asarray(v, dtype=np.float32)[idx_np].reshape(spatial) for k, v in parameters.items()}
    return MatchResult(
        index=idx_np.reshape(spatial),
        parameters=maps,
        m0=m0.cpu().numpy().reshape(spatial),
        correlation=corr.cpu().numpy().astype(np.float32).reshape(spatial),
        rank=used_rank,
    )
