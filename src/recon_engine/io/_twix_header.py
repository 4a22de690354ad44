"""Siemens twix measurement headers (mdh) and protocol → ISMRMRD headers.

Helpers of :mod:`recon_engine.io.twix`; they take what ``twixtools`` parsed (the mdh
of every readout and the protocol dictionaries ``MeasYaps``, ``Meas``, ``Dicom``,
``Config``) and never touch the file.

Conventions follow ``siemens_to_ismrmrd`` (ISMRMRD project): counters
Lin/Par/Sli/Ave/Eco/Phs/Rep/Set/Seg → ``kspace_encode_step_1/2``, ``slice``,
``average``, ``contrast``, ``phase``, ``repetition``, ``set``, ``segment``; the slice
position ``(Sag, Cor, Tra)`` is the FOV centre in patient coordinates (LPS, mm); the
mdh quaternion ``(W, X, Y, Z)`` is a rotation whose matrix columns are the phase,
read and slice directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recon_engine.data.flags import flag_mask
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype
from recon_engine.io.ismrmrd_write import make_header_xml

__all__ = ["TWIX_TO_ISMRMRD_FLAGS", "ScanStats", "acquisition_headers", "number", "protocol_header", "value"]

#: twix EvalInfoMask names → ISMRMRD acquisition flags.
TWIX_TO_ISMRMRD_FLAGS: dict[str, tuple[str, ...]] = {
    "NOISEADJSCAN": ("ACQ_IS_NOISE_MEASUREMENT",),
    "PATREFSCAN": ("ACQ_IS_PARALLEL_CALIBRATION",),
    "PATREFANDIMASCAN": ("ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING",),
    "REFLECT": ("ACQ_IS_REVERSE",),
    "PHASCOR": ("ACQ_IS_PHASECORR_DATA",),
    "RTFEEDBACK": ("ACQ_IS_RTFEEDBACK_DATA",),
    "HPFEEDBACK": ("ACQ_IS_HPFEEDBACK_DATA",),
    "RETRO_DUMMYSCAN": ("ACQ_IS_DUMMYSCAN_DATA",),
    "REFPHASESTABSCAN": ("ACQ_IS_PHASE_STABILIZATION_REFERENCE",),
    "PHASESTABSCAN": ("ACQ_IS_PHASE_STABILIZATION",),
    "FIRSTSCANINSLICE": ("ACQ_FIRST_IN_SLICE",),
    "LASTSCANINSLICE": ("ACQ_LAST_IN_SLICE",),
    "LASTSCANINMEAS": ("ACQ_LAST_IN_MEASUREMENT",),
}

_COUNTERS = (
    ("kspace_encode_step_1", "Lin"),
    ("kspace_encode_step_2", "Par"),
    ("average", "Ave"),
    ("slice", "Sli"),
    ("contrast", "Eco"),
    ("phase", "Phs"),
    ("repetition", "Rep"),
    ("set", "Set"),
    ("segment", "Seg"),
)
_LIMIT_NAMES = {
    "kspace_encode_step_1": "kspace_encoding_step_1",
    "kspace_encode_step_2": "kspace_encoding_step_2",
}
_PATIENT_POSITIONS = ("HFP", "HFS", "HFDR", "HFDL", "FFP", "FFS", "FFDR", "FFDL")


def value(tree: Any, *keys: str | int, default: Any = None) -> Any:
    """Nested look-up in twixtools' protocol dicts/lists; ``default`` when any key is missing."""
    node = tree
    for k in keys:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return default
    return default if node is None or node == "" else node


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def number(tree: Any, *keys: str | int, default: float = 0.0) -> float:
    """A protocol value as a finite number; ``default`` when it is missing, text, NaN or infinite."""
    x = _number(value(tree, *keys))
    return default if x is None else x


def _first_number(hdr: dict[str, Any], *paths: Sequence[str | int]) -> float | None:
    for p in paths:
        x = _number(value(hdr, *p))
        if x is not None:
            return x
    return None


def _directions(quat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Siemens quaternion ``(W, X, Y, Z)`` → read, phase, slice unit vectors (LPS)."""
    w, a, b, c = (float(q) for q in quat)
    col0 = np.array([1 - 2 * (b * b + c * c), 2 * (a * b + c * w), 2 * (a * c - b * w)])
    col1 = np.array([2 * (a * b - c * w), 1 - 2 * (a * a + c * c), 2 * (b * c + a * w)])
    col2 = np.array([2 * (a * c + b * w), 2 * (b * c - a * w), 1 - 2 * (a * a + b * b)])
    return col1, col0, col2  # matrix columns are (phase, read, slice)


def acquisition_headers(mdbs: Sequence[Any], *, sample_time_us: float, available_channels: int) -> np.ndarray:
    """One ISMRMRD ``AcquisitionHeader`` per twix readout.

    Parameters
    ----------
    mdbs
        ``twixtools`` measurement data blocks (not ACQEND/SYNCDATA).
    sample_time_us
        Dwell time of the readouts (µs).
    available_channels
        Number of receive channels of the measurement.

    Returns
    -------
    np.ndarray
        ``(len(mdbs),)`` structured array of ``ismrmrd.hdf5.acquisition_header_dtype``.
    """
    out = np.zeros(len(mdbs), dtype=acquisition_header_dtype())
    for i, m in enumerate(mdbs):
        h, mdh = out[i], m.mdh
        active = set(m.get_active_flags())
        flags = 0
        for name, targets in TWIX_TO_ISMRMRD_FLAGS.items():
            if name in active:
                flags |= flag_mask(*targets)
        if "PATREFANDIMASCAN" in active:
            flags &= ~flag_mask("ACQ_IS_PARALLEL_CALIBRATION")
        h["version"] = 1
        h["flags"] = flags
        h["measurement_uid"] = np.uint32(mdh.MeasUID & 0xFFFFFFFF)
        h["scan_counter"] = mdh.ScanCounter
        h["acquisition_time_stamp"] = mdh.TimeStamp
        h["physiology_time_stamp"][0] = mdh.PMUTimeStamp
        ch = int(mdh.UsedChannels)
        h["number_of_samples"] = mdh.SamplesInScan
        h["available_channels"] = max(available_channels, ch)
        h["active_channels"] = ch
        for c in range(min(ch, 1024)):
            h["channel_mask"][c // 64] |= np.uint64(1) << np.uint64(c % 64)
        h["discard_pre"] = mdh.CutOff.Pre
        h["discard_post"] = mdh.CutOff.Post
        h["center_sample"] = mdh.CenterCol
        h["sample_time_us"] = sample_time_us
        pos = mdh.SliceData.SlicePos
        h["position"] = (pos.Sag, pos.Cor, pos.Tra)
        read, phase, slc = _directions(np.asarray(mdh.SliceData.Quaternion))
        h["read_dir"], h["phase_dir"], h["slice_dir"] = read, phase, slc
        if hasattr(mdh, "PTABPosX"):  # VD/VE only
            h["patient_table_position"] = (mdh.PTABPosX, mdh.PTABPosY, mdh.PTABPosZ)
        for ours, theirs in _COUNTERS:
            h["idx"][ours] = getattr(mdh.Counter, theirs)
        h["idx"]["user"][:7] = (
            mdh.Counter.Ida,
            mdh.Counter.Idb,
            mdh.Counter.Idc,
            mdh.Counter.Idd,
            mdh.Counter.Ide,
            mdh.CenterLin,
            mdh.CenterPar,
        )
        ice = np.zeros(16)
        para = np.asarray(mdh.IceProgramPara)[:16]  # VB has 4, VD/VE 24
        ice[: para.size] = para
        h["user_int"][:] = ice[:8]
        h["user_float"][:] = ice[8:]
    return out


@dataclass(frozen=True)
class ScanStats:
    """What the imaging readouts of a measurement show (used where the protocol is silent).

    Attributes
    ----------
    samples
        Largest number of samples per readout.
    channels
        Receive channels.
    counter_max
        Largest value of each ISMRMRD counter (``kspace_encode_step_1``, ``slice``, ...).
    counter_min
        Smallest value of each counter.
    centre_line, centre_partition
        Most common ``CenterLin`` / ``CenterPar`` of the mdh.
    calibration
        ``"embedded"`` when PAT reference lines are also image lines, ``"separate"``
        when they are not, None without reference lines.
    """

    samples: int
    channels: int
    counter_max: dict[str, int] = field(default_factory=dict)
    counter_min: dict[str, int] = field(default_factory=dict)
    centre_line: int = 0
    centre_partition: int = 0
    calibration: str | None = None


def _matrix_x(
    hdr: dict[str, Any], stats: ScanStats, pulseq: bool, notes: dict[str, Any]
) -> tuple[int, int, float, float]:
    """Encoded x (samples), recon x, encoded and recon FOV x (mm)."""
    base = _first_number(hdr, ("MeasYaps", "sKSpace", "lBaseResolution"), ("Meas", "lBaseResolution"))
    os_factor = _first_number(hdr, ("Meas", "flReadoutOSFactor"), ("Config", "ReadoutOSFactor")) or 2.0
    fov = _number(value(hdr, "MeasYaps", "sSliceArray", "asSlice", 0, "dReadoutFOV"))
    if fov is None or fov <= 0:
        fov = 0.0
        notes["readout_fov"] = "missing in the protocol; FOV set to 0"
    ns = stats.samples
    if not pulseq and base and base > 0 and base * os_factor / 2 <= ns <= round(base * os_factor):
        return round(base * os_factor), int(base), os_factor * fov, fov
    # the Pulseq interpreter (and some research sequences) sample what the sequence asks for
    why = "Pulseq-driven" if pulseq else f"protocol: base resolution {base}, oversampling {os_factor:g}"
    notes["readout"] = f"{ns} samples per readout ({why}): encoded and recon x = {ns}, no oversampling"
    return ns, ns, fov, fov


def _phase_axis(
    lines: float | None, stats: ScanStats, counter: str, centre: int, what: str, notes: dict[str, Any]
) -> tuple[int, tuple[int, int, int]]:
    """Size and limits ``(min, max, centre)`` of a phase-encoding axis; ``lines`` None = from the data."""
    lo, hi = stats.counter_min.get(counter, 0), stats.counter_max.get(counter, 0)
    n = round(lines) if lines and lines >= 1 else hi + 1
    if lines is not None and hi + 1 > n:
        notes[what] = f"counters reach {hi} but the protocol has {n}; using {hi + 1} from the data"
        n = hi + 1
    if not lo < centre <= hi:  # a centre the counters do not straddle is a default value
        centre = n // 2
    return n, (0, n - 1, centre)


def protocol_header(hdr: dict[str, Any], stats: ScanStats, *, pulseq: bool) -> tuple[str, dict[str, Any]]:
    """ISMRMRD XML header of a twix measurement from its protocol.

    Readout oversampling: twix stores the oversampled readout, so the encoded matrix
    ``x`` is the number of samples and the encoded FOV ``x`` is oversampling × readout
    FOV; the recon matrix ``x`` is the base resolution. Values the protocol lacks or that
    the data contradicts (Pulseq-driven files keep most protocol defaults) come from the
    readouts and are recorded in the returned notes.

    Parameters
    ----------
    hdr
        ``twixtools`` protocol: ``{"MeasYaps": ..., "Meas": ..., "Dicom": ..., ...}``.
    stats
        What the imaging readouts show.
    pulseq
        True for a Pulseq-driven measurement: TE/TR/TI/flip angle of its protocol are
        interpreter defaults and are left out.

    Returns
    -------
    xml, notes
        The header text and ``{field: what was assumed}``.
    """
    notes: dict[str, Any] = {}
    enc_x, rec_x, enc_fov_x, rec_fov_x = _matrix_x(hdr, stats, pulseq, notes)
    fov_y = _number(value(hdr, "MeasYaps", "sSliceArray", "asSlice", 0, "dPhaseFOV")) or rec_fov_x
    thick = _number(value(hdr, "MeasYaps", "sSliceArray", "asSlice", 0, "dThickness")) or 0.0
    ph_os = _first_number(hdr, ("Meas", "flPhaseOS"), ("MeasYaps", "sKSpace", "dPhaseOversamplingForDialog"))
    lines = _first_number(hdr, ("Meas", "iPEFTLength"), ("MeasYaps", "sKSpace", "lPhaseEncodingLines"))
    is_3d = _number(value(hdr, "MeasYaps", "sKSpace", "ucDimension")) == 4
    parts = _first_number(hdr, ("Meas", "i3DFTLength"), ("MeasYaps", "sKSpace", "lPartitions"))
    if pulseq:  # the interpreter numbers the ADCs itself: sizes come from the counters
        lines = parts = None
        notes["matrix"] = "Pulseq-driven: phase-encoding sizes from the readout counters"
    elif not is_3d:
        parts = 1
    n1, lim1 = _phase_axis(lines, stats, "kspace_encode_step_1", stats.centre_line, "lines", notes)
    n2, lim2 = _phase_axis(parts, stats, "kspace_encode_step_2", stats.centre_partition, "partitions", notes)
    rec_y = _first_number(hdr, ("Meas", "NImageLins"), ("Config", "NImageLins"))
    if rec_y is None or rec_y < 1 or pulseq or "lines" in notes:
        rec_y = n1
    rec_z = 1
    if n2 > 1:
        rec_z = n2 if pulseq else round(_first_number(hdr, ("MeasYaps", "sKSpace", "lImagesPerSlab")) or n2)
    limits: dict[str, tuple[int, int, int]] = {_LIMIT_NAMES["kspace_encode_step_1"]: lim1}
    limits[_LIMIT_NAMES["kspace_encode_step_2"]] = lim2
    for name, _ in _COUNTERS[2:]:
        limits[name] = (0, stats.counter_max.get(name, 0), 0)
    r1 = int(_first_number(hdr, ("MeasYaps", "sPat", "lAccelFactPE")) or 1)
    r2 = int(_first_number(hdr, ("MeasYaps", "sPat", "lAccelFact3D")) or 1)
    position = str(
        value(hdr, "Meas", "tPatientPosition", default=value(hdr, "Config", "PatientPosition", default=""))
    )
    position = position.strip().strip('"')
    if position not in _PATIENT_POSITIONS:
        notes["patient_position"] = f"{position or 'missing'} in the protocol; HFS assumed"
        position = "HFS"
    seq: dict[str, list[float]] = {"te": [], "tr": [], "ti": [], "flip": []}
    if pulseq:
        notes["sequence_parameters"] = (
            "Pulseq-driven: protocol TE/TR/TI/flip angle are interpreter defaults, left out"
        )
    else:
        n_te = int(_number(value(hdr, "MeasYaps", "lContrasts")) or 1)
        for key, src, scale, n in (
            ("te", "alTE", 1e-3, n_te),
            ("tr", "alTR", 1e-3, 1),
            ("ti", "alTI", 1e-3, 1),
        ):
            vals = value(hdr, "MeasYaps", src, default=[])
            seq[key] = [v * scale for v in (_number(x) for x in list(vals)[:n]) if v is not None and v > 0]
        flips = value(hdr, "MeasYaps", "adFlipAngleDegree", default=[])
        seq["flip"] = [v for v in (_number(x) for x in list(flips)[:1]) if v is not None]
    b0 = _first_number(
        hdr,
        ("Meas", "flMagneticFieldStrength"),
        ("Dicom", "flMagneticFieldStrength"),
        ("MeasYaps", "sProtConsistencyInfo", "flNominalB0"),
    )
    larmor = _number(value(hdr, "MeasYaps", "sTXSPEC", "asNucleusInfo", 0, "lFrequency"))
    xml = make_header_xml(
        encoded_matrix=(enc_x, n1, n2),
        encoded_fov_mm=(enc_fov_x, fov_y * (1 + (ph_os or 0.0)), thick),
        recon_matrix=(rec_x, round(rec_y), round(rec_z)),
        recon_fov_mm=(rec_fov_x, fov_y, thick),
        limits=limits,
        acceleration=(max(r1, 1), max(r2, 1)),
        calibration_mode=stats.calibration,
        receiver_channels=stats.channels,
        te_ms=seq["te"],
        tr_ms=seq["tr"],
        ti_ms=seq["ti"],
        flip_angle_deg=seq["flip"],
        field_strength_t=b0,
        h1_frequency_hz=larmor if larmor and larmor > 0 else None,
        protocol_name=str(value(hdr, "MeasYaps", "tProtocolName", default="")).strip('"') or None,
        system_vendor="Siemens",
        system_model=str(value(hdr, "Dicom", "ManufacturersModelName", default="")) or None,
        patient_position=position,
    )
    return xml, notes
