"""NIfTI-1 export (magnitude, optional phase) with the affine of the ISMRMRD geometry.

Also home of :func:`slice_stack`, which lays an :class:`~recon_engine.data.ImageData`
out as a stack of planes in space; the DICOM writer uses it too.

NIfTI voxel order is ``(x, y, z[, t])`` (nibabel's ``(i, j, k[, t])``) and its world
coordinates are RAS, so the affine is :meth:`Geometry.affine_ras`. Multi-slice 2D data
(an ``other`` axis ``"slice"`` with ``geometry.slice_positions_mm``) is stacked along
``z`` in the order of the slice positions along the normal, with the distance between
slice centres as ``z`` spacing.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from recon_engine.data.image import ImageData
from recon_engine.data.limits import check_allocation
from recon_engine.errors import ExportError, FileFormatError
from recon_engine.io._atomic import atomic_file

__all__ = ["SliceStack", "phase_path", "read_nifti", "slice_stack", "write_nifti"]

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class SliceStack:
    """An image as volumes of planes, each plane placed in LPS space.

    Attributes
    ----------
    volumes
        complex64 ``(n_volumes, z, y, x)``: every ``other`` index (but a stacked
        ``"slice"`` axis) and every coil is one volume.
    volume_index
        For each volume, its index on every remaining ``other`` axis and ``"coil"``.
    origins_lps
        ``(z, 3)`` LPS position (mm) of the centre of voxel ``(x=0, y=0)`` of each plane.
    read_dir, phase_dir
        Unit LPS vectors ``(3,)`` of the ``x`` (columns) and ``y`` (rows) axes.
    normal
        Unit LPS vector ``(3,)`` of the plane stacking direction.
    pixel_spacing_mm
        ``(dx, dy)`` in mm.
    thickness_mm
        Slice (or partition) thickness in mm.
    is_3d
        True for one 3D volume (``z`` partitions), False for 2D slices.
    """

    volumes: np.ndarray
    volume_index: list[dict[str, int]]
    origins_lps: np.ndarray
    read_dir: np.ndarray
    phase_dir: np.ndarray
    normal: np.ndarray
    pixel_spacing_mm: tuple[float, float]
    thickness_mm: float
    is_3d: bool

    def steps_mm(self) -> np.ndarray:
        """Vectors ``(z - 1, 3)`` from each plane's origin to the next one (LPS, mm)."""
        return np.diff(self.origins_lps, axis=0)


def slice_stack(image: ImageData) -> SliceStack:
    """Lay ``image`` out as planes in space (multi-slice 2D stacked, slices sorted).

    Parameters
    ----------
    image
        ``(*other, coils, z, y, x)``. With an ``other`` axis ``"slice"`` whose length
        matches ``geometry.slice_positions_mm``, its slices (or slabs) become planes,
        sorted by position along ``geometry.slice_dir``.

    Returns
    -------
    SliceStack

    Raises
    ------
    ExportError
        If ``slice_positions_mm`` does not match the ``"slice"`` axis.
    """
    g = image.geometry
    arr = image.numpy()
    n_other = arr.ndim - 4
    names = (
        list(image.other_axes) if len(image.other_axes) == n_other else [f"axis{i}" for i in range(n_other)]
    )
    nz = arr.shape[-3]
    dx, dy, dz = g.voxel_size_mm
    lps = g.affine_lps()
    positions = np.asarray(g.slice_positions_mm, dtype=np.float64).reshape(-1, 3)
    stacked = "slice" in names and len(positions) > 0
    if stacked:
        axis = names.index("slice")
        if arr.shape[axis] != len(positions):
            raise ExportError(
                f"the image has {arr.shape[axis]} slices but its geometry gives "
                f"{len(positions)} slice positions; cannot place the slices in space"
            )
        order = np.argsort(positions @ g.slice_dir, kind="stable")
        arr = np.moveaxis(arr, axis, -5)[..., order, :, :, :, :]
        # (*rest, coils, slices, z, y, x) -> (*rest, coils, slices * z, y, x)
        arr = np.moveaxis(arr, -5, -4)
        arr = arr.reshape(*arr.shape[:-5], arr.shape[-5], -1, *arr.shape[-2:])
        names.pop(axis)
        origins = np.concatenate(
            [
                (g.affine_lps(int(s)) @ np.c_[np.zeros((nz, 2)), np.arange(nz), np.ones(nz)].T)[:3].T
                for s in order
            ]
        )
    else:
        origins = (lps @ np.c_[np.zeros((nz, 2)), np.arange(nz), np.ones(nz)].T)[:3].T
    lead = arr.shape[:-3]
    index = [dict(zip([*names, "coil"], (int(i) for i in ix), strict=True)) for ix in np.ndindex(*lead)]
    return SliceStack(
        volumes=arr.reshape(-1, *arr.shape[-3:]),
        volume_index=index,
        origins_lps=origins,
        read_dir=np.asarray(g.read_dir, dtype=np.float64),
        phase_dir=np.asarray(g.phase_dir, dtype=np.float64),
        normal=np.asarray(g.slice_dir, dtype=np.float64),
        pixel_spacing_mm=(dx, dy),
        thickness_mm=dz,
        is_3d=nz > 1,
    )


def _affine_ras(stack: SliceStack) -> np.ndarray:
    """RAS affine of a regular stack; ExportError when the planes are not equally spaced."""
    dx, dy = stack.pixel_spacing_mm
    a = np.eye(4)
    a[:3, 0] = stack.read_dir * dx
    a[:3, 1] = stack.phase_dir * dy
    a[:3, 3] = stack.origins_lps[0]
    steps = stack.steps_mm()
    if len(steps) == 0:
        a[:3, 2] = stack.normal * stack.thickness_mm
    else:
        step = steps.mean(axis=0)
        tol = 1e-3 * float(np.linalg.norm(step)) + 1e-4
        if float(np.linalg.norm(steps - step, axis=1).max()) > tol:
            gaps = np.linalg.norm(steps, axis=1)
            raise ExportError(
                f"the slices are not equally spaced (gaps {gaps.min():.3f}–{gaps.max():.3f} mm); "
                "NIfTI needs a regular grid: export to DICOM or .npy instead"
            )
        a[:3, 2] = step
    return _LPS_TO_RAS @ a


def phase_path(path: str | os.PathLike[str]) -> Path:
    """Name of the phase file that goes with a magnitude file: ``<stem>_phase.nii(.gz)``."""
    p = Path(path)
    ext = ".nii.gz" if p.name.lower().endswith(".nii.gz") else p.suffix
    return p.with_name(p.name[: len(p.name) - len(ext)] + "_phase" + ext)


def _nifti(volume: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    img = nib.Nifti1Image(volume, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_xyzt_units(xyz="mm")
    return img


def write_nifti(
    image: ImageData, path: str | os.PathLike[str], *, phase: bool = False, overwrite: bool = True
) -> list[Path]:
    """Write the magnitude (and optionally the phase) as NIfTI-1 float32.

    Parameters
    ----------
    image
        ``(*other, coils, z, y, x)`` complex image.
    path
        Output ``.nii`` or ``.nii.gz`` file.
    phase
        Also write ``<stem>_phase.nii(.gz)`` with the phase in radians, ``[-π, π]``.
    overwrite
        Replace existing files.

    Returns
    -------
    list of Path
        The written files (magnitude first). The arrays are ``(x, y, z)``, or
        ``(x, y, z, t)`` with all ``other`` and coil volumes flattened into ``t``; the
        affine maps ``(x, y, z)`` voxel indices to RAS mm (scanner coordinates).

    Raises
    ------
    ExportError
        Bad extension, missing directory, existing file with ``overwrite=False``, or
        irregular multi-slice spacing.
    """
    target = Path(path)
    if not target.name.lower().endswith((".nii", ".nii.gz")):
        raise ExportError(f"NIfTI files end in .nii or .nii.gz, not {target.name!r}")
    stack = slice_stack(image)
    affine = _affine_ras(stack)
    # (t, z, y, x) -> (x, y, z, t); a single volume stays 3D
    vol = np.transpose(stack.volumes, (3, 2, 1, 0))
    if vol.shape[-1] == 1:
        vol = vol[..., 0]
    outputs = [(target, np.abs(vol).astype(np.float32))]
    if phase:
        outputs.append((phase_path(target), np.angle(vol).astype(np.float32)))
    with atomic_file(outputs[0][0], overwrite=overwrite) as tmp_mag:
        if phase:
            with atomic_file(outputs[1][0], overwrite=overwrite) as tmp_phase:
                nib.save(_nifti(outputs[1][1], affine), tmp_phase)
                nib.save(_nifti(outputs[0][1], affine), tmp_mag)
        else:
            nib.save(_nifti(outputs[0][1], affine), tmp_mag)
    return [p.absolute() for p, _ in outputs]


def _check_nifti_size(p: Path, img: nib.Nifti1Image | nib.Nifti2Image) -> None:
    """The voxels the header declares must be in the file (uncompressed) and fit the memory limit."""
    shape = tuple(int(v) for v in img.shape)
    stored = math.prod(shape) * np.dtype(img.get_data_dtype()).itemsize
    offset = int(img.header.get("vox_offset", 0) or 0) if p.suffix.lower() == ".nii" else 0
    if p.suffix.lower() == ".nii" and offset + stored > p.stat().st_size:
        raise FileFormatError(
            f"{p}: truncated NIfTI file: its header declares {' × '.join(map(str, shape))} voxels "
            f"({stored} bytes from byte {offset}) but the file has {p.stat().st_size} bytes"
        )
    check_allocation(shape, np.float64, f"{p}: NIfTI image", error=FileFormatError)


def read_nifti(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI file.

    Returns
    -------
    data : np.ndarray
        The voxel array ``(x, y, z[, t])`` (scaled, as float).
    affine : np.ndarray
        ``(4, 4)`` voxel-to-RAS affine (mm).

    Raises
    ------
    FileFormatError
        If the file is missing or not a NIfTI file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"NIfTI file {p} does not exist")
    try:
        with _nibabel_reports() as reports:
            img = nib.load(p)
            if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
                raise TypeError(f"{type(img).__name__} is not NIfTI")
            _check_nifti_size(p, img)
            data = np.asarray(img.get_fdata())
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"{p} is not a readable NIfTI file ({exc})") from exc
    for message in reports:  # header problems nibabel fixed or accepted: the user should know
        warnings.warn(f"{p.name}: {message}", UserWarning, stacklevel=2)
    return data, np.asarray(img.affine, dtype=np.float64)


@contextlib.contextmanager
def _nibabel_reports() -> Iterator[list[str]]:
    """Collect what nibabel's header checks log (it prints them to stderr itself otherwise).

    nibabel reports header problems through its own ``nibabel.global`` logger with a stderr
    handler; inside this block they are collected instead (the caller turns them into warnings,
    or drops them when the file is refused with an error that already says why).
    """
    import logging

    from nibabel import imageglobals

    logger = imageglobals.logger
    reports: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            reports.append(" ".join(record.getMessage().split()))

    saved_handlers, saved_propagate = logger.handlers[:], logger.propagate
    logger.handlers = [_Collect()]
    logger.propagate = False
    try:
        yield reports
    finally:
        logger.handlers, logger.propagate = saved_handlers, saved_propagate
