"""The hybrid domain ``(k2, k1, x)`` of EPI k-space, for :mod:`recon_engine.calibration.epi`.

Which sorted lines were acquired reversed comes from the acquisition headers
(``ACQ_IS_REVERSE``), placed on the grid the way
:func:`recon_engine.io.sorting.sort_readouts` places them. Cartesian lines go to the
hybrid domain by a centred 1D inverse FFT along ``k0``. Lines with a trajectory
(ramp sampling) use their own ``kx`` positions ``k_j`` (cycles per recon FOV): with
``E[j, m] = exp(-2πi k_j x_m / N)`` on the recon grid ``x_m = m - N//2``, the hybrid line
is the Tikhonov-regularized least-squares solution of ``E h = d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from recon_engine.data.flags import has_flag
from recon_engine.data.header import MRHeader
from recon_engine.data.kspace import KSpace
from recon_engine.errors import DataError
from recon_engine.operators.fft import centered_fft, centered_ifft

__all__ = ["Hybrid", "hybrid_domain", "line_order", "line_polarity"]

_REGULARIZATION = 1e-3


def _imaging_rows(kspace: KSpace) -> np.ndarray:
    t = kspace.acquisitions
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64)
    enc = np.asarray(t.headers["encoding_space_ref"]).astype(np.int64)
    rows = np.flatnonzero(t.is_imaging & (enc == 0))
    return rows if rows.size else np.flatnonzero(t.is_imaging)


def _offset(header: MRHeader, name: str, n: int, k: np.ndarray) -> int:
    """Counter → grid index shift, as the sorter applies it (limit centre at ``N // 2``)."""
    lim = header.limit(name)
    off = n // 2 - lim.center if lim is not None and lim.maximum >= lim.minimum else 0
    if k.size and (int(k.max()) + off >= n or int(k.min()) + off < 0):
        off = 0
    return off


def line_order(kspace: KSpace) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition rank and ``ACQ_IS_REVERSE`` of every sorted line.

    Returns
    -------
    order, reversed
        int ``(*other, k2, k1)`` (rank of the readout in acquisition order, -1 where
        nothing was placed) and bool ``(*other, k2, k1)``.
    """
    shape = tuple(kspace.sampling_mask.shape)
    order = np.full(shape, -1, dtype=np.int64)
    rev = np.zeros(shape, dtype=bool)
    t, rows = kspace.acquisitions, _imaging_rows(kspace)
    if rows.size == 0:
        return order, rev
    n2, n1 = shape[-2:]
    k1 = t.counter("kspace_encode_step_1")[rows]
    k2 = t.counter("kspace_encode_step_2")[rows]
    k1 = k1 + _offset(kspace.header, "kspace_encoding_step_1", n1, k1)
    k2 = k2 + _offset(kspace.header, "kspace_encoding_step_2", n2, k2)
    idx = [t.counter(ax)[rows] for ax in kspace.other_axes] + [k2, k1]
    ok = np.all([(i >= 0) & (i < s) for i, s in zip(idx, shape, strict=True)], axis=0)
    where = tuple(i[ok] for i in idx)
    order[where] = np.arange(rows.size)[ok]
    rev[where] = t.is_kind("reverse")[rows][ok]
    return order, rev


def line_polarity(kspace: KSpace) -> np.ndarray:
    """``ACQ_IS_REVERSE`` of the imaging readouts in acquisition order, bool ``(n,)``."""
    return (
        kspace.acquisitions.is_kind("reverse")[_imaging_rows(kspace)]
        if len(kspace.acquisitions)
        else np.zeros(0, bool)
    )


def _lstsq_operator(kx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``E`` ``(samples, n)`` and its regularized pseudo-inverse ``(n, samples)``."""
    x = np.arange(n) - n // 2
    enc = np.exp(-2j * np.pi * np.outer(kx, x) / n)
    gram = enc.conj().T @ enc
    gram += _REGULARIZATION * np.trace(gram).real / n * np.eye(n)
    return enc.astype(np.complex64), np.linalg.solve(gram, enc.conj().T).astype(np.complex64)


def _ifft_x(a: np.ndarray) -> np.ndarray:
    return centered_ifft(torch.from_numpy(np.ascontiguousarray(a)), 1).numpy()


@dataclass
class Hybrid:
    """EPI k-space ``(*other, coils, k2, k1, k0)`` and its hybrid ``(*other, coils, k2, k1, x)``."""

    data: np.ndarray
    h: np.ndarray
    reversed: np.ndarray
    grid_size: int
    other_shape: tuple[int, ...]
    models: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    kx: dict[bool, np.ndarray] = field(default_factory=dict)

    def lines_to_hybrid(self, lines: np.ndarray, rev: np.ndarray) -> np.ndarray:
        """Readouts ``(n, coils, samples)`` already in ascending k order → hybrid ``(n, coils, x)``."""
        if not self.kx:
            if lines.shape[-1] != self.grid_size:
                raise DataError(
                    f"echoes have {lines.shape[-1]} samples, the k-space readouts {self.grid_size}"
                )
            return _ifft_x(lines)
        out = np.zeros((*lines.shape[:-1], self.grid_size), dtype=np.complex64)
        for polarity in (False, True):
            sel = rev == polarity
            kx = self.kx.get(polarity)
            if not sel.any() or kx is None:
                continue
            if kx.size != lines.shape[-1]:
                raise DataError(f"echoes have {lines.shape[-1]} samples, the k-space readouts {kx.size}")
            out[sel] = lines[sel] @ _lstsq_operator(kx, self.grid_size)[1].T
        return out

    def split_images(self) -> tuple[np.ndarray, np.ndarray]:
        """Images of the non-reversed and of the reversed lines, each ``(*other, coils, z, y, x)``."""
        ndim = 2 if self.h.shape[-3] > 1 else 1
        keep = self.reversed[..., None, :, :, None]
        out = []
        for part in (np.where(keep, 0, self.h), np.where(keep, self.h, 0)):
            t = torch.from_numpy(np.ascontiguousarray(part)).movedim(-1, 0)
            out.append(centered_ifft(t, ndim).movedim(0, -1).numpy())
        return out[0], out[1]

    def corrected_kspace(self, const: np.ndarray, slope: np.ndarray) -> np.ndarray:
        """k-space with the reversed lines multiplied by ``exp(-i(φ0 + φ1 x))`` in the hybrid domain."""
        x = np.arange(self.grid_size) - self.grid_size // 2
        w = np.exp(-1j * (const[..., None] + slope[..., None] * x)).astype(np.complex64)
        w = w[..., None, None, None, :]
        rev = self.reversed[..., None, :, :, None]
        if not self.models:
            h = np.where(rev, self.h * w, self.h)
            t = torch.from_numpy(np.ascontiguousarray(h))
            return centered_fft(t, 1).numpy().astype(np.complex64)
        delta = np.where(rev, (w - 1) * self.h, 0)
        out = self.data.copy()
        for lines, enc, _ in self.models:
            sel = lines[..., None, :, :] & np.ones(self.data.shape[-4], bool)[:, None, None]
            out[sel] += delta[sel] @ enc.T
        return out

    def navigators(self, kspace: KSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hybrid navigators ``(n, coils, x)``, their reversal ``(n,)`` and slice counters ``(n,)``."""
        if kspace.navigators is None:
            raise DataError("no navigators")
        t = kspace.acquisitions
        enc = np.asarray(t.headers["encoding_space_ref"]).astype(np.int64)
        nav = has_flag(t.flags, "ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA")
        rows = np.flatnonzero(nav & (enc == 0))
        navs = kspace.navigators.detach().cpu().numpy().astype(np.complex64)
        if rows.size != navs.shape[0]:
            raise DataError(f"{navs.shape[0]} navigators but {rows.size} navigator acquisition headers")
        rev = t.is_kind("reverse")[rows]
        navs[rev] = navs[rev][..., ::-1]
        return self.lines_to_hybrid(navs, rev), rev, t.counter("slice")[rows]

    def echoes(self, reference: KSpace, *, first_reversed: bool) -> tuple[np.ndarray, np.ndarray]:
        """Lines of a reference scan (no phase encoding): hybrid echoes ``(n, coils, x)``, reversal ``(n,)``.

        Reversed lines not flagged as such (a scan read without its sequence) are
        assumed to alternate in acquisition order, starting like the imaging scan.
        """
        data = reference.data.detach().cpu().numpy().astype(np.complex64)
        order, rev = line_order(reference)
        sampled = reference.sampling_mask.detach().cpu().numpy().astype(bool) & (order >= 0)
        if not sampled.any():
            raise DataError("the reference scan has no readouts")
        lines = np.moveaxis(data, -4, -2)[sampled]  # (n, coils, k0)
        rank = order[sampled]
        lines, rev_l = lines[np.argsort(rank)], rev[sampled][np.argsort(rank)]
        if not rev_l.any():
            rev_l = (np.arange(len(lines)) % 2 == 1) ^ first_reversed
            lines[rev_l] = lines[rev_l][..., ::-1]
        return self.lines_to_hybrid(lines, rev_l), rev_l


def hybrid_domain(kspace: KSpace) -> Hybrid:
    """Hybrid representation of an EPI k-space (see the module docstring).

    Raises
    ------
    DataError
        Without any reversed line, or with a trajectory whose lines are not readouts
        along ``x``.
    """
    data = kspace.data.detach().cpu().numpy().astype(np.complex64)
    _, rev = line_order(kspace)
    sampled = kspace.sampling_mask.detach().cpu().numpy().astype(bool)
    rev &= sampled
    if not rev.any():
        raise DataError(
            "no reversed (ACQ_IS_REVERSE) readouts: not EPI, or the reversed lines are not flagged "
            "(read Pulseq data with its .seq)"
        )
    other = tuple(data.shape[:-4])
    if kspace.trajectory is None:
        return Hybrid(data, _ifft_x(data), rev, data.shape[-1], other)
    n = int(kspace.header.recon_matrix[0])
    kx_all = kspace.trajectory.detach().cpu().numpy()[..., 2].astype(np.float64)  # (*other, k2, k1, k0)
    h = np.zeros((*data.shape[:-1], n), dtype=np.complex64)
    models: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    keys: dict[bytes, list[tuple[int, ...]]] = {}
    for idx in zip(*np.nonzero(sampled), strict=True):
        keys.setdefault(np.round(kx_all[idx], 3).tobytes(), []).append(idx)
    kx: dict[bool, np.ndarray] = {}
    for members in keys.values():
        lines = np.zeros(sampled.shape, dtype=bool)
        lines[tuple(np.array(members).T)] = True
        first = kx_all[members[0]]
        enc, pinv = _lstsq_operator(first, n)
        models.append((lines, enc, pinv))
        for polarity in {bool(rev[m]) for m in members}:
            kx.setdefault(polarity, first)
        sel = lines[..., None, :, :] & np.ones(data.shape[-4], bool)[:, None, None]
        h[sel] = data[sel] @ pinv.T
    return Hybrid(data, h, rev, n, other, models, kx)
