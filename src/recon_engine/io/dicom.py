"""DICOM export: one MR Image Storage file per plane and volume, and a reader for it.

The magnitude is scaled to ``uint16`` with one ``RescaleSlope`` for the whole series
(stored value × slope = magnitude, intercept 0), so the quantisation error is at most
``max|image| / 131070``. Positions and orientations are in LPS (DICOM's patient
coordinates, the same as ISMRMRD's): ``ImageOrientationPatient`` is ``read_dir`` followed
by ``phase_dir`` (the directions of increasing column and row), ``ImagePositionPatient``
is the centre of the first transmitted voxel (top-left, ``x = y = 0``) of each plane.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds

from recon_engine.data.geometry import Geometry
from recon_engine.data.header import MRHeader
from recon_engine.data.image import ImageData
from recon_engine.errors import ExportError, FileFormatError
from recon_engine.io._atomic import atomic_directory
from recon_engine.io.nifti import SliceStack, slice_stack

__all__ = ["read_dicom_series", "read_image_datasets", "write_dicom_series"]

_UINT16_MAX = 65535


def _ds(value: float) -> str:
    """Format ``value`` as a DICOM decimal string (at most 16 characters)."""
    return str(format_number_as_ds(float(value)))


def _ds_list(values: np.ndarray) -> list[str]:
    return [_ds(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _pick(values: tuple[float, ...], index: int) -> float | None:
    if not values:
        return None
    return values[index] if index < len(values) else values[0]


def _series_dataset(
    stack: SliceStack, header: MRHeader | None, description: str, slope: float, vmax: float
) -> Dataset:
    """Tags shared by every file of the series."""
    now = datetime.datetime.now()
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "MR"
    ds.ImageType = ["DERIVED", "PRIMARY", "M"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.SeriesDescription = description
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.ReferringPhysicianName = ""
    ds.AccessionNumber = ""
    ds.Manufacturer = (header.system if header is not None and header.system else "") or ""
    ds.SoftwareVersions = "napari-mrrecon"
    ds.PositionReferenceIndicator = ""
    ds.ScanningSequence = "RM"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "3D" if stack.is_3d else "2D"
    ds.EchoTrainLength = None
    ds.ImageOrientationPatient = _ds_list(np.concatenate([stack.read_dir, stack.phase_dir]))
    dx, dy = stack.pixel_spacing_mm
    ds.PixelSpacing = [_ds(dy), _ds(dx)]
    ds.SliceThickness = _ds(stack.thickness_mm)
    steps = stack.steps_mm()
    spacing = float(np.linalg.norm(steps, axis=1).mean()) if len(steps) else stack.thickness_mm
    ds.SpacingBetweenSlices = _ds(spacing)
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = _ds(slope)
    ds.WindowCenter = _ds(vmax / 2)
    ds.WindowWidth = _ds(max(vmax, 1e-12))
    if header is not None:
        if header.field_strength_t is not None:
            ds.MagneticFieldStrength = _ds(header.field_strength_t)
        if header.h1_frequency_hz is not None:
            ds.ImagingFrequency = _ds(header.h1_frequency_hz / 1e6)
        if header.protocol_name:
            ds.ProtocolName = header.protocol_name
    return ds


def _sequence_tags(ds: Dataset, header: MRHeader | None, index: dict[str, int]) -> None:
    """TE, TR, TI and flip angle (per contrast when the header lists one per contrast)."""
    contrast = index.get("contrast", 0)
    values = (
        ("EchoTime", header.te_ms if header else ()),
        ("RepetitionTime", header.tr_ms if header else ()),
        ("InversionTime", header.ti_ms if header else ()),
        ("FlipAngle", header.flip_angle_deg if header else ()),
    )
    for keyword, vals in values:
        v = _pick(vals, contrast)
        if v is not None:
            setattr(ds, keyword, _ds(v))
        elif keyword in ("EchoTime", "RepetitionTime"):
            setattr(ds, keyword, None)  # type 2: present, empty
    if "contrast" in index:
        ds.EchoNumbers = contrast + 1


def write_dicom_series(
    image: ImageData,
    directory: str | os.PathLike[str],
    *,
    series_description: str = "mrrecon",
    overwrite: bool = False,
) -> list[Path]:
    """Write the magnitude as a DICOM MR series, one file per plane and volume.

    Parameters
    ----------
    image
        ``(*other, coils, z, y, x)`` complex image. Multi-slice 2D data is written slice
        by slice at the slice centres; every other ``other``/coil index is one more
        volume (``TemporalPositionIdentifier`` 1..n, same positions).
    directory
        Output directory (created; its parent must exist).
    series_description
        ``SeriesDescription`` tag.
    overwrite
        Replace an existing directory that holds only ``.dcm`` files.

    Returns
    -------
    list of Path
        The files, ordered by ``InstanceNumber`` (volume-major, then plane).

    Raises
    ------
    ExportError
        Missing parent directory, non-empty target, or non-finite values.
    """
    stack = slice_stack(image)
    mag = np.abs(stack.volumes)  # (t, z, y, x)
    vmax = float(mag.max()) if mag.size else 0.0
    if not np.isfinite(vmax):
        raise ExportError("the image contains NaN or infinite values; cannot export it to DICOM")
    slope = float(_ds(vmax / _UINT16_MAX)) if vmax > 0 else 1.0
    stored = np.clip(np.rint(mag / slope), 0, _UINT16_MAX).astype(np.uint16)
    base = _series_dataset(stack, image.header, series_description, slope, vmax)
    n_vol, n_z, ny, nx = stored.shape
    dx, dy = stack.pixel_spacing_mm
    centre_offset = stack.read_dir * dx * (nx // 2) + stack.phase_dir * dy * (ny // 2)
    names: list[Path] = []
    with atomic_directory(directory, overwrite=overwrite) as tmp:
        for t in range(n_vol):
            for k in range(n_z):
                number = t * n_z + k + 1
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = MRImageStorage
                meta.MediaStorageSOPInstanceUID = generate_uid()
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
                name = f"IM{number:05d}.dcm"
                ds = FileDataset(name, Dataset(), file_meta=meta, preamble=b"\0" * 128)
                ds.update(base)
                ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
                ds.InstanceNumber = number
                ds.AcquisitionNumber = t + 1
                ds.ImagePositionPatient = _ds_list(stack.origins_lps[k])
                ds.SliceLocation = _ds(float((stack.origins_lps[k] + centre_offset) @ stack.normal))
                if n_vol > 1:
                    ds.TemporalPositionIdentifier = t + 1
                    ds.NumberOfTemporalPositions = n_vol
                idx = stack.volume_index[t]
                ds.ImageComments = " ".join(f"{a}={i}" for a, i in idx.items())
                _sequence_tags(ds, image.header, idx)
                ds.set_pixel_data(stored[t, k], "MONOCHROME2", 16, generate_instance_uid=False)
                ds.save_as(tmp / name, enforce_file_format=True)
                names.append(Path(directory).absolute() / name)
    return names


def read_image_datasets(directory: Path) -> list[Dataset]:
    """The DICOM images of ``directory`` with pixel data, position and orientation, by file name.

    Hidden files, sub-directories and files that are not DICOM are skipped. Each image is
    decoded completely here (every element and the pixel data), so a damaged file fails now,
    with its name, rather than later inside pydicom.

    Raises
    ------
    FileFormatError
        A DICOM file that is truncated or damaged (unknown value representation, pixel data
        shorter than its rows × columns, values that do not parse).
    """
    out: list[Dataset] = []
    for f in sorted(directory.iterdir()):
        if not f.is_file() or f.name.startswith("."):
            continue
        try:
            ds = pydicom.dcmread(f)
        except (InvalidDicomError, IsADirectoryError):
            continue
        except Exception as exc:  # pydicom raises anything from EOFError to NotImplementedError
            raise FileFormatError(f"{f}: damaged DICOM file ({_why(exc)})") from exc
        try:
            if (
                "PixelData" not in ds
                or "ImagePositionPatient" not in ds
                or "ImageOrientationPatient" not in ds
            ):
                continue
            for _ in ds:  # converts every raw element: unknown VRs and unparsable values fail here
                pass
            pixels = ds.pixel_array
        except Exception as exc:
            raise FileFormatError(f"{f}: damaged DICOM file ({_why(exc)})") from exc
        if pixels.ndim != 2:
            raise FileFormatError(f"{f}: a DICOM image of shape {pixels.shape}, not one plane")
        out.append(ds)
    return out


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else "unreadable"
    return f"{type(exc).__name__}: {text[:200]}"


def read_dicom_series(directory: str | os.PathLike[str]) -> tuple[np.ndarray, Geometry]:
    """Read a single-series DICOM directory (as written by :func:`write_dicom_series`).

    Parameters
    ----------
    directory
        Folder with one file per plane (non-DICOM files are ignored).

    Returns
    -------
    data : np.ndarray
        float32 ``(z, y, x)`` after ``RescaleSlope``/``RescaleIntercept``, planes sorted
        by position along the normal ``row × column direction``; ``(t, z, y, x)`` when
        several files share each position (volumes in ``InstanceNumber`` order).
    geometry : Geometry
        Regular grid of the planes: matrix ``(x, y, z)``, voxel size from
        ``PixelSpacing`` and the distance between plane centres (``SliceThickness`` for
        one plane), FOV centre at voxel ``N // 2``, ``slice_dir`` = the normal.

    Raises
    ------
    FileFormatError
        Missing directory, no DICOM images, several series, or inconsistent planes.
    """
    d = Path(directory)
    if not d.is_dir():
        raise FileFormatError(f"DICOM directory {d} does not exist")
    try:
        return _series(d)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise FileFormatError(f"{d}: DICOM tags that do not form an image series ({_why(exc)})") from exc


def _series(d: Path) -> tuple[np.ndarray, Geometry]:
    files = read_image_datasets(d)
    if not files:
        raise FileFormatError(f"{d} contains no DICOM images with position and orientation")
    series = {str(ds.get("SeriesInstanceUID", "")) for ds in files}
    if len(series) > 1:
        raise FileFormatError(f"{d} holds {len(series)} DICOM series; put each series in its own folder")
    iop = np.asarray([float(v) for v in files[0].ImageOrientationPatient])
    read, phase = iop[:3], iop[3:]
    normal = np.cross(read, phase)
    along = np.array([np.asarray([float(v) for v in ds.ImagePositionPatient]) @ normal for ds in files])
    inst = np.array([int(ds.get("InstanceNumber", 0) or 0) for ds in files])
    key = np.round(along, 3)
    order = np.lexsort((inst, key))
    files = [files[i] for i in order]
    along = along[order]
    n_pos = len(np.unique(key))
    if len(files) % n_pos:
        raise FileFormatError(f"{d}: {len(files)} files do not fill {n_pos} slice positions evenly")
    n_vol = len(files) // n_pos
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in files}
    if len(shapes) > 1:
        raise FileFormatError(f"{d}: images of different sizes {sorted(shapes)}")
    ny, nx = shapes.pop()
    data = np.empty((n_vol, n_pos, ny, nx), dtype=np.float32)
    for i, ds in enumerate(files):
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        data[i % n_vol, i // n_vol] = ds.pixel_array.astype(np.float64) * slope + intercept
    dy, dx = (float(v) for v in files[0].PixelSpacing)
    origins = np.array([[float(v) for v in files[j * n_vol].ImagePositionPatient] for j in range(n_pos)])
    dz = float(np.diff(along[::n_vol]).mean()) if n_pos > 1 else float(files[0].get("SliceThickness", 1.0))
    centre = origins[0] + read * dx * (nx // 2) + phase * dy * (ny // 2) + normal * dz * (n_pos // 2)
    geometry = Geometry.from_vectors(
        matrix=(nx, ny, n_pos),
        fov_mm=(dx * nx, dy * ny, dz * n_pos),
        position_mm=centre,
        read_dir=read,
        phase_dir=phase,
        slice_dir=normal,
    )
    return (data[0] if n_vol == 1 else data), geometry
