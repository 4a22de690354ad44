"""ISMRMRD image files: write reconstruction results, read any image group.

An image group is ``<dataset>/<group>/`` with ``data`` ``(n, channels, z, y, x)``,
``header`` (one compound ISMRMRD ``ImageHeader`` per image) and ``attributes`` (one XML
meta string per image); e.g. ``dataset/cpp`` written by ``ismrmrd_recon_cartesian_2d``
or ``images/image_1`` written by JEMRIS. Writing uses the ``ismrmrd`` package; reading
uses :mod:`h5py` read-only, so inputs are never modified.
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from recon_engine.data.geometry import Geometry
from recon_engine.data.header import MRHeader, parse_header
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import OTHER_AXES
from recon_engine.errors import ExportError, FileFormatError, HeaderError
from recon_engine.io._atomic import atomic_file

__all__ = ["find_image_groups", "read_ismrmrd_images", "write_ismrmrd_images"]

_IMTYPE_COMPLEX = 5
_AXES_KEY = "mrrecon.other_axes"
_INDEX_KEY = "mrrecon.other_index"
_POSITION_KEY = "mrrecon.position_mm"


def _import_ismrmrd() -> Any:
    # ismrmrd calls warnings.simplefilter("default") on import; keep that change local.
    with warnings.catch_warnings():
        import ismrmrd
    return ismrmrd


def _meta_string(values: dict[str, list[str]]) -> str:
    root = ET.Element("ismrmrdMeta")
    for key, vals in values.items():
        m = ET.SubElement(root, "meta")
        ET.SubElement(m, "name").text = key
        for v in vals:
            ET.SubElement(m, "value").text = v
    return ET.tostring(root, encoding="unicode")


def write_ismrmrd_images(
    image: ImageData,
    path: str | os.PathLike[str],
    *,
    group: str = "images",
    overwrite: bool = False,
) -> list[Path]:
    """Write the complex image as an ISMRMRD image group ``dataset/<group>``.

    Parameters
    ----------
    image
        ``(*other, coils, z, y, x)``: every ``other`` index becomes one ISMRMRD image of
        ``coils`` channels (complex float). ``other`` axes named like ISMRMRD counters
        (slice, contrast, phase, repetition, set, average) also set those counters;
        all axis names and indices are kept in the image attributes (meta).
    path
        Output HDF5 file (``.h5``/``.mrd``); written to a temporary file, then renamed.
    group
        Name of the image group inside ``dataset``.
    overwrite
        Replace an existing file (it is never appended to).

    Returns
    -------
    list of Path
        The written file.

    Raises
    ------
    ExportError
        Missing directory, existing file with ``overwrite=False``, bad group name.
    """
    if not group or "/" in group:
        raise ExportError(f"invalid ISMRMRD image group name {group!r}")
    ismrmrd = _import_ismrmrd()
    g = image.geometry
    arr = image.numpy()
    other_shape = arr.shape[:-4]
    names = list(image.other_axes) if len(image.other_axes) == len(other_shape) else []
    names = names or [f"axis{i}" for i in range(len(other_shape))]
    n_slices = len(g.slice_positions_mm)
    target = Path(path)
    with atomic_file(target, overwrite=overwrite) as tmp, ismrmrd.Dataset(str(tmp), "dataset", True) as ds:
        if image.header is not None:
            ds.write_xml_header(image.header.xml)
        for n, ix in enumerate(np.ndindex(*other_shape)):
            index = dict(zip(names, ix, strict=True))
            s = index.get("slice", 0)
            centre = g.slice_positions_mm[s] if "slice" in index and s < n_slices else g.position_mm
            counters = {k: int(v) for k, v in index.items() if k in OTHER_AXES}
            im = ismrmrd.Image.from_array(
                np.ascontiguousarray(arr[ix], dtype=np.complex64),
                field_of_view=tuple(float(v) for v in g.fov_mm),
                position=tuple(float(v) for v in centre),
                read_dir=tuple(float(v) for v in g.read_dir),
                phase_dir=tuple(float(v) for v in g.phase_dir),
                slice_dir=tuple(float(v) for v in g.slice_dir),
                image_type=_IMTYPE_COMPLEX,
                image_index=n + 1,
                **counters,
            )
            im.attribute_string = _meta_string(
                {
                    _AXES_KEY: names,
                    _INDEX_KEY: [str(i) for i in ix],
                    _POSITION_KEY: [repr(float(v)) for v in g.position_mm],
                }
            )
            ds.append_image(group, im)
    return [target.absolute()]


def _open(path: str | os.PathLike[str]) -> h5py.File:
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"ISMRMRD image file {p} does not exist")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise FileFormatError(f"{p} is not an HDF5 (ISMRMRD) file ({exc})") from exc


def _image_groups(f: h5py.File) -> list[str]:
    found: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Group) and {"data", "header"} <= set(obj.keys()):
            head = obj["header"]
            if isinstance(head, h5py.Dataset) and head.dtype.names and "image_index" in head.dtype.names:
                found.append(name)

    f.visititems(visit)
    return found


def find_image_groups(path: str | os.PathLike[str]) -> list[str]:
    """HDF5 paths (e.g. ``"dataset/cpp"``) of every ISMRMRD image group in a file.

    Raises
    ------
    FileFormatError
        If the file is missing or not HDF5.
    """
    with _open(path) as f:
        return _image_groups(f)


def _parse_meta(raw: object) -> dict[str, list[str]]:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw or "")
    if not text.strip():
        return {}
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return {}
    out: dict[str, list[str]] = {}
    for m in root.iter("meta"):
        name = m.findtext("name")
        if name:
            out.setdefault(name, []).extend((v.text or "") for v in m.findall("value"))
    return out


def _layout(heads: np.ndarray, metas: list[dict[str, list[str]]]) -> tuple[list[str], list[tuple[int, ...]]]:
    """Names of the ``other`` axes and the index of every image on them."""
    n = len(heads)
    axes = metas[0].get(_AXES_KEY) if metas else None
    if axes is not None and all(
        m.get(_AXES_KEY) == axes and len(m.get(_INDEX_KEY, [])) == len(axes) for m in metas
    ):
        try:
            return list(axes), [tuple(int(v) for v in m[_INDEX_KEY]) for m in metas]
        except ValueError:
            pass
    varying = [a for a in OTHER_AXES if len(np.unique(heads[a])) > 1]
    index = [tuple(int(heads[a][i]) for a in varying) for i in range(n)]
    sizes = [int(heads[a].max()) + 1 for a in varying]
    if len(set(index)) == n and int(np.prod(sizes)) == n:
        return varying, index
    return (["image"], [(i,) for i in range(n)]) if n > 1 else ([], [()])


def _complex(raw: np.ndarray) -> np.ndarray:
    if raw.dtype.names:
        if not {"real", "imag"} <= set(raw.dtype.names):
            raise FileFormatError(f"ISMRMRD image data has an unknown compound type {raw.dtype}")
        return (raw["real"] + 1j * raw["imag"]).astype(np.complex64)
    return raw.astype(np.complex64)


def _select(groups: list[str], group: str | None, path: Path) -> str:
    if not groups:
        raise FileFormatError(f"{path} contains no ISMRMRD image group (data + header)")
    if group is None:
        return groups[0]
    g = group.strip("/")
    matches = [x for x in groups if x == g] or [x for x in groups if x.rsplit("/", 1)[-1] == g]
    if len(matches) != 1:
        what = "is ambiguous" if matches else "not found"
        raise FileFormatError(f"image group {group!r} {what} in {path}; available: {', '.join(groups)}")
    return matches[0]


def read_ismrmrd_images(path: str | os.PathLike[str], group: str | None = None) -> ImageData:
    """Read one ISMRMRD image group (read-only).

    Parameters
    ----------
    path
        HDF5 file.
    group
        Image group, as its full HDF5 path (``"dataset/cpp"``) or its last component
        (``"cpp"``, ``"image_2"``); None takes the first one :func:`find_image_groups` lists.

    Returns
    -------
    ImageData
        complex64 ``(*other, channels, z, y, x)``. ``other`` axes come from the
        attributes written by :func:`write_ismrmrd_images`, else from the ISMRMRD counters
        that vary (in :data:`~recon_engine.data.kspace.OTHER_AXES` order), else one axis
        ``"image"``. Geometry from the first image header; slice centres per slice.
        Zero direction vectors give the identity orientation
        (``geometry.orientation_assumed``); a zero field of view gives 1 mm voxels
        (``meta["fov_assumed"]``).

    Raises
    ------
    FileFormatError
        Missing or non-HDF5 file, no (or unknown) image group, unreadable data.
    """
    p = Path(path)
    with _open(p) as f:
        name = _select(_image_groups(f), group, p)
        grp = f[name]
        try:
            heads = np.asarray(grp["header"][()])
            raw = np.asarray(grp["data"][()])
            attrs = grp["attributes"][()] if "attributes" in grp else [b""] * len(heads)
        except (OSError, KeyError, ValueError) as exc:
            raise FileFormatError(f"cannot read image group {name!r} of {p} ({exc})") from exc
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        xml = f[parent]["xml"][0] if parent and "xml" in f[parent] else None
    if raw.ndim != 5 or raw.shape[0] != len(heads) or len(heads) == 0:
        raise FileFormatError(
            f"image group {name!r} of {p}: data {raw.shape} does not match {len(heads)} headers"
        )
    data = _complex(raw)
    metas = [_parse_meta(a) for a in attrs]
    axes, index = _layout(heads, metas)
    shape = tuple(max(ix[k] for ix in index) + 1 for k in range(len(axes)))
    out = np.zeros((*shape, *data.shape[1:]), dtype=np.complex64)
    for i, ix in enumerate(index):
        out[ix] = data[i]
    h0 = heads[0]
    nz, ny, nx = data.shape[-3:]
    fov = tuple(float(v) for v in h0["field_of_view"])
    fov_assumed = min(fov) <= 0  # e.g. JEMRIS writes zeros: assume 1 mm voxels
    if fov_assumed:
        fov = (float(nx), float(ny), float(nz))
    position = np.asarray(h0["position"], dtype=np.float64)
    stored = metas[0].get(_POSITION_KEY) if metas else None
    if stored is not None and len(stored) == 3:
        position = np.array([float(v) for v in stored])
    geometry = Geometry.from_vectors(
        (nx, ny, nz),
        (fov[0], fov[1], fov[2]),
        position_mm=position,
        read_dir=np.asarray(h0["read_dir"], dtype=np.float64),
        phase_dir=np.asarray(h0["phase_dir"], dtype=np.float64),
        slice_dir=np.asarray(h0["slice_dir"], dtype=np.float64),
    )
    if "slice" in axes and shape[axes.index("slice")] > 1:
        k = axes.index("slice")
        pos = np.zeros((shape[k], 3))
        for i, ix in enumerate(index):
            pos[ix[k]] = heads["position"][i]
        geometry = geometry.with_slices(pos)
    header: MRHeader | None = None
    if xml is not None:
        try:
            header = parse_header(xml)
        except HeaderError:
            header = None
    meta: dict[str, object] = {"source": str(p.absolute()), "group": name, "fov_assumed": fov_assumed}
    return ImageData(torch.from_numpy(out), geometry, tuple(axes), header, meta)
