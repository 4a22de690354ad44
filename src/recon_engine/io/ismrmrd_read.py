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

import h5py
import numpy as np

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.header import MRHeader, parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.data.readouts import Readouts
from recon_engine.errors import DataError, FileFormatError
from recon_engine.io._hdf5_raw import GlobalHeap, compound_members, dataset_records, vlen_references
from recon_engine.io.sorting import TrajectoryUnits, sort_readouts

__all__ = [
    "RawInfo",
    "find_raw_group",
    "is_ismrmrd",
    "read_ismrmrd",
    "read_ismrmrd_info",
    "read_ismrmrd_readouts",
]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head == _HDF5_SIGNATURE


def _damaged(f: h5py.File, exc: Exception) -> FileFormatError:
    return FileFormatError(f"{f.filename}: HDF5 file is damaged ({type(exc).__name__}: {exc})")


def find_raw_group(f: h5py.File) -> str | None:
    """Return the first group holding an ISMRMRD ``xml`` header and ``data`` acquisitions.

    Raises
    ------
    FileFormatError
        If HDF5 cannot read the file's group structure (damaged heap or B-tree).
    """
    try:
        for name in f:
            obj = f.get(name)
            if isinstance(obj, h5py.Group) and "xml" in obj and "data" in obj:
                return str(name)
    except Exception as exc:  # h5py raises RuntimeError, KeyError, OSError, ValueError on damage
        raise _damaged(f, exc) from exc
    return None


def _has_image_group(f: h5py.File) -> bool:
    found = False

    def visit(name: str, obj: object) -> None:
        nonlocal found
        if isinstance(obj, h5py.Group) and "header" in obj and "data" in obj and "attributes" in obj:
            found = True

    try:
        f.visititems(visit)
    except Exception as exc:
        raise _damaged(f, exc) from exc
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
    except Exception as exc:
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


def _raw_group(f: h5py.File, p: Path) -> str:
    group = find_raw_group(f)
    if group is None:
        if _has_image_group(f):
            raise FileFormatError(
                f"{p}: holds ISMRMRD images, not raw acquisitions (open it as an image file)"
            )
        raise FileFormatError(
            f"{p}: HDF5 file is not ISMRMRD raw data (no group with 'xml' and 'data' datasets)"
        )
    return group


class _Raw:
    """The ``xml`` and ``data`` datasets of an ISMRMRD group, read with every size bounded by the file.

    See :mod:`recon_engine.io._hdf5_raw`: records come from the file directly and
    variable-length data from validated heap collections, so a damaged heap or chunk index
    gives :class:`FileFormatError` instead of an endless loop inside HDF5. Layouts that
    module does not handle (compact, unusual filters) are read with h5py.
    """

    def __init__(self, f: h5py.File, p: Path, group: str) -> None:
        self.p = p
        self.size = p.stat().st_size
        self.fh = open(p, "rb")  # noqa: SIM115 - closed by close()
        self.heap = GlobalHeap(self.fh, self.size, str(p))
        try:
            self.g = f[group]
            self.xml_ds, self.ds = self.g["xml"], self.g["data"]
            self.members = compound_members(self.ds)
            self.records = dataset_records(self.ds, self.fh, self.size) if "head" in self.members else None
        except FileFormatError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise FileFormatError(
                f"{p}: ISMRMRD dataset '{group}' is unreadable or truncated ({exc})"
            ) from exc

    def close(self) -> None:
        self.fh.close()

    def xml(self) -> str:
        ds = self.xml_ds
        raw: object = None
        try:
            tid = ds.id.get_type()
            layout = ds.id.get_create_plist().get_layout()
            if (
                isinstance(tid, h5py.h5t.TypeStringID)
                and tid.is_variable_str()
                and layout == h5py.h5d.CONTIGUOUS
            ):
                offset = ds.id.get_offset()
                if offset is None or ds.shape[0] < 1 or int(offset) + 16 > self.size:
                    raise FileFormatError(f"{self.p}: the ISMRMRD header (xml) is missing or truncated")
                self.fh.seek(int(offset))
                n, addr, index = (
                    int(v[0]) for v in vlen_references(np.frombuffer(self.fh.read(16), np.uint8)[None], 0)
                )
                raw = self.heap.read(addr, index, n) if n else b""
            else:
                raw = ds[0]
        except FileFormatError:
            raise
        except Exception as exc:
            raise FileFormatError(f"{self.p}: the ISMRMRD header (xml) is unreadable ({exc})") from exc
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def heads(self) -> np.ndarray:
        if self.records is not None:
            offset, tid = self.members["head"]
            dt = tid.dtype
            block = np.ascontiguousarray(self.records[:, offset : offset + dt.itemsize])
            return block.view(dt).reshape(-1).copy()
        try:
            return np.asarray(self.ds.fields("head")[:])
        except Exception as exc:
            raise FileFormatError(
                f"{self.p}: acquisition headers are unreadable or truncated ({exc})"
            ) from exc

    def vlen(self, name: str, rows: list[int], lengths: list[int]) -> list[np.ndarray]:
        """Member ``name`` (float32) of ``rows``; each must hold ``lengths[i]`` values."""
        if self.records is not None and name in self.members:
            offset, tid = self.members[name]
            base = np.dtype(tid.get_super().dtype) if isinstance(tid, h5py.h5t.TypeVlenID) else None
            if base is not None:
                n, addr, index = vlen_references(self.records, offset)
                out = []
                for r, want in zip(rows, lengths, strict=True):
                    if int(n[r]) != want:
                        raise DataError(
                            f"{self.p}: acquisition {r} stores {int(n[r])} {name} values, "
                            f"its header implies {want}"
                        )
                    raw = self.heap.read(int(addr[r]), int(index[r]), want * base.itemsize) if want else b""
                    out.append(np.frombuffer(raw, base).astype(np.float32))
                return out
        try:
            col = self.ds.fields(name)[:]
        except Exception as exc:
            raise FileFormatError(f"{self.p}: sample data is unreadable or truncated ({exc})") from exc
        return [np.asarray(col[r], dtype=np.float32) for r in rows]


def _read_xml_and_heads(f: h5py.File, p: Path) -> tuple[str, MRHeader, AcquisitionTable]:
    group = _raw_group(f, p)
    raw = _Raw(f, p, group)
    try:
        xml, heads = raw.xml(), raw.heads()
    finally:
        raw.close()
    return group, parse_header(xml), AcquisitionTable(heads)


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


def read_ismrmrd_readouts(path: str | os.PathLike[str]) -> Readouts:
    """Read all acquisitions of an ISMRMRD file in acquisition order.

    Parameters
    ----------
    path
        ISMRMRD HDF5 file.

    Returns
    -------
    Readouts
        Headers, complex64 samples ``(channels, samples)`` and trajectories per
        acquisition.

    Raises
    ------
    FileFormatError, HeaderError, DataError
        Unreadable file, unusable header, or sample counts that do not match the headers.
    """
    p = Path(path)
    with _open(p) as f:
        raw = _Raw(f, p, _raw_group(f, p))
        try:
            header = parse_header(raw.xml())
            table = AcquisitionTable(raw.heads())
            h = table.headers
            ch = np.asarray(h["active_channels"]).astype(np.int64)
            ns = np.asarray(h["number_of_samples"]).astype(np.int64)
            tdims = np.asarray(h["trajectory_dimensions"]).astype(np.int64)
            rows = list(range(len(table)))
            flat = raw.vlen("data", rows, [int(2 * c * s) for c, s in zip(ch, ns, strict=True)])
            with_traj = [r for r in rows if tdims[r] > 0 and ns[r] > 0]
            traj_flat = dict(
                zip(
                    with_traj,
                    raw.vlen("traj", with_traj, [int(ns[r] * tdims[r]) for r in with_traj]),
                    strict=True,
                )
            )
        finally:
            raw.close()
    samples = []
    trajs: list[np.ndarray | None] = []
    for r in rows:
        samples.append(Readouts.complex_block(flat[r], int(ch[r]), int(ns[r]), f"{p}: acquisition {r}"))
        t = traj_flat.get(r)
        if t is not None:
            if t.size != ns[r] * tdims[r]:
                raise DataError(
                    f"{p}: acquisition {r} trajectory has {t.size} values, expected {ns[r]}×{tdims[r]}"
                )
            trajs.append(t.reshape(int(ns[r]), int(tdims[r])))
        else:
            trajs.append(None)
    return Readouts(header=header, acquisitions=table, samples=samples, trajectories=trajs, source=str(p))


def read_ismrmrd(
    path: str | os.PathLike[str],
    *,
    encoding: int = 0,
    keep_singleton_axes: bool = False,
    trajectory_units: TrajectoryUnits = "auto",
) -> KSpace:
    """Read ISMRMRD raw data and sort it into k-space.

    See :func:`recon_engine.io.sorting.sort_readouts` for how readouts are placed
    (counters, limit centres, ``center_sample``, reversed lines, noise and navigators
    kept apart, trajectory units).

    Parameters
    ----------
    path
        ISMRMRD HDF5 file.
    encoding
        Which encoding space (``encoding_space_ref``) to read.
    keep_singleton_axes
        Keep all ``other`` axes even when they have one entry.
    trajectory_units
        Unit of an embedded trajectory (``"auto"`` detects it).

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
    return sort_readouts(
        read_ismrmrd_readouts(path),
        encoding=encoding,
        keep_singleton_axes=keep_singleton_axes,
        trajectory_units=trajectory_units,
    )
