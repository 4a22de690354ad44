"""Bounded reading of HDF5 dataset records and variable-length data, checked against the file.

The HDF5 library trusts a file's global heap: a zeroed or overwritten heap collection can make
it loop for ever while it converts variable-length data (ISMRMRD stores each readout's samples
and trajectory, and the XML header, that way), even when only the fixed-size acquisition
headers are asked for. Here h5py is used for the metadata only (dataset type, layout, chunk
index); the records themselves are read from the file, every offset and length checked against
the file size, and variable-length data are taken from global heap collections whose signature,
size and object list are validated first. Every loop is bounded by the bytes the file holds.

Layouts other than contiguous and unfiltered or deflate-compressed chunks are not handled here
(the callers then fall back to h5py).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, BinaryIO

import h5py
import numpy as np

from recon_engine.errors import FileFormatError

__all__ = ["GlobalHeap", "compound_members", "dataset_records", "vlen_references"]

_GCOL = b"GCOL"
_VLEN_REF = 16  # on-disk variable-length reference: uint32 length, uint64 collection address, uint32 index
_DEFLATE = 1


class GlobalHeap:
    """The global heap collections of one open file, validated on first use.

    Parameters
    ----------
    fh
        The file, opened for binary reading.
    size
        Its size in bytes.
    where
        The file's name for messages.
    """

    def __init__(self, fh: BinaryIO, size: int, where: str) -> None:
        self._fh, self._size, self._where = fh, size, where
        self._collections: dict[int, tuple[bytes, dict[int, tuple[int, int]]]] = {}

    def _damaged(self, addr: int, why: str) -> FileFormatError:
        return FileFormatError(
            f"{self._where}: HDF5 variable-length data damaged (heap at byte {addr}: {why})"
        )

    def _collection(self, addr: int) -> tuple[bytes, dict[int, tuple[int, int]]]:
        found = self._collections.get(addr)
        if found is not None:
            return found
        if addr <= 0 or addr + 16 > self._size:
            raise self._damaged(addr, f"outside the file of {self._size} bytes")
        self._fh.seek(addr)
        head = self._fh.read(16)
        if head[:4] != _GCOL or head[4] != 1:
            raise self._damaged(addr, "no global heap signature")
        length = int.from_bytes(head[8:16], "little")
        if length < 16 or addr + length > self._size:
            raise self._damaged(addr, f"collection of {length} bytes does not fit the file")
        self._fh.seek(addr)
        blob = self._fh.read(length)
        objects: dict[int, tuple[int, int]] = {}
        pos = 16
        while pos + 16 <= length:  # each object advances pos by at least 16 bytes
            index = int.from_bytes(blob[pos : pos + 2], "little")
            size = int.from_bytes(blob[pos + 8 : pos + 16], "little")
            if index == 0:  # free space: the end of the objects
                break
            start = pos + 16
            if start + size > length:
                raise self._damaged(addr, f"object {index} of {size} bytes overruns its collection")
            objects[index] = (start, size)
            pos = start + ((size + 7) & ~7)
        self._collections[addr] = (blob, objects)
        return blob, objects

    def read(self, addr: int, index: int, nbytes: int) -> bytes:
        """``nbytes`` of heap object ``index`` in the collection at ``addr``."""
        blob, objects = self._collection(addr)
        obj = objects.get(index)
        if obj is None or obj[1] < nbytes:
            raise self._damaged(addr, f"object {index} missing or shorter than {nbytes} bytes")
        return blob[obj[0] : obj[0] + nbytes]


def _read_at(fh: BinaryIO, size: int, offset: int, nbytes: int, where: str) -> bytes:
    if offset < 0 or nbytes < 0 or offset + nbytes > size:
        raise FileFormatError(
            f"{where}: truncated HDF5 file: {nbytes} bytes at byte {offset} lie beyond its {size} bytes"
        )
    fh.seek(offset)
    return fh.read(nbytes)


def dataset_records(ds: h5py.Dataset, fh: BinaryIO, size: int) -> np.ndarray | None:
    """The on-disk records of a one-dimensional dataset as ``uint8 (n, record size)``.

    Returns None for layouts this reader does not handle (compact, other filters), so the
    caller can use h5py. Chunks the file does not store are zero (the HDF5 fill value).

    Raises
    ------
    FileFormatError
        Records or chunks that lie outside the file, more chunks than the dataset can hold, or a
        chunk that does not decompress to its size.
    """
    where = str(Path(ds.file.filename))
    try:
        n = int(ds.shape[0]) if ds.ndim == 1 else -1
        itemsize = int(ds.id.get_type().get_size())
        plist = ds.id.get_create_plist()
        layout = plist.get_layout()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    except Exception as exc:
        raise FileFormatError(
            f"{where}: HDF5 dataset {ds.name} is damaged ({type(exc).__name__}: {exc})"
        ) from exc
    if n < 0 or itemsize <= 0:
        return None
    out = np.zeros((n, itemsize), dtype=np.uint8)
    if layout == h5py.h5d.CONTIGUOUS and not filters:
        if n and n * itemsize > size:
            raise FileFormatError(
                f"{where}: dataset {ds.name} claims {n} records of {itemsize} bytes, more than the file holds"
            )
        offset = ds.id.get_offset()
        if offset is None:  # never written: fill values
            return out
        raw = _read_at(fh, size, int(offset), n * itemsize, where)
        out[:] = np.frombuffer(raw, np.uint8).reshape(n, itemsize)
        return out
    if layout != h5py.h5d.CHUNKED or any(f != _DEFLATE for f in filters):
        return None
    rows = int(plist.get_chunk()[0])
    if rows <= 0:
        return None
    expected = -(-n // rows)
    if not filters and n and expected * rows * itemsize > size + rows * itemsize:
        raise FileFormatError(
            f"{where}: dataset {ds.name} claims {n} records of {itemsize} bytes, more than the file holds"
        )
    try:
        count = int(ds.id.get_num_chunks())
        infos = [ds.id.get_chunk_info(i) for i in range(min(count, expected + 1))]
    except Exception as exc:
        raise FileFormatError(f"{where}: HDF5 chunk index of {ds.name} is damaged ({exc})") from exc
    if count > expected:
        raise FileFormatError(
            f"{where}: dataset {ds.name} lists {count} chunks but {n} records need {expected}"
        )
    full = rows * itemsize
    for info in infos:
        start = int(info.chunk_offset[0])
        if start % rows or not 0 <= start < n:
            raise FileFormatError(f"{where}: HDF5 chunk index of {ds.name} is damaged (chunk at row {start})")
        raw = _read_at(fh, size, int(info.byte_offset), int(info.size), where)
        if filters and not int(info.filter_mask):
            try:
                d = zlib.decompressobj()
                raw = d.decompress(raw, full)
            except zlib.error as exc:
                raise FileFormatError(f"{where}: compressed chunk of {ds.name} is damaged ({exc})") from exc
        if len(raw) != full:
            raise FileFormatError(f"{where}: chunk of {ds.name} holds {len(raw)} bytes, not {full}")
        stop = min(start + rows, n)
        out[start:stop] = np.frombuffer(raw, np.uint8).reshape(rows, itemsize)[: stop - start]
    return out


def vlen_references(records: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(length, collection address, object index)`` of the variable-length member at byte ``offset``."""
    ref = np.ascontiguousarray(records[:, offset : offset + _VLEN_REF])
    view = ref.view(np.dtype([("n", "<u4"), ("addr", "<u8"), ("index", "<u4")])).reshape(-1)
    return view["n"].astype(np.int64), view["addr"].astype(np.int64), view["index"].astype(np.int64)


def compound_members(ds: h5py.Dataset) -> dict[str, tuple[int, Any]]:
    """Member name → ``(byte offset, h5py type id)`` of a compound dataset's on-disk type ({} otherwise)."""
    tid = ds.id.get_type()
    if not isinstance(tid, h5py.h5t.TypeCompoundID):
        return {}
    out = {}
    for i in range(tid.get_nmembers()):
        name = tid.get_member_name(i)
        out[name.decode() if isinstance(name, bytes) else str(name)] = (
            int(tid.get_member_offset(i)),
            tid.get_member_type(i),
        )
    return out
