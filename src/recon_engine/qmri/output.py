"""Writing fitted maps: one ``.npz`` or a directory of NIfTI files (atomically)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recon_engine.errors import ExportError
from recon_engine.io._atomic import atomic_directory, atomic_file, check_parent

if TYPE_CHECKING:
    from recon_engine.qmri.fitting import FitResult

__all__ = ["write_maps"]


def _nifti_volume(m: np.ndarray) -> np.ndarray:
    """Spatial ``(y, x)`` / ``(z, y, x)`` → NIfTI ``(x, y, z)``."""
    v = m[None] if m.ndim == 2 else m
    return np.ascontiguousarray(np.transpose(v, (2, 1, 0)), dtype=np.float32)


def write_maps(
    result: FitResult, out: str | os.PathLike[str], *, affine: np.ndarray | None = None
) -> list[Path]:
    """Write the maps of a fit.

    Parameters
    ----------
    result
        A :class:`~recon_engine.qmri.FitResult`.
    out
        ``*.npz``: one float32 array per map (``t1``, ``m0``, ``r2``, ``residual`` …), the
        CRLB maps as ``sd_<name>``, ``mask``, ``times`` (ms or deg) and ``model``.
        Any other path: a directory with one NIfTI per map (``t1.nii.gz``, ``sd_t1.nii.gz``
        …, voxel order ``(x, y, z)``).
    affine
        ``(4, 4)`` voxel → RAS (mm) affine for NIfTI (identity if None).

    Returns
    -------
    list[Path]
        The files written.

    Raises
    ------
    ExportError
        Missing parent directory or an unwritable target.
    """
    p = check_parent(out)
    arrays = {**result.maps, **{f"sd_{k}": v for k, v in result.sd.items()}}
    if p.name.lower().endswith(".npz"):
        payload: dict[str, np.ndarray] = {
            **arrays,
            "mask": result.mask,
            "times": np.asarray(result.times, dtype=np.float64),
            "model": np.array(result.model),
        }
        with atomic_file(p) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **payload)  # type: ignore[arg-type]
        return [p]
    if p.exists() and not p.is_dir():
        raise ExportError(
            f"{p} exists and is not a directory; give a .npz file or a directory for NIfTI maps"
        )
    import nibabel as nib

    aff = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    with atomic_directory(p, overwrite=True, owned_suffixes=(".gz", ".nii")) as tmp:
        for name, m in arrays.items():
            img = nib.Nifti1Image(_nifti_volume(np.asarray(m)), aff)
            img.header.set_xyzt_units("mm")
            nib.save(img, tmp / f"{name}.nii.gz")
    return sorted(p / f"{name}.nii.gz" for name in arrays)
