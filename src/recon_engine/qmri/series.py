"""Image series for quantitative MRI: images along a contrast axis plus their times.

Axis order: contrast first, ``(n, y, x)`` or ``(n, z, y, x)``. Times (TI, TE, saturation
delay) and TR in **ms**, flip angles in **degrees**. Explicit arguments always override
what a file says.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recon_engine.errors import DataError, FileFormatError, ParameterError

if TYPE_CHECKING:
    from recon_engine.data.image import ImageData

__all__ = ["QMRISeries", "load_series", "series_from_image"]

TimesLike = Sequence[float] | np.ndarray | None


@dataclass
class QMRISeries:
    """A multi-contrast image series and what is known of its sampling.

    Attributes
    ----------
    data
        ``(n, [z,] y, x)`` float32 or complex64 images, contrast axis first.
    times
        ``(n,)`` TI / TE / saturation delay in ms, or None if unknown.
    flip_angles
        ``(n,)`` flip angles in degrees (VFA, MRF schedule) or None.
    tr
        Repetition time in ms or None.
    affine
        ``(4, 4)`` voxel ``(x, y, z)`` → RAS (mm) affine for NIfTI output, or None.
    source
        Path or description.
    """

    data: np.ndarray
    times: np.ndarray | None = None
    flip_angles: np.ndarray | None = None
    tr: float | None = None
    affine: np.ndarray | None = None
    source: str = ""

    @property
    def n(self) -> int:
        """Number of contrasts (images along the first axis)."""
        return int(self.data.shape[0])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """``(y, x)`` or ``(z, y, x)``."""
        return tuple(int(s) for s in self.data.shape[1:])


def as_values(values: TimesLike | str, name: str) -> np.ndarray | None:
    """Parse times/flip angles (a sequence, an array or ``"50,100,200"``) into float64 ``(n,)``.

    Raises
    ------
    ParameterError
        If the text is not a comma-separated list of numbers.
    """
    if values is None:
        return None
    if isinstance(values, str):
        try:
            values = [float(v) for v in values.replace(";", ",").split(",") if v.strip()]
        except ValueError as exc:
            raise ParameterError(f"{name} must be comma-separated numbers, got {values!r}") from exc
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    return arr


def _as_series_array(data: np.ndarray, source: str) -> np.ndarray:
    if data.ndim not in (3, 4):
        raise DataError(
            f"{source}: a qMRI series must be (n, y, x) or (n, z, y, x) with the contrast axis first, "
            f"got shape {data.shape}"
        )
    if np.iscomplexobj(data):
        return np.ascontiguousarray(data, dtype=np.complex64)
    if not np.issubdtype(data.dtype, np.number):
        raise DataError(f"{source}: images of type {data.dtype} are not numeric")
    return np.ascontiguousarray(data, dtype=np.float32)


def _read_npy(p: Path) -> np.ndarray:
    from recon_engine.io.npy import read_npy

    return read_npy(p)


def _read_nifti(p: Path) -> tuple[np.ndarray, np.ndarray]:
    from recon_engine.io.nifti import read_nifti

    data, affine = read_nifti(p)
    if data.ndim != 4:
        raise DataError(f"{p}: a NIfTI qMRI series needs a 4th (contrast) axis, got shape {data.shape}")
    vol = np.transpose(data, (3, 2, 1, 0))  # (x, y, z, t) -> (t, z, y, x)
    if vol.shape[1] == 1:
        vol = vol[:, 0]
    return vol, affine


def _overridden(
    data: np.ndarray,
    meta: dict[str, object],
    times: TimesLike | str,
    flip_angles: TimesLike | str,
    tr: float | None,
    *,
    affine: np.ndarray | None,
    source: str,
) -> QMRISeries:
    """A series with the file's ``times``/``flip_angles``/``tr`` (``meta``) unless the user gave them."""
    t = as_values(times, "times")
    fa = as_values(flip_angles, "flip angles")
    return QMRISeries(
        data=data,
        times=t if t is not None else meta.get("times"),  # type: ignore[arg-type]
        flip_angles=fa if fa is not None else meta.get("flip_angles"),  # type: ignore[arg-type]
        tr=float(tr) if tr is not None else meta.get("tr"),  # type: ignore[arg-type]
        affine=affine,
        source=source,
    )


def load_series(
    path: str | os.PathLike[str],
    *,
    times: TimesLike | str = None,
    flip_angles: TimesLike | str = None,
    tr: float | None = None,
) -> QMRISeries:
    """Read a multi-contrast image series for fitting.

    Parameters
    ----------
    path
        ``.npy`` ``(n, [z,] y, x)``; NIfTI ``.nii``/``.nii.gz`` (4th axis = contrast);
        a DICOM directory (times from ``InversionTime``/``EchoTime``/``FlipAngle``/
        ``RepetitionTime``); an ISMRMRD image or raw file (times from the header's TI/TE/
        flip-angle lists or user parameters; raw data are reconstructed with the default
        direct reconstruction).
    times
        ``(n,)`` TI/TE/saturation delays in ms (overrides the file).
    flip_angles
        ``(n,)`` flip angles in degrees (overrides the file).
    tr
        Repetition time in ms (overrides the file).

    Returns
    -------
    QMRISeries

    Raises
    ------
    FileFormatError
        Missing or unreadable file, unknown format.
    DataError
        Wrong number of dimensions.
    """
    p = Path(path)
    name = p.name.lower()
    meta: dict[str, object] = {}
    affine = None
    if p.is_dir():
        from recon_engine.qmri._series_readers import read_dicom_qmri

        data, meta = read_dicom_qmri(p)
    elif not p.exists():
        raise FileFormatError(f"{p} does not exist")
    elif name.endswith(".npy"):
        data = _read_npy(p)
    elif name.endswith((".nii", ".nii.gz")):
        data, affine = _read_nifti(p)
    elif name.endswith((".h5", ".mrd", ".ismrmrd", ".dat")):
        from recon_engine.qmri._series_readers import read_mrd_qmri

        data, meta = read_mrd_qmri(p)
    else:
        raise FileFormatError(
            f"{p}: unknown series format; use .npy, .nii/.nii.gz, a DICOM directory "
            "or an ISMRMRD .h5/.mrd file"
        )
    arr = _as_series_array(np.asarray(data), str(p))
    if affine is None:
        affine = meta.get("affine")  # type: ignore[assignment]
    return _overridden(arr, meta, times, flip_angles, tr, affine=affine, source=str(p))


def series_from_image(
    image: ImageData,
    *,
    times: TimesLike | str = None,
    flip_angles: TimesLike | str = None,
    tr: float | None = None,
) -> QMRISeries:
    """A multi-contrast reconstruction result as a qMRI series.

    Parameters
    ----------
    image
        ``(*other, 1, z, y, x)`` with one ``other`` axis (``"contrast"``, ``"set"``,
        ``"repetition"`` …) holding the contrasts; coils must be combined (``coils == 1``).
    times, flip_angles, tr
        Override what the image's ISMRMRD header says (ms, degrees, ms).

    Returns
    -------
    QMRISeries
        ``data`` complex64 ``(n, [z,] y, x)``.
    """
    from recon_engine.qmri._series_readers import header_times, image_to_series_array

    data = image_to_series_array(image)
    meta = header_times(image.header, data.shape[0]) if image.header is not None else {}
    source = str(image.meta.get("source", "reconstruction"))
    return _overridden(data, meta, times, flip_angles, tr, affine=None, source=source)
