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
        _, header, table = _read_xml_and_heads(f, p)
        ds = f[find_raw_group(f) or "dataset"]["data"]
        try:
            flat = ds.fields("data")[:] if len(table) else []
            tdims = np.asarray(table.headers["trajectory_dimensions"]).astype(np.int64)
            traj_flat = ds.fields("traj")[:] if len(table) and (tdims > 0).any() else None
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"{p}: sample data is unreadable or truncated ({exc})") from exc
    h = table.headers
    samples = []
    trajs: list[np.ndarray | None] = []
    for r in range(len(table)):
        ch, ns = int(h["active_channels"][r]), int(h["number_of_samples"][r])
        samples.append(Readouts.complex_block(flat[r], ch, ns, f"{p}: acquisition {r}"))
        if traj_flat is not None and tdims[r] > 0 and ns > 0:
            t = np.asarray(traj_flat[r], dtype=np.float32)
            if t.size != ns * tdims[r]:
                raise DataError(
                    f"{p}: acquisition {r} trajectory has {t.size} values, expected {ns}×{tdims[r]}"
                )
            trajs.append(t.reshape(ns, int(tdims[r])))
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
