"""Readers of multi-contrast series with their times: DICOM directories and ISMRMRD files (private)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recon_engine.errors import DataError, FileFormatError

if TYPE_CHECKING:
    from recon_engine.data.header import MRHeader
    from recon_engine.data.image import ImageData

__all__ = ["header_times", "image_to_series_array", "read_dicom_qmri", "read_mrd_qmri"]

_CONTRAST_TAGS = (("InversionTime", "times"), ("EchoTime", "times"), ("FlipAngle", "flip_angles"))
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _pos(ds: Any) -> np.ndarray:
    """ImagePositionPatient as float64 ``(3,)`` (LPS, mm)."""
    return np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float64)


def _tag(ds: object, name: str) -> float | None:
    value = getattr(ds, name, None)
    try:
        return None if value in (None, "") else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def read_dicom_qmri(directory: Path) -> tuple[np.ndarray, dict[str, object]]:
    """Images ``(n, [z,] y, x)`` and times of a DICOM directory (one or several series).

    Files are grouped by the tag that varies between them (``InversionTime``, else
    ``EchoTime``, else ``FlipAngle``; ms and degrees as in DICOM) and sorted by its value;
    within a group the planes are sorted along the slice normal.
    """
    try:
        return _read_dicom(directory)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise FileFormatError(
            f"{directory}: DICOM tags that do not form an image series ({type(exc).__name__}: {text[:200]})"
        ) from exc


def _read_dicom(directory: Path) -> tuple[np.ndarray, dict[str, object]]:
    from recon_engine.io.dicom import read_image_datasets

    files: list[Any] = read_image_datasets(directory)
    if not files:
        raise FileFormatError(f"{directory} contains no DICOM images with position and orientation")
    key_name, kind = next(
        ((tag, kind) for tag, kind in _CONTRAST_TAGS if len({_tag(ds, tag) for ds in files}) > 1),
        ("InstanceNumber", "none"),
    )
    iop = np.asarray([float(v) for v in files[0].ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    groups: dict[float, list[Any]] = {}
    for ds in files:
        value = _tag(ds, key_name) if kind != "none" else 0.0
        groups.setdefault(value if value is not None else float("nan"), []).append(ds)
    values = sorted(groups)
    sizes = {len(g) for g in groups.values()}
    if len(sizes) != 1:
        raise FileFormatError(
            f"{directory}: contrasts ({key_name}) have different numbers of planes {sorted(sizes)}"
        )
    vols = []
    for v in values:
        planes = sorted(groups[v], key=lambda d: float(_pos(d) @ normal))
        if kind == "none":  # one contrast per file at each position: volumes in instance order
            planes = sorted(planes, key=lambda d: int(getattr(d, "InstanceNumber", 0) or 0))
        vols.append(
            [
                np.asarray(d.pixel_array, np.float64) * float(getattr(d, "RescaleSlope", 1) or 1)
                + float(getattr(d, "RescaleIntercept", 0) or 0)
                for d in planes
            ]
        )
    shapes = {p.shape for vol in vols for p in vol}
    if len(shapes) != 1:
        raise FileFormatError(f"{directory}: images of different sizes {sorted(shapes)}")
    data = np.asarray(vols, dtype=np.float32)  # (n, z, y, x)
    first = sorted(groups[values[0]], key=lambda d: float(_pos(d) @ normal))
    meta: dict[str, object] = {"affine": _affine(first, iop, normal)}
    if kind != "none":
        meta[kind] = np.asarray(values, dtype=np.float64)
    tr = {_tag(ds, "RepetitionTime") for ds in files} - {None}
    if len(tr) == 1:
        meta["tr"] = tr.pop()
    if kind == "times" and key_name == "EchoTime":
        fa = {_tag(ds, "FlipAngle") for ds in files} - {None}
        if len(fa) == 1:
            meta["flip_angles"] = np.full(len(values), fa.pop())
    return (data[:, 0] if data.shape[1] == 1 else data), meta


def _affine(planes: list[Any], iop: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Voxel ``(x, y, z)`` → RAS affine of the sorted planes."""
    ds0 = planes[0]
    dy, dx = (float(v) for v in ds0.PixelSpacing)
    origin = _pos(ds0)
    if len(planes) > 1:
        step = _pos(planes[1]) - origin
    else:
        step = normal * float(getattr(ds0, "SliceThickness", 1.0) or 1.0)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = iop[:3] * dx, iop[3:] * dy, step, origin
    return _LPS_TO_RAS @ lps


def _user_lists(xml: str) -> dict[str, list[float]]:
    """``userParameterDouble`` values by name (repeated names form a list)."""
    out: dict[str, list[float]] = {}
    for name, value in re.findall(
        r"<userParameterDouble>\s*<name>([^<]+)</name>\s*<value>([^<]+)</value>", xml or ""
    ):
        try:
            out.setdefault(name.strip().lower(), []).append(float(value))
        except ValueError:
            continue
    return out


def header_times(header: MRHeader, n: int) -> dict[str, object]:
    """Times from an ISMRMRD header: the TI, then TE, list with ``n`` entries (or user parameters).

    User parameters named ``TI``/``InversionTime``/``TE``/``EchoTime``/``FlipAngle`` (ms, deg)
    with ``n`` values count as lists when the sequence parameters do not have ``n`` entries.
    """
    user = _user_lists(header.xml)
    meta: dict[str, object] = {}
    candidates = [
        ("times", header.ti_ms), ("times", tuple(user.get("ti", user.get("inversiontime", [])))),
        ("times", header.te_ms), ("times", tuple(user.get("te", user.get("echotime", [])))),
    ]  # fmt: skip
    for kind, values in candidates:
        if len(values) == n and n > 1 and kind not in meta:
            meta[kind] = np.asarray(values, dtype=np.float64)
    for values in (header.flip_angle_deg, tuple(user.get("flipangle", []))):
        if len(values) == n and "flip_angles" not in meta:
            meta["flip_angles"] = np.asarray(values, dtype=np.float64)
    if header.tr_ms:
        meta["tr"] = float(header.tr_ms[0])
    return meta


def image_to_series_array(image: ImageData) -> np.ndarray:
    """``(*other, 1, z, y, x)`` → complex64 ``(n, [z,] y, x)`` with the one non-singleton other axis as n."""
    data = image.data.detach().cpu().numpy()
    n_other = data.ndim - 4
    if data.shape[n_other] != 1:
        raise DataError(f"combine the coils first: the image has {data.shape[n_other]} coils")
    other = data.shape[:n_other]
    long_axes = [i for i, s in enumerate(other) if s > 1]
    if len(long_axes) > 1:
        names = list(image.other_axes) or [str(i) for i in range(n_other)]
        axes = ", ".join(f"{names[i]}={other[i]}" for i in long_axes)
        raise DataError(f"the image has several non-singleton axes {axes}; select one contrast axis")
    n = other[long_axes[0]] if long_axes else 1
    vol = data.reshape(n, *data.shape[n_other + 1 :])  # (n, z, y, x)
    return np.ascontiguousarray(vol[:, 0] if vol.shape[1] == 1 else vol, dtype=np.complex64)


def read_mrd_qmri(path: Path) -> tuple[np.ndarray, dict[str, object]]:
    """Images and times of an ISMRMRD file: image groups are read, raw data reconstructed (direct)."""
    from recon_engine.io.ismrmrd_images import find_image_groups, read_ismrmrd_images

    image: ImageData
    if path.suffix.lower() != ".dat" and find_image_groups(path):
        image = read_ismrmrd_images(path)
    else:
        from recon_engine.api import read, reconstruct

        image = reconstruct(read(path), method="direct", device="cpu")
    data = image_to_series_array(image)
    meta = header_times(image.header, data.shape[0]) if image.header is not None else {}
    return data, meta
