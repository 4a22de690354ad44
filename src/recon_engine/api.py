"""Top-level functions for scripts: read, info, reconstruct, save."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from recon_engine.calibration.coil_compression import CompressionMethod
from recon_engine.calibration.preprocess import (
    PartialFourierMethod,
    check_preprocessing,
    preprocess_steps,
    split_preprocessing,
)
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import KSpace
from recon_engine.data.readouts import Readouts
from recon_engine.device import DeviceLike
from recon_engine.errors import FileFormatError, ParameterError
from recon_engine.io.ismrmrd_read import RawInfo, read_ismrmrd_info, read_ismrmrd_readouts
from recon_engine.io.sorting import TrajectoryUnits, sort_readouts
from recon_engine.progress import ProgressCallback, Steps, run
from recon_engine.reconstructions import METHODS

__all__ = [
    "RAW_SUFFIXES",
    "info",
    "info_dict",
    "raw_format",
    "read",
    "read_readouts",
    "reconstruct",
    "reconstruct_steps",
    "save",
]


RAW_SUFFIXES: dict[str, str] = {".h5": "ismrmrd", ".mrd": "ismrmrd", ".hdf5": "ismrmrd", ".dat": "twix"}


def raw_format(path: str | os.PathLike[str]) -> str:
    """``"ismrmrd"`` or ``"twix"``, from the extension, else from the file's content.

    Raises
    ------
    FileFormatError
        Missing file, or neither ISMRMRD nor Siemens twix.
    """
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    kind = RAW_SUFFIXES.get(p.suffix.lower())
    if kind is not None:
        return kind
    from recon_engine.io.ismrmrd_read import is_ismrmrd
    from recon_engine.io.twix import is_twix

    if is_ismrmrd(p):
        return "ismrmrd"
    if is_twix(p):
        return "twix"
    raise FileFormatError(
        f"{p}: not a raw data format this engine reads (ISMRMRD .h5/.mrd, Siemens twix .dat)"
    )


def read_readouts(path: str | os.PathLike[str], *, seq: str | os.PathLike[str] | None = None) -> Readouts:
    """Read raw data in acquisition order (ISMRMRD or twix), with a Pulseq ``.seq`` applied.

    Parameters
    ----------
    path
        ISMRMRD (``.h5``/``.mrd``) or Siemens twix (``.dat``) raw data.
    seq
        Pulseq sequence that produced the data: its ADC events give the trajectory,
        counters (labels) and reversed readouts.

    Returns
    -------
    Readouts
    """
    if raw_format(path) == "twix":
        from recon_engine.io.twix import read_twix_readouts

        readouts = read_twix_readouts(path)
    else:
        readouts = read_ismrmrd_readouts(path)
    if seq is not None:
        from recon_engine.io.pulseq import attach_sequence, read_seq

        readouts = attach_sequence(readouts, read_seq(seq))
    return readouts


def read(
    path: str | os.PathLike[str],
    *,
    seq: str | os.PathLike[str] | None = None,
    encoding: int = 0,
    trajectory_units: TrajectoryUnits = "auto",
) -> KSpace:
    """Read raw data into sorted k-space.

    Parameters
    ----------
    path
        ISMRMRD (``.h5``/``.mrd``) or Siemens twix (``.dat``) raw data.
    seq
        Optional Pulseq ``.seq`` that produced the data (trajectory, labels, reversed
        readouts come from it; the numbers of ADCs and samples must match the data).
    encoding
        ISMRMRD encoding space to read.
    trajectory_units
        Unit of an embedded ISMRMRD trajectory (``"auto"`` detects it).

    Returns
    -------
    KSpace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``; ``trajectory`` in cycles per
        recon FOV when the data is non-Cartesian.
    """
    return sort_readouts(read_readouts(path, seq=seq), encoding=encoding, trajectory_units=trajectory_units)


def reconstruct_steps(
    kspace: KSpace,
    *,
    method: str = "direct",
    device: DeviceLike = "auto",
    partial_fourier: PartialFourierMethod = "zero-fill",
    coil_compression: int = 0,
    compression_method: CompressionMethod = "svd",
    **options: Any,
) -> Steps[ImageData]:
    """Reconstruction as a generator of :class:`~recon_engine.progress.ProgressEvent`.

    Parameters
    ----------
    kspace
        Sorted raw data ``(*other, coils, k2, k1, k0)``.
    method
        Name in :data:`recon_engine.reconstructions.METHODS` (``"direct"``).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    partial_fourier
        Preprocessing for every method: ``"zero-fill"`` (nothing done), ``"pocs"`` or
        ``"homodyne"`` (:mod:`recon_engine.calibration.preprocess`).
    coil_compression
        Preprocessing: number of virtual coils (0 keeps all coils).
    compression_method
        ``"svd"`` or ``"geometric"`` (Cartesian only).
    **options
        Method options, e.g. ``combine="adaptive"`` for ``"direct"``.

    Returns
    -------
    ImageData
        As the generator's return value. With preprocessing, ``meta["preprocess"]`` holds the
        ``"options"`` given and the ``"partial_fourier"`` / ``"coil_compression"`` records of
        what was done.

    Raises
    ------
    ParameterError
        Unknown method or impossible preprocessing options (raised by the call itself).
    """
    try:
        fn = METHODS[method]
    except KeyError:
        raise ParameterError(
            f"unknown reconstruction method {method!r}; choose one of {sorted(METHODS)}"
        ) from None
    prep: dict[str, Any] = {
        "partial_fourier": partial_fourier,
        "coil_compression": coil_compression,
        "compression_method": compression_method,
    }
    check_preprocessing(**prep)
    asked, _ = split_preprocessing(prep)
    if not asked:
        return fn(kspace, device=device, **options)
    return _preprocessed_steps(kspace, fn, asked, device, options)


def _preprocessed_steps(
    kspace: KSpace,
    fn: Any,
    prep: dict[str, Any],
    device: DeviceLike,
    options: dict[str, Any],
) -> Steps[ImageData]:
    whiten = bool(options.get("prewhitening", True))
    ready = yield from preprocess_steps(kspace, device=device, prewhitening=whiten, **prep)
    image: ImageData = yield from fn(ready, device=device, **options)
    record: dict[str, object] = {"options": dict(prep)}
    record.update({k: ready.meta[k] for k in ("partial_fourier", "coil_compression") if k in ready.meta})
    image.meta["preprocess"] = record
    return image


def reconstruct(
    kspace: KSpace,
    *,
    method: str = "direct",
    device: DeviceLike = "auto",
    progress: ProgressCallback | None = None,
    **options: Any,
) -> ImageData:
    """Reconstruct and return the image (progress events go to ``progress`` if given).

    Parameters
    ----------
    kspace
        Sorted raw data ``(*other, coils, k2, k1, k0)``.
    method
        Reconstruction method (``"direct"``).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress
        Optional callable receiving every :class:`ProgressEvent`.
    **options
        Method options (``combine="rss"|"adaptive"|"none"``, ``prewhitening``, ...).

    Returns
    -------
    ImageData
        complex64 ``(*other, 1, z, y, x)``.
    """
    return run(reconstruct_steps(kspace, method=method, device=device, **options), progress)


def save(image: ImageData, path: str | os.PathLike[str], *, phase: bool = False) -> list[Path]:
    """Write an image by extension: ``.npy``, ``.nii``/``.nii.gz``, ``.h5`` (ISMRMRD), or a DICOM directory.

    Returns
    -------
    list of Path
        The files written.
    """
    from recon_engine.io.export import save as _save

    return _save(image, path, phase=phase)


def _effective_acceleration(raw: RawInfo) -> float:
    acq = raw.acquisitions
    sel = acq.is_imaging & (np.asarray(acq.headers["encoding_space_ref"]) == 0)
    if not sel.any():
        return float("nan")
    first = np.ones(int(sel.sum()), dtype=bool)
    for c in ("slice", "contrast", "repetition", "phase", "set", "average"):
        first &= acq.counter(c)[sel] == 0
    lines = {
        (int(a), int(b))
        for a, b in zip(
            acq.counter("kspace_encode_step_1")[sel][first],
            acq.counter("kspace_encode_step_2")[sel][first],
            strict=True,
        )
    }
    m = raw.header.encoded_matrix
    return float(m[1] * m[2]) / max(len(lines), 1)


def info_dict(raw: RawInfo) -> dict[str, Any]:
    """Summary of a raw file for display and ``mrrecon info --json``."""
    h = raw.header
    imaging = np.flatnonzero(raw.acquisitions.is_imaging)
    g_pos = (
        raw.acquisitions.headers["position"][imaging]
        if imaging.size
        else raw.acquisitions.headers["position"]
    )
    return {
        "file": str(raw.path),
        "format": "ISMRMRD",
        "encoded_matrix": list(h.encoded_matrix),
        "recon_matrix": list(h.recon_matrix),
        "encoded_fov_mm": [round(v, 3) for v in h.encoded_fov_mm],
        "recon_fov_mm": [round(v, 3) for v in h.recon_fov_mm],
        "readout_oversampling": round(h.readout_oversampling, 3),
        "coils": raw.n_coils,
        "trajectory": h.trajectory,
        "acceleration_nominal": list(h.acceleration),
        "acceleration_effective": round(_effective_acceleration(raw), 3),
        "acquisitions": len(raw.acquisitions),
        "acquisitions_by_kind": raw.acquisitions.kind_counts(),
        "acquisitions_by_flag": raw.acquisitions.flag_counts(),
        "te_ms": list(h.te_ms),
        "tr_ms": list(h.tr_ms),
        "ti_ms": list(h.ti_ms),
        "flip_angle_deg": list(h.flip_angle_deg),
        "field_strength_t": h.field_strength_t,
        "position_mm": [round(float(v), 3) for v in (g_pos[0] if len(g_pos) else np.zeros(3))],
        "protocol": h.protocol_name,
        "system": h.system,
    }


def info(path: str | os.PathLike[str], *, seq: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Metadata summary of a raw file (ISMRMRD or twix); without ``seq`` no samples are read.

    Keys: ``format``, ``encoded_matrix``, ``recon_matrix`` (x, y, z), ``encoded_fov_mm``,
    ``recon_fov_mm``, ``coils``, ``trajectory``, ``acceleration_nominal`` (R1, R2),
    ``acceleration_effective``, ``acquisitions_by_kind``, ``acquisitions_by_flag``,
    ``te_ms``, ``tr_ms``, ``ti_ms``, ``flip_angle_deg``, ...; with ``seq`` also
    ``sequence`` (version, blocks, duration, ADC events) and the matrix, FOV and
    trajectory type that the sequence gives the data.
    """
    kind = raw_format(path)
    if seq is None:
        if kind == "twix":
            from recon_engine.io.twix import read_twix_info

            raw = read_twix_info(path)
        else:
            raw = read_ismrmrd_info(path)
        d = info_dict(raw)
    else:
        from recon_engine.io.pulseq import read_seq

        r = read_readouts(path, seq=seq)
        d = info_dict(RawInfo(path=Path(path), group="", header=r.header, acquisitions=r.acquisitions))
        s = read_seq(seq)
        d["sequence"] = {
            "file": str(seq),
            "version": ".".join(str(v) for v in s.version),
            "blocks": s.n_blocks,
            "duration_s": round(float(s.duration_s), 4),
            "adc_events": len(s.adc_events().start_s),
        }
    d["format"] = "Siemens twix" if kind == "twix" else "ISMRMRD"
    return d
