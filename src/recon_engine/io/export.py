"""Save an image in the format its path names: ``.npy``, ``.nii(.gz)``, ``.h5``/``.mrd``, DICOM.

The writers live in their own modules and are imported only when used, so importing
this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from recon_engine.data.image import ImageData
from recon_engine.errors import ExportError

__all__ = ["SUPPORTED", "save"]

_Writer = Callable[[ImageData, Path, bool, bool], list[Path]]


def _npy(image: ImageData, path: Path, phase: bool, overwrite: bool) -> list[Path]:
    from recon_engine.io.npy import write_npy

    return write_npy(image, path, overwrite=overwrite)


def _nifti(image: ImageData, path: Path, phase: bool, overwrite: bool) -> list[Path]:
    from recon_engine.io.nifti import write_nifti

    return write_nifti(image, path, phase=phase, overwrite=overwrite)


def _ismrmrd(image: ImageData, path: Path, phase: bool, overwrite: bool) -> list[Path]:
    from recon_engine.io.ismrmrd_images import write_ismrmrd_images

    return write_ismrmrd_images(image, path, overwrite=overwrite)


def _dicom(image: ImageData, path: Path, phase: bool, overwrite: bool) -> list[Path]:
    from recon_engine.io.dicom import write_dicom_series

    return write_dicom_series(image, path, overwrite=overwrite)


#: Writer by (lower-case) extension; a directory (or a path without extension) is DICOM.
_WRITERS: dict[str, _Writer] = {
    ".npy": _npy,
    ".nii": _nifti,
    ".nii.gz": _nifti,
    ".h5": _ismrmrd,
    ".mrd": _ismrmrd,
}

#: Human-readable list of the supported outputs.
SUPPORTED: tuple[str, ...] = (*_WRITERS, "<directory> (DICOM series)")


def _extension(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def save(
    image: ImageData, path: str | os.PathLike[str], *, phase: bool = False, overwrite: bool = True
) -> list[Path]:
    """Save an image; the format follows from ``path``.

    Parameters
    ----------
    image
        ``(*other, coils, z, y, x)`` complex image (not modified).
    path
        ``*.npy`` (complex64, squeezed), ``*.nii``/``*.nii.gz`` (magnitude float32, RAS
        affine), ``*.h5``/``*.mrd`` (ISMRMRD complex images), or a directory / a path
        without extension (DICOM series of the magnitude, uint16).
    phase
        NIfTI only: also write ``<stem>_phase.nii(.gz)`` in radians.
    overwrite
        Replace existing output (a DICOM directory only if it holds nothing but
        ``.dcm`` files).

    Returns
    -------
    list of Path
        The written files (for DICOM, one per plane and volume).

    Raises
    ------
    ExportError
        Unknown extension, missing output directory, existing output with
        ``overwrite=False``, or NaN/infinite values in the image.
    """
    target = Path(path).expanduser()
    if not bool(torch.isfinite(image.data).all()):
        n_bad = int((~torch.isfinite(image.data)).sum())
        raise ExportError(f"the image contains {n_bad} NaN or infinite values; refusing to export it")
    ext = _extension(target)
    if target.is_dir() or ext == "":
        return _dicom(image, target, phase, overwrite)
    writer = _WRITERS.get(ext)
    if writer is None:
        hint = (
            " (DICOM series are written to a directory: give a path without extension)"
            if ext == ".dcm"
            else ""
        )
        raise ExportError(
            f"cannot export to {target.name!r}: unknown extension {ext!r}; "
            f"supported: {', '.join(SUPPORTED)}{hint}"
        )
    return writer(image, target, phase, overwrite)
