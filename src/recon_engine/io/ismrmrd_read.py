"""Read ISMRMRD (MRD v1, HDF5) raw data.

Header and acquisition headers are read without touching the sample data, so metadata
of large files is cheap (:func:`read_ismrmrd_info`). :func:`read_ismrmrd` then sorts the
readouts into k-space ``(*other, coils, k2, k1, k0)`` by their encoding counters.

The file is opened read-only with :mod:`h5py` (the ``ismrmrd`` package opens files for
writing). Extra groups such as ``phantom``, ``csm`` or ``coil_images`` written by the
official ISMRMRD tools are ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.flags import has_flag
from recon_engine.data.geometry import Geometry
from recon_engine.data.header import MRHeader, parse_header
from recon_engine.data.kspace import OTHER_AXES, KSpace
from recon_engine.errors import DataError, FileFormatError

__all__ = ["RawInfo", "find_raw_group", "is_ismrmrd", "read_ismrmrd", "read_ismrmrd_info"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# counter name in the acquisition idx → name of the labelled "other" axis
_IDX_OF_AXIS = {
    "repetition": "repetition",
    "set": "set",
    "phase": "phase",
    "contrast": "contrast",
    "average": "average",
    "slice": "slice",
}


def _is_hdf5(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head == _HDF5_SIGNATURE


def find_raw_group(f: h5py.File) -> str | None:
    """Return the first group holding an ISMRMRD ``xml`` header and ``data`` acquisitions."""
    for name in f:
        obj = f.get(name)
        if isinstance(obj, h5py.Group) and "xml" in obj and "data" in obj:
            return str(name)
    return None


def _has_image_group(f: h5py.File) -> bool:
    found = False

    def visit(name: str, obj: object) -> None:
        nonlocal found
        if isinstance(obj, h5py.Group) and "header" in obj and "data" in obj and "attributes" in obj:
            found = True

    f.visititems(visit)
    return found


def is_ismrmrd(path: str | os.PathLike[str]) -> bool:
    """Check cheaply whether a file is ISMRMRD HDF5 (raw data or images).

    Reads only the HDF5 signature and the group names; never raises.
    """
    p = Path(path)
    try:
        if not p.is_file() or not _is_hdf5(p):
            return False
        with h5py.File(p, "r") as f:
            return find_raw_group(f) is not None or _has_image_group(f)
    except Exception:
        return False


def _open(path: str | os.PathLike[str]) -> h5py.File:
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    if p.is_dir():
        raise FileFormatError(f"{p}: is a directory, not an ISMRMRD file")
    if not _is_hdf5(p):
        raise FileFormatError(f"{p}: not an HDF5 file, so not ISMRMRD (MRD v1) raw data")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise FileFormatError(f"{p}: HDF5 file is corrupt or truncated ({exc})") from exc


@dataclass(frozen=True)
class RawInfo:
    """Metadata of an ISMRMRD raw file, read without the sample data.

    Attributes
    ----------
    path
        The file.
    group
        HDF5 group of the dataset (usually ``"dataset"``).
    header
        Parsed XML header.
    acquisitions
        All acquisition headers (imaging, noise, calibration, navigators, ...).
    """

    path: Path
    group: str
    header: MRHeader
    acquisitions: AcquisitionTable

    @property
    def n_coils(self) -> int:
        """Active channels of the imaging readouts (else the header's receiverChannels)."""
        acq = self.acquisitions
        ch = np.asarray(acq.headers["active_channels"])[acq.is_imaging]
        if ch.size and int(ch.max()) > 0:
            return int(ch.max())
        return int(self.header.receiver_channels or 0)


def _read_xml_and_heads(f: h5py.File, p: Path) -> tuple[str, MRHeader, AcquisitionTable]:
    group = find_raw_group(f)
    if group is None:
        if _has_image_group(f):
            raise FileFormatError(
                f"{p}: holds ISMRMRD images, not raw acquisitions (open it as an image file)"
            )
        raise FileFormatError(
            f"{p}: HDF5 file is not ISMRMRD raw data (no group with 'xml' and 'data' datasets)"
        )
    g = f[group]
    try:
        raw_xml = g["xml"][0]
        heads = g["data"].fields("head")[:]
    except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise FileFormatError(f"{p}: ISMRMRD dataset '{group}' is unreadable or truncated ({exc})") from exc
    xml = raw_xml.decode("utf-8", errors="replace") if isinstance(raw_xml, bytes) else str(raw_xml)
    return group, parse_header(xml), AcquisitionTable(np.asarray(heads))


def read_ismrmrd_info(path: str | os.PathLike[str]) -> RawInfo:
    """Read the header and acquisition headers, not the samples.

    Parameters
    ----------
    path
        ISMRMRD HDF5 file (``.h5``/``.mrd``).

    Returns
    -------
    RawInfo

    Raises
    ------
    FileFormatError
        Missing, truncated, non-HDF5 or non-ISMRMRD file.
    HeaderError
        Header without an encoding section or malformed XML.
    """
    p = Path(path)
    with _open(p) as f:
        group, header, table = _read_xml_and_heads(f, p)
    return RawInfo(path=p, group=group, header=header, acquisitions=table)


def _axis_sizes(table: AcquisitionTable, sel: np.ndarray) -> dict[str, int]:
    return {ax: int(table.counter(_IDX_OF_AXIS[ax])[sel].max()) + 1 for ax in OTHER_AXES}


def _read_samples(ds: h5py.Dataset, rows: np.ndarray, p: Path) -> list[np.ndarray]:
    """Sample data of the given acquisitions, in the order of ``rows``."""
    if rows.size == 0:
        return []
    try:
        # one contiguous read of the span, then pick: much faster than per-row reads
        lo, hi = int(rows.min()), int(rows.max()) + 1
        block = ds.fields("data")[lo:hi]
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{p}: sample data is unreadable or truncated ({exc})") from exc
    return [np.asarray(block[r - lo], dtype=np.float32) for r in rows]


def _to_complex(flat: np.ndarray, channels: int, samples: int, p: Path, row: int) -> np.ndarray:
    if flat.size != 2 * channels * samples:
        raise DataError(
            f"{p}: acquisition {row} holds {flat.size // 2} complex samples, "
            f"header says {channels} channels × {samples} samples"
        )
    c = flat.view(np.complex64) if flat.dtype == np.float32 else flat.astype(np.float32).view(np.complex64)
    return c.reshape(channels, samples)


def read_ismrmrd(
    path: str | os.PathLike[str], *, encoding: int = 0, keep_singleton_axes: bool = False
) -> KSpace:
    """Read ISMRMRD raw data and sort it into Cartesian k-space.

    Each imaging readout goes to ``[*other, :, k2, k1, :]`` from its counters
    (``kspace_encode_step_1/2``, repetition, set, phase, contrast, average, slice).
    Phase-encoding indices are shifted so that the header's encoding-limit centre
    lands at ``N // 2`` of the encoded matrix (partial Fourier); readouts shorter than
    the encoded matrix are placed so that ``center_sample`` lands at ``N // 2``.
    Reversed readouts (``ACQ_IS_REVERSE``) are flipped. Noise scans go to
    ``KSpace.noise``, navigators and phase-correction readouts to ``KSpace.navigators``;
    dummy scans and feedback readouts are dropped.

    Parameters
    ----------
    path
        ISMRMRD HDF5 file.
    encoding
        Which encoding space (``encoding_space_ref``) to read.
    keep_singleton_axes
        Keep all ``other`` axes even when they have one entry.

    Returns
    -------
    KSpace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``.

    Raises
    ------
    FileFormatError, HeaderError, DataError
        Unreadable file, unusable header, no imaging acquisitions, sample counts that
        do not match the headers, or non-finite samples.
    """
    p = Path(path)
    with _open(p) as f:
        group, header, table = _read_xml_and_heads(f, p)
        ds = f[group]["data"]
        h = table.headers
        enc_ref = np.asarray(h["encoding_space_ref"]).astype(np.int64)
        imaging = table.is_imaging & (enc_ref == encoding)
        noise_sel = table.is_kind("noise")
        nav_sel = has_flag(table.flags, "ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA") & (
            enc_ref == encoding
        )
        if not imaging.any():
            raise DataError(
                f"{p}: no imaging acquisitions for encoding {encoding} "
                f"({len(table)} acquisitions in total: {table.kind_counts()})"
            )
        img_rows = np.flatnonzero(imaging)
        samples_all = _read_samples(ds, img_rows, p)
        noise_rows = np.flatnonzero(noise_sel)
        noise_all = _read_samples(ds, noise_rows, p)
        nav_rows = np.flatnonzero(nav_sel)
        nav_all = _read_samples(ds, nav_rows, p)
        traj_all: list[np.ndarray] = []
        tdims = np.asarray(h["trajectory_dimensions"]).astype(np.int64)
        has_traj = bool((tdims[img_rows] > 0).any())
        if has_traj:
            lo, hi = int(img_rows.min()), int(img_rows.max()) + 1
            tblock = ds.fields("traj")[lo:hi]
            traj_all = [np.asarray(tblock[r - lo], dtype=np.float32) for r in img_rows]
    return _sort(
        p,
        header,
        table,
        img_rows,
        samples_all,
        noise_rows,
        noise_all,
        nav_rows,
        nav_all,
        traj_all,
        keep_singleton_axes,
    )


def _sort(
    p: Path,
    header: MRHeader,
    table: AcquisitionTable,
    img_rows: np.ndarray,
    samples_all: list[np.ndarray],
    noise_rows: np.ndarray,
    noise_all: list[np.ndarray],
    nav_rows: np.ndarray,
    nav_all: list[np.ndarray],
    traj_all: list[np.ndarray],
    keep_singleton_axes: bool,
) -> KSpace:
    h = table.headers
    channels = np.asarray(h["active_channels"]).astype(np.int64)
    nsamp = np.asarray(h["number_of_samples"]).astype(np.int64)
    centre = np.asarray(h["center_sample"]).astype(np.int64)
    n_coils = int(channels[img_rows].max())
    if n_coils <= 0 or int(nsamp[img_rows].max()) <= 0:
        raise DataError(f"{p}: imaging acquisitions declare 0 channels or 0 samples")
    if np.any(channels[img_rows] != n_coils):
        raise DataError(f"{p}: imaging acquisitions have different numbers of active channels")

    n0 = max(header.encoded_matrix[0], int(nsamp[img_rows].max()))
    k1 = table.counter("kspace_encode_step_1")[img_rows]
    k2 = table.counter("kspace_encode_step_2")[img_rows]
    n1, off1 = _phase_axis(header, "kspace_encoding_step_1", header.encoded_matrix[1], k1)
    n2, off2 = _phase_axis(header, "kspace_encoding_step_2", header.encoded_matrix[2], k2)

    sel = np.zeros(len(table), dtype=bool)
    sel[img_rows] = True
    sizes = _axis_sizes(table, sel)
    axes = tuple(ax for ax in OTHER_AXES if keep_singleton_axes or sizes[ax] > 1)
    other_shape = tuple(sizes[ax] for ax in axes)
    counters = [table.counter(_IDX_OF_AXIS[ax])[img_rows] for ax in axes]

    data = np.zeros((*other_shape, n_coils, n2, n1, n0), dtype=np.complex64)
    mask = np.zeros((*other_shape, n2, n1), dtype=bool)
    traj = np.zeros((*other_shape, n2, n1, n0, 3), dtype=np.float32) if traj_all else None
    calib_line = np.zeros((n2, n1), dtype=bool)
    is_cal = (table.is_kind("calibration") | table.is_kind("calibration_and_imaging"))[img_rows]
    is_rev = table.is_kind("reverse")[img_rows]
    tdims = np.asarray(h["trajectory_dimensions"]).astype(np.int64)[img_rows]

    for j, row in enumerate(img_rows):
        s = int(nsamp[row])
        block = _to_complex(samples_all[j], n_coils, s, p, int(row))
        if is_rev[j]:
            block = block[:, ::-1]
        start = n0 // 2 - int(centre[row]) if s < n0 else 0
        start = min(max(start, 0), n0 - s)
        i1, i2 = int(k1[j]) + off1, int(k2[j]) + off2
        if not (0 <= i1 < n1 and 0 <= i2 < n2):
            raise DataError(
                f"{p}: acquisition {row} has k-space index (k1={k1[j]}, k2={k2[j]}) outside "
                f"the encoded matrix {n1}×{n2} and encoding limits"
            )
        other_idx: tuple[Any, ...] = tuple(int(c[j]) for c in counters)
        data[(*other_idx, slice(None), i2, i1, slice(start, start + s))] = block
        mask[(*other_idx, i2, i1)] = True
        if is_cal[j]:
            calib_line[i2, i1] = True
        if traj is not None and tdims[j] > 0:
            t = traj_all[j].reshape(s, int(tdims[j]))[:, ::-1]  # (kz, ky, kx) order, last dims
            traj[(*other_idx, i2, i1, slice(start, start + s), slice(3 - t.shape[1], 3))] = t

    if not np.all(np.isfinite(data.view(np.float32))):
        raise DataError(f"{p}: raw data contains NaN or infinite samples")
    noise = _stack_noise(noise_all, channels[noise_rows], nsamp[noise_rows])
    navs = _stack_navigators(nav_all, channels[nav_rows], nsamp[nav_rows])
    geometry = _geometry(header, table, img_rows)
    return KSpace(
        data=torch.from_numpy(data),
        header=header,
        geometry=geometry,
        other_axes=axes,
        sampling_mask=torch.from_numpy(mask),
        calibration_mask=torch.from_numpy(calib_line),
        acquisitions=table,
        noise=noise,
        navigators=navs,
        trajectory=None if traj is None else torch.from_numpy(traj),
        source=str(p),
    )


def _phase_axis(header: MRHeader, name: str, n_matrix: int, k: np.ndarray) -> tuple[int, int]:
    """Size of a phase-encoding axis and the offset that puts the limit centre at N // 2."""
    lim = header.limit(name)
    kmax = int(k.max()) if k.size else 0
    n = max(n_matrix, 1)
    if lim is not None and lim.maximum >= lim.minimum:
        offset = n // 2 - lim.center if 0 <= lim.center <= kmax + n else 0
    else:
        offset = 0
    if kmax + offset >= n or int(k.min()) + offset < 0:
        # limits and counters disagree with the matrix: fall back to the counters
        offset = 0
        n = max(n, kmax + 1)
    return n, offset


def _stack_noise(blocks: list[np.ndarray], ch: np.ndarray, ns: np.ndarray) -> torch.Tensor | None:
    if not blocks:
        return None
    c = int(ch.max())
    parts = [
        b.view(np.complex64).reshape(int(cc), int(n))
        for b, cc, n in zip(blocks, ch, ns, strict=True)
        if int(cc) == c and b.size == 2 * int(cc) * int(n)
    ]
    if not parts:
        return None
    return torch.from_numpy(np.concatenate(parts, axis=1))


def _stack_navigators(blocks: list[np.ndarray], ch: np.ndarray, ns: np.ndarray) -> torch.Tensor | None:
    if not blocks or len(set(ns.tolist())) != 1 or len(set(ch.tolist())) != 1:
        return None
    c, n = int(ch[0]), int(ns[0])
    return torch.from_numpy(np.stack([b.view(np.complex64).reshape(c, n) for b in blocks]))


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
