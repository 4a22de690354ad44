"""Sort readouts into k-space ``(*other, coils, k2, k1, k0)`` by their encoding counters.

Phase-encoding indices are shifted so that the header's encoding-limit centre lands
at ``N // 2`` of the encoded matrix (partial Fourier); readouts shorter than the
encoded matrix are placed so that ``center_sample`` lands at ``N // 2`` (asymmetric
echo). Reversed readouts (``ACQ_IS_REVERSE``) are flipped. Noise scans go to
``KSpace.noise``, navigators and phase-correction readouts to ``KSpace.navigators``;
dummy scans and feedback readouts are dropped.

Embedded trajectories are converted to cycles per recon FOV (grid units of the recon
matrix). Writers use different units: the official ISMRMRD tools and KomaMRI store
fractions of the encoded matrix in ``[-0.5, 0.5)``, JEMRIS stores grid units, others
radians. ``trajectory_units="auto"`` detects the unit from the largest ``|k|`` and
records what it found in ``KSpace.meta["trajectory_units"]``; pass the unit to override.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.flags import has_flag
from recon_engine.data.geometry import Geometry
from recon_engine.data.header import MRHeader
from recon_engine.data.kspace import OTHER_AXES, KSpace
from recon_engine.data.limits import check_allocation, check_fill
from recon_engine.data.readouts import Readouts
from recon_engine.errors import DataError, ParameterError

__all__ = ["TRAJECTORY_UNITS", "TrajectoryUnits", "detect_trajectory_units", "sort_readouts"]

TrajectoryUnits = Literal["auto", "fraction", "grid", "radians"]
TRAJECTORY_UNITS: tuple[str, ...] = ("auto", "fraction", "grid", "radians")


def detect_trajectory_units(kmax: float, encoded_matrix: tuple[int, int, int]) -> str:
    """Guess the unit of a stored trajectory from its largest ``|k|``.

    ``≤ 0.5`` → fraction of the encoded matrix; ``≤ π`` (for a matrix larger than 12)
    → radians; ``≤ 0.55 · N`` → grid units (cycles per encoded FOV).

    Raises
    ------
    DataError
        If ``|k|`` fits none of these units.
    """
    n = max(encoded_matrix[0], encoded_matrix[1])
    if kmax <= 0.5 + 1e-3:
        return "fraction"
    if kmax <= np.pi + 1e-3 and n > 12:
        return "radians"
    if kmax <= 0.55 * n:
        return "grid"
    raise DataError(
        f"trajectory reaches |k| = {kmax:.4g}, beyond N/2 = {n / 2:g} of the encoded matrix in any "
        "known unit (fraction, grid, radians); check the trajectory or the encoded matrix"
    )


def _to_recon_grid(traj: np.ndarray, units: str, header: MRHeader) -> np.ndarray:
    """``(..., 3)`` ``(kz, ky, kx)`` in ``units`` → cycles per recon FOV."""
    enc = np.array(header.encoded_matrix[::-1], dtype=np.float64)  # (z, y, x)
    fov_e = np.array(header.encoded_fov_mm[::-1], dtype=np.float64)
    fov_r = np.array(header.recon_fov_mm[::-1], dtype=np.float64)
    ratio = np.where((fov_e > 0) & (fov_r > 0), fov_r / np.where(fov_e > 0, fov_e, 1), 1.0)
    if units == "fraction":
        scale = enc
    elif units == "radians":
        scale = enc / (2 * np.pi)
    else:
        scale = np.ones(3)
    out = traj * (scale * ratio).astype(np.float32)
    if header.encoded_matrix[2] <= 1:
        out[..., 0] = 0.0  # 2D: some writers store a constant third coordinate
    return out


def _phase_axis(header: MRHeader, name: str, n_matrix: int, k: np.ndarray) -> tuple[int, int]:
    """Size of a phase-encoding axis and the offset that puts the limit centre at N // 2."""
    lim = header.limit(name)
    kmax = int(k.max()) if k.size else 0
    n = max(n_matrix, 1)
    offset = n // 2 - lim.center if lim is not None and lim.maximum >= lim.minimum else 0
    if kmax + offset >= n or int(k.min()) + offset < 0:
        # limits and counters disagree with the matrix: fall back to the counters
        offset = 0
        n = max(n, kmax + 1)
    return n, offset


def _grid_origin(header: MRHeader, sizes: dict[str, int], n2: int, n1: int, n0: int, longest: int) -> str:
    """Which header values and counters give the grid (for the size-guard messages)."""
    mx, my, mz = header.encoded_matrix
    parts = [f"{ax} counter up to {n - 1}" for ax, n in sizes.items() if n > 1]
    parts.append(f"k1 = {n1} (matrixSize y = {my})" if n1 != my else f"matrixSize y = {my}")
    if n2 > 1:
        parts.append(f"k2 = {n2} (matrixSize z = {mz})" if n2 != mz else f"matrixSize z = {mz}")
    parts.append(f"k0 = {n0} (matrixSize x = {mx}, longest readout {longest} samples)")
    return ", ".join(parts)


def _check_grid(
    src: str,
    header: MRHeader,
    sizes: dict[str, int],
    shape: tuple[int, ...],
    n_readouts: int,
    longest: int,
    has_traj: bool,
) -> None:
    """The grid implied by header and counters must fit the readouts and the memory limit."""
    *other, _, n2, n1, n0 = shape
    what = f"{src}: sorting into k-space ({_grid_origin(header, sizes, n2, n1, n0, longest)})"
    check_fill(math.prod(other) * n2 * n1, n_readouts, what)
    if n0 > max(16 * longest, 4096):  # readouts fill at least 1/16 of the readout axis (partial echo: 1/2)
        raise DataError(
            f"{what}: the readout axis of {n0} samples is more than 16 times the longest readout; "
            "matrixSize x is probably damaged"
        )
    check_allocation(shape, np.complex64, what)
    if has_traj:
        check_allocation((*other, n2, n1, n0, 3), np.float32, f"{what}, trajectory")


def _stack(blocks: list[np.ndarray]) -> torch.Tensor | None:
    if not blocks:
        return None
    shapes = {b.shape for b in blocks}
    if len(shapes) != 1:
        return None
    return torch.from_numpy(np.stack(blocks))


def _noise(blocks: list[np.ndarray]) -> torch.Tensor | None:
    if not blocks:
        return None
    c = max(b.shape[0] for b in blocks)
    parts = [b for b in blocks if b.shape[0] == c]
    return torch.from_numpy(np.concatenate(parts, axis=1))


def _geometry(header: MRHeader, table: AcquisitionTable, rows: np.ndarray) -> Geometry:
    h = table.headers
    first = int(rows[0])
    geom = Geometry.from_vectors(
        header.encoded_matrix,
        header.encoded_fov_mm,
        position_mm=np.asarray(h["position"][first], dtype=np.float64),
        read_dir=np.asarray(h["read_dir"][first], dtype=np.float64),
        phase_dir=np.asarray(h["phase_dir"][first], dtype=np.float64),
        slice_dir=np.asarray(h["slice_dir"][first], dtype=np.float64),
    )
    slices = table.counter("slice")[rows]
    if int(slices.max()) > 0:
        pos = np.zeros((int(slices.max()) + 1, 3))
        for s in range(pos.shape[0]):
            r = rows[slices == s]
            if r.size:
                pos[s] = np.asarray(h["position"][int(r[0])], dtype=np.float64)
        geom = geom.with_slices(pos)
    return geom


def sort_readouts(
    readouts: Readouts,
    *,
    encoding: int = 0,
    keep_singleton_axes: bool = False,
    trajectory_units: TrajectoryUnits = "auto",
) -> KSpace:
    """Sort readouts into k-space by their encoding counters.

    Parameters
    ----------
    readouts
        Acquisition-ordered raw data.
    encoding
        Which encoding space (``encoding_space_ref``) to sort.
    keep_singleton_axes
        Keep all ``other`` axes even when they have one entry.
    trajectory_units
        Unit of stored trajectories: ``"auto"`` (detect), ``"fraction"`` (of the encoded
        matrix), ``"grid"`` (cycles per encoded FOV) or ``"radians"``.

    Returns
    -------
    KSpace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``; ``trajectory`` (if any)
        ``(*other, k2, k1, k0, 3)`` as ``(kz, ky, kx)`` in cycles per recon FOV;
        ``meta["acquisition_index"]`` int64 ``(*other, k2, k1)``: the acquisition (row of
        ``acquisitions``) whose samples fill each readout position, -1 where none.

    Raises
    ------
    DataError
        No imaging acquisitions, inconsistent channels, indices outside the matrix,
        non-finite samples or trajectories.
    ParameterError
        Unknown ``trajectory_units``.
    """
    if trajectory_units not in TRAJECTORY_UNITS:
        raise ParameterError(
            f"unknown trajectory unit {trajectory_units!r}; choose one of {TRAJECTORY_UNITS}"
        )
    src = readouts.source or "raw data"
    header, table = readouts.header, readouts.acquisitions
    h = table.headers
    enc_ref = np.asarray(h["encoding_space_ref"]).astype(np.int64) if len(table) else np.zeros(0, np.int64)
    imaging = table.is_imaging & (enc_ref == encoding)
    if not imaging.any():
        raise DataError(
            f"{src}: no imaging acquisitions for encoding {encoding} "
            f"({len(table)} acquisitions in total: {table.kind_counts()})"
        )
    img_rows = np.flatnonzero(imaging)
    channels = np.array([readouts.samples[r].shape[0] for r in img_rows])
    nsamp = np.array([readouts.samples[r].shape[1] for r in img_rows])
    n_coils = int(channels.max())
    if n_coils <= 0 or int(nsamp.max()) <= 0:
        raise DataError(f"{src}: imaging acquisitions declare 0 channels or 0 samples")
    if np.any(channels != n_coils):
        raise DataError(f"{src}: imaging acquisitions have different numbers of active channels")

    n0 = max(header.encoded_matrix[0], int(nsamp.max()))
    k1 = table.counter("kspace_encode_step_1")[img_rows]
    k2 = table.counter("kspace_encode_step_2")[img_rows]
    n1, off1 = _phase_axis(header, "kspace_encoding_step_1", header.encoded_matrix[1], k1)
    n2, off2 = _phase_axis(header, "kspace_encoding_step_2", header.encoded_matrix[2], k2)
    sizes = {ax: int(table.counter(ax)[img_rows].max()) + 1 for ax in OTHER_AXES}
    axes = tuple(ax for ax in OTHER_AXES if keep_singleton_axes or sizes[ax] > 1)
    other_shape = tuple(sizes[ax] for ax in axes)
    counters = [table.counter(ax)[img_rows] for ax in axes]
    has_traj = any(readouts.trajectories[r] is not None for r in img_rows)
    _check_grid(
        src, header, sizes, (*other_shape, n_coils, n2, n1, n0), len(img_rows), int(nsamp.max()), has_traj
    )

    data = np.zeros((*other_shape, n_coils, n2, n1, n0), dtype=np.complex64)
    mask = np.zeros((*other_shape, n2, n1), dtype=bool)
    acq_index = np.full((*other_shape, n2, n1), -1, dtype=np.int64)
    traj = np.zeros((*other_shape, n2, n1, n0, 3), dtype=np.float32) if has_traj else None
    calib_line = np.zeros((n2, n1), dtype=bool)
    is_cal = (table.is_kind("calibration") | table.is_kind("calibration_and_imaging"))[img_rows]
    is_rev = table.is_kind("reverse")[img_rows]
    centre = np.asarray(h["center_sample"]).astype(np.int64)[img_rows]

    for j, row in enumerate(img_rows):
        block = readouts.samples[row]
        s = block.shape[1]
        if is_rev[j]:
            block = block[:, ::-1]
        start = n0 // 2 - int(centre[j]) if s < n0 else 0
        start = min(max(start, 0), n0 - s)
        i1, i2 = int(k1[j]) + off1, int(k2[j]) + off2
        if not (0 <= i1 < n1 and 0 <= i2 < n2):
            raise DataError(
                f"{src}: acquisition {row} has k-space index (k1={k1[j]}, k2={k2[j]}) outside "
                f"the encoded matrix {n1}×{n2} and encoding limits"
            )
        other_idx: tuple[Any, ...] = tuple(int(c[j]) for c in counters)
        data[(*other_idx, slice(None), i2, i1, slice(start, start + s))] = block
        mask[(*other_idx, i2, i1)] = True
        acq_index[(*other_idx, i2, i1)] = row
        if is_cal[j]:
            calib_line[i2, i1] = True
        t_row = readouts.trajectories[row]
        if traj is not None and t_row is not None:
            t = np.asarray(t_row, dtype=np.float32).reshape(s, -1)[:, ::-1][:, -3:]  # (kz, ky, kx)
            if is_rev[j]:
                t = t[::-1]
            traj[(*other_idx, i2, i1, slice(start, start + s), slice(3 - t.shape[1], 3))] = t

    if not np.all(np.isfinite(data.view(np.float32))):
        raise DataError(f"{src}: raw data contains NaN or infinite samples")
    meta: dict[str, object] = dict(readouts.meta)
    meta["acquisition_index"] = acq_index
    if traj is not None:
        if not np.all(np.isfinite(traj)):
            raise DataError(f"{src}: trajectory contains NaN or infinite values")
        units = str(meta.get("trajectory_units", trajectory_units))
        if trajectory_units != "auto":
            units = trajectory_units
        if units == "auto":
            units = detect_trajectory_units(float(np.abs(traj).max()), header.encoded_matrix)
            meta["trajectory_units"] = f"{units} (detected)"
        else:
            meta["trajectory_units"] = units
        traj = _to_recon_grid(traj, units, header)
    noise_rows = np.flatnonzero(table.is_kind("noise"))
    nav_rows = np.flatnonzero(
        has_flag(table.flags, "ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA") & (enc_ref == encoding)
    )
    return KSpace(
        data=torch.from_numpy(data),
        header=header,
        geometry=_geometry(header, table, img_rows),
        other_axes=axes,
        sampling_mask=torch.from_numpy(mask),
        calibration_mask=torch.from_numpy(calib_line),
        acquisitions=table,
        noise=_noise([readouts.samples[r] for r in noise_rows]),
        navigators=_stack([readouts.samples[r] for r in nav_rows]),
        trajectory=None if traj is None else torch.from_numpy(traj),
        source=readouts.source,
        meta=meta,
    )
