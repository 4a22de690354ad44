"""Write raw k-space as ISMRMRD (MRD v1, HDF5) that the official tools accept.

The XML header is built with the ``ismrmrd`` package's schema classes (``ismrmrd.xsd``)
and the acquisitions use its on-disk record type (``ismrmrd.hdf5.acquisition_dtype``).
They are written in one block with :mod:`h5py` rather than one
``ismrmrd.Dataset.append_acquisition`` call per readout: that is much faster for
thousands of readouts and lets us switch off HDF5 object timestamps, so the same k-space
always gives the same bytes (reproducible ``sample_data/``).

What other readers need (and what :func:`write_ismrmrd` therefore always writes):
``idx.kspace_encode_step_1/2``, read/phase/slice direction vectors forming a rotation,
``position``, ``center_sample``, encoding limits with centres in the header, and
``trajectory_dimensions`` with the trajectory. Noise scans are written first.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from recon_engine.data.header import EncodingLimit, MRHeader, parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ExportError, HeaderError, ParameterError
from recon_engine.io._atomic import atomic_file
from recon_engine.io._ismrmrd_acquisitions import acquisition_headers, acquisition_records

__all__ = [
    "GYROMAGNETIC_RATIO_HZ_PER_T",
    "acquisition_headers",
    "encoding_limits",
    "header_xml_from",
    "make_header_xml",
    "write_ismrmrd",
]

#: Proton gyromagnetic ratio γ/2π in Hz/T.
GYROMAGNETIC_RATIO_HZ_PER_T = 42.577478e6

_LimitLike = EncodingLimit | tuple[int, int, int]


def encoding_limits(
    n_k1: int, n_k2: int, k1_range: tuple[int, int] | None = None
) -> dict[str, tuple[int, int, int]]:
    """Encoding limits ``(minimum, maximum, center)`` of a single-contrast acquisition.

    Parameters
    ----------
    n_k1, n_k2
        Number of phase-encoding lines and partitions; the centres are ``n // 2``.
    k1_range
        ``(first, last)`` acquired line; default ``(0, n_k1 - 1)``.

    Returns
    -------
    dict
        ``kspace_encoding_step_1``/``_2`` and every other counter (average, slice, contrast,
        phase, repetition, set, segment) at ``(0, 0, 0)``, for :func:`make_header_xml`.
    """
    first, last = k1_range if k1_range is not None else (0, n_k1 - 1)
    limits = {
        "kspace_encoding_step_1": (first, last, n_k1 // 2),
        "kspace_encoding_step_2": (0, n_k2 - 1, n_k2 // 2),
    }
    limits.update(
        {c: (0, 0, 0) for c in ("average", "slice", "contrast", "phase", "repetition", "set", "segment")}
    )
    return limits


def make_header_xml(
    *,
    encoded_matrix: Sequence[int],
    encoded_fov_mm: Sequence[float],
    recon_matrix: Sequence[int],
    recon_fov_mm: Sequence[float],
    limits: Mapping[str, _LimitLike],
    trajectory: str = "cartesian",
    acceleration: tuple[int, int] = (1, 1),
    calibration_mode: str | None = None,
    receiver_channels: int,
    te_ms: Sequence[float] = (),
    tr_ms: Sequence[float] = (),
    ti_ms: Sequence[float] = (),
    flip_angle_deg: Sequence[float] = (),
    field_strength_t: float | None = None,
    h1_frequency_hz: float | None = None,
    protocol_name: str | None = None,
    system_vendor: str = "napari-mrrecon",
    system_model: str | None = None,
    patient_position: str = "HFS",
) -> str:
    """ISMRMRD XML header of one encoding space, validated by the schema classes.

    Parameters
    ----------
    encoded_matrix, recon_matrix
        ``(x, y, z)`` matrix sizes; the encoded ``x`` includes readout oversampling.
    encoded_fov_mm, recon_fov_mm
        ``(x, y, z)`` fields of view in mm (``z`` is the slice thickness for 2D).
    limits
        Encoding limits by counter name (``"kspace_encoding_step_1"``, ``"slice"``, ...),
        each an :class:`~recon_engine.data.header.EncodingLimit` or
        ``(minimum, maximum, center)``.
    trajectory
        ``"cartesian"``, ``"radial"``, ``"spiral"``, ``"epi"``, ``"goldenangle"``, ``"other"``.
    acceleration
        Parallel-imaging factors ``(R1, R2)``; a ``parallelImaging`` section is written
        when either exceeds 1 or a ``calibration_mode`` is given.
    calibration_mode
        ``"embedded"``, ``"interleaved"``, ``"separate"``, ``"external"``, ``"other"`` or None.
    receiver_channels
        Number of coils.
    te_ms, tr_ms, ti_ms, flip_angle_deg
        Sequence parameters (ms, degrees).
    field_strength_t
        B0 in tesla.
    h1_frequency_hz
        Larmor frequency (required by the schema); defaults to γ·B0, or 3 T when neither
        is given.
    protocol_name, system_vendor, system_model, patient_position
        Descriptive fields; no dates or times are written (reproducible files).

    Returns
    -------
    str
        The XML text.

    Raises
    ------
    ParameterError
        For an unknown trajectory, calibration mode, patient position or counter name.
    """
    from ismrmrd import xsd

    def matrix(m: Sequence[int]) -> xsd.matrixSizeType:
        v = [int(a) for a in m]
        return xsd.matrixSizeType(x=v[0], y=v[1], z=v[2])

    def fov(f: Sequence[float]) -> xsd.fieldOfViewMm:
        v = [float(a) for a in f]
        return xsd.fieldOfViewMm(x=v[0], y=v[1], z=v[2])

    def enum(kind: type[Enum], value: str, what: str) -> Any:
        try:
            return kind(value)
        except ValueError:
            options = [e.value for e in kind]
            raise ParameterError(f"unknown {what} {value!r}; choose one of {options}") from None

    enc_limits = xsd.encodingLimitsType()
    for name, lim in limits.items():
        if not hasattr(enc_limits, name):
            raise ParameterError(f"unknown encoding counter {name!r} in limits")
        lo, hi, c = (lim.minimum, lim.maximum, lim.center) if isinstance(lim, EncodingLimit) else lim
        setattr(enc_limits, name, xsd.limitType(minimum=int(lo), maximum=int(hi), center=int(c)))
    encoding = xsd.encodingType(
        encodedSpace=xsd.encodingSpaceType(
            matrixSize=matrix(encoded_matrix), fieldOfView_mm=fov(encoded_fov_mm)
        ),
        reconSpace=xsd.encodingSpaceType(matrixSize=matrix(recon_matrix), fieldOfView_mm=fov(recon_fov_mm)),
        encodingLimits=enc_limits,
        trajectory=enum(xsd.trajectoryType, trajectory.lower(), "trajectory"),
    )
    if max(acceleration) > 1 or calibration_mode is not None:
        encoding.parallelImaging = xsd.parallelImagingType(
            accelerationFactor=xsd.accelerationFactorType(
                kspace_encoding_step_1=int(acceleration[0]), kspace_encoding_step_2=int(acceleration[1])
            ),
            calibrationMode=None
            if calibration_mode is None
            else enum(xsd.calibrationModeType, calibration_mode, "calibration mode"),
        )
    if h1_frequency_hz is None:
        h1_frequency_hz = GYROMAGNETIC_RATIO_HZ_PER_T * (
            3.0 if field_strength_t is None else field_strength_t
        )
    # no <version>: the C++ library rejects any version but its own schema's
    header = xsd.ismrmrdHeader(
        measurementInformation=xsd.measurementInformationType(
            patientPosition=enum(xsd.patientPositionType, patient_position, "patient position"),
            protocolName=protocol_name,
        ),
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(
            systemVendor=system_vendor,
            systemModel=system_model,
            systemFieldStrength_T=field_strength_t,
            receiverChannels=int(receiver_channels),
        ),
        experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=round(h1_frequency_hz)),
        encoding=[encoding],
        sequenceParameters=xsd.sequenceParametersType(
            TR=[float(v) for v in tr_ms],
            TE=[float(v) for v in te_ms],
            TI=[float(v) for v in ti_ms],
            flipAngle_deg=[float(v) for v in flip_angle_deg],
        ),
    )
    return str(xsd.ToXML(header, encoding="utf-8"))


def _limits_from_mask(kspace: KSpace) -> dict[str, EncodingLimit]:
    mask = kspace.sampling_mask.detach().cpu().numpy().astype(bool)
    n2, n1 = mask.shape[-2:]
    lines = mask.reshape(-1, n2, n1).any(axis=0)
    k2, k1 = np.nonzero(lines)
    out = {
        "kspace_encoding_step_1": EncodingLimit(int(k1.min()), int(k1.max()), n1 // 2),
        "kspace_encoding_step_2": EncodingLimit(int(k2.min()), int(k2.max()), n2 // 2),
    }
    for name, size in zip(kspace.other_axes, kspace.data.shape[: len(kspace.other_axes)], strict=True):
        out[name] = EncodingLimit(0, int(size) - 1, int(size) // 2)
    return out


def _header_xml(kspace: KSpace) -> str:
    """The KSpace's own XML when it still describes the data, else a rebuilt header."""
    c = kspace.n_coils
    n2, n1, n0 = (int(s) for s in kspace.data.shape[-3:])
    h = kspace.header
    ex, ey, ez = h.encoded_matrix
    # the reader makes k0 = max(matrix x, samples): non-Cartesian readouts may be longer
    same_size = (ey, ez) == (n1, n2) and (ex == n0 or (not h.is_cartesian and ex < n0))
    if h.xml.strip() and same_size:
        xml = h.xml
        if h.receiver_channels is not None and h.receiver_channels != c:
            xml = re.sub(r"(<(?:\w+:)?receiverChannels>)\s*\d+\s*(</)", rf"\g<1>{c}\g<2>", xml, count=1)
        return xml
    return header_xml_from(
        h,
        encoded_matrix=(n0, n1, n2),
        encoded_fov_mm=kspace.geometry.fov_mm,
        limits=_limits_from_mask(kspace),
        receiver_channels=c,
    )


def header_xml_from(header: MRHeader, **overrides: Any) -> str:
    """A fresh header XML (:func:`make_header_xml`) from an :class:`MRHeader`.

    Parameters
    ----------
    header
        Fields to carry over (matrices, FOVs, limits, trajectory, acceleration,
        sequence parameters, ...).
    **overrides
        :func:`make_header_xml` keywords that replace the header's values.
    """
    fields: dict[str, Any] = {
        "encoded_matrix": header.encoded_matrix,
        "encoded_fov_mm": header.encoded_fov_mm,
        "recon_matrix": header.recon_matrix,
        "recon_fov_mm": header.recon_fov_mm,
        "limits": header.limits,
        "trajectory": header.trajectory,
        "acceleration": header.acceleration,
        "calibration_mode": header.calibration_mode,
        "receiver_channels": header.receiver_channels,
        "te_ms": header.te_ms,
        "tr_ms": header.tr_ms,
        "ti_ms": header.ti_ms,
        "flip_angle_deg": header.flip_angle_deg,
        "field_strength_t": header.field_strength_t,
        "h1_frequency_hz": header.h1_frequency_hz,
        "protocol_name": header.protocol_name,
    }
    fields.update(overrides)
    return make_header_xml(**fields)


def _write_h5(path: Path, xml: str, records: np.ndarray) -> None:
    with h5py.File(path, "w", track_order=False) as f:
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        h5py.h5g.create(f.id, b"dataset", gcpl=gcpl)
        g = f["dataset"]
        g.create_dataset(
            "xml",
            data=np.array([xml.encode("utf-8")], dtype=object),
            dtype=h5py.special_dtype(vlen=bytes),
            track_times=False,
        )
        g.create_dataset("data", data=records, maxshape=(None,), chunks=True, track_times=False)


def write_ismrmrd(kspace: KSpace, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write k-space to an ISMRMRD HDF5 file (group ``dataset``).

    The file holds, in this order unless ``kspace.acquisitions`` gives the original
    order: the noise scans (``kspace.noise`` split into readouts, flagged
    ``ACQ_IS_NOISE_MEASUREMENT``), navigators, and one acquisition per sampled line of
    ``kspace.sampling_mask``. Flags, time stamps and user fields of matching lines in
    ``kspace.acquisitions`` are kept; counters, direction vectors (from
    ``kspace.geometry``), ``center_sample`` and the trajectory are always rewritten.
    Readouts flagged ``ACQ_IS_REVERSE`` are stored reversed, as a scanner records them.

    Parameters
    ----------
    kspace
        Raw data ``(*other, coils, k2, k1, k0)``.
    path
        Output ``.h5``/``.mrd`` file; written to a temporary file beside it and renamed.
    overwrite
        Replace an existing file.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ExportError
        If the directory is missing, the file exists and ``overwrite`` is False, the
        k-space has no sampled line, or HDF5 fails to write.
    """
    try:
        xml = _header_xml(kspace)
        with warnings.catch_warnings():  # the reader already warned about odd units
            warnings.simplefilter("ignore")
            header = parse_header(xml)
    except (HeaderError, ParameterError) as exc:
        raise ExportError(f"cannot write an ISMRMRD header for this k-space: {exc}") from exc
    records = acquisition_records(kspace, header)
    with atomic_file(path, overwrite=overwrite) as tmp:
        try:
            _write_h5(tmp, xml, records)
        except (OSError, ValueError, TypeError) as exc:
            raise ExportError(f"writing ISMRMRD file {path} failed: {exc}") from exc
    return Path(path).expanduser().absolute()
