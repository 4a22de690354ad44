"""Read Siemens twix raw data (``.dat``: VB, and VD/VE multi-raid) through ``twixtools``.

``twixtools`` (the optional ``twix`` extra) parses the protocol and the measurement
data headers (mdh); the samples are then read here straight from the file, which is
opened read-only. Every readout becomes one ISMRMRD acquisition header (see
:mod:`recon_engine.io._twix_header` for the mapping, which follows ``siemens_to_ismrmrd``),
so :func:`~recon_engine.io.sorting.sort_readouts` treats twix and ISMRMRD alike:

- noise-adjustment readouts (``NOISEADJSCAN``, from earlier raids of a multi-raid file
  and from the measurement itself) come first, flagged ``ACQ_IS_NOISE_MEASUREMENT``;
- ``REFLECT`` → ``ACQ_IS_REVERSE`` (the sorter flips them), ``PHASCOR`` →
  ``ACQ_IS_PHASECORR_DATA`` (EPI navigators, kept apart), PAT reference lines →
  calibration flags, feedback readouts flagged, SYNCDATA and ACQEND dropped;
- readout oversampling stays in the data (encoded ``x`` = samples, encoded FOV ``x`` =
  oversampling × readout FOV, recon ``x`` = base resolution);
- ramp-sampled EPI readouts (``alRegridMode`` ≥ 2) are regridded onto uniform k-space
  positions, as the scanner does, by least-squares (band-limited) interpolation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.header import parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.data.limits import check_allocation
from recon_engine.data.readouts import Readouts
from recon_engine.errors import FileFormatError
from recon_engine.io._twix_file import is_twix, parse_twix, read_samples
from recon_engine.io._twix_header import ScanStats, acquisition_headers, number, protocol_header, value
from recon_engine.io.ismrmrd_read import RawInfo
from recon_engine.io.sorting import sort_readouts

__all__ = ["is_twix", "read_twix", "read_twix_info", "read_twix_readouts", "twix_header_tree"]

_DROP = ("ACQEND", "SYNCDATA")
_TEXT_LIMIT = 200
_LIST_LIMIT = 256


def _ramp_operator(meas: dict[str, Any], n: int) -> np.ndarray | None:
    """``(n, n)`` matrix taking ramp-sampled readouts (time order) to uniform k-space positions.

    The gradient during the ADC is the protocol's trapezoid (``alRegridMode`` 2) or
    sinusoidal ramps (4); sample ``j`` at time ``t_j`` sits at ``k(t_j) = ∫ g``. The
    uniform target grid spans the same k range with ``n`` points (as the scanner's
    regridding). Interpolation is band-limited: the 1D image of ``n`` pixels is fitted to
    the samples by Tikhonov-regularized least squares and evaluated on the grid.
    """
    mode = int(number(meas, "alRegridMode", 0, default=1))
    times = [
        max(number(meas, key, 0), 0.0)
        for key in ("alRegridRampupTime", "alRegridFlattopTime", "alRegridRampdownTime")
    ]
    duration = number(meas, "aflRegridADCDuration", 0)
    if mode not in (2, 4) or duration <= 0 or sum(times) <= 0 or n < 4:
        return None
    up, flat, down = times
    check_allocation((4, n, n), np.complex128, f"regridding ramp-sampled readouts of {n} samples")
    t = number(meas, "alRegridDelaySamplesTime", 0) + duration / n * (np.arange(n) + 0.5)
    tt = np.linspace(0.0, up + flat + down, 20001)
    ramp_up = np.clip(tt / max(up, 1e-9), 0, 1)
    ramp_dn = np.clip((up + flat + down - tt) / max(down, 1e-9), 0, 1)
    g = np.minimum(ramp_up, ramp_dn)
    if mode == 4:
        g = np.sin(np.pi / 2 * g)
    k = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * np.diff(tt))])
    kj = np.interp(t, tt, k)
    u = (kj - kj[0]) / (kj[-1] - kj[0]) * (n - 1)  # sample positions in target-grid units
    x = (np.arange(n) - n / 2) / n
    enc = np.exp(-2j * np.pi * np.outer(u, x))
    grid = np.exp(-2j * np.pi * np.outer(np.arange(n), x))
    gram = enc.conj().T @ enc + 1e-3 * n * np.eye(n)
    return (grid @ np.linalg.solve(gram, enc.conj().T)).astype(np.complex64)


def _select(scans: list[dict[str, Any]], scan: int, p: Path) -> int:
    try:
        return range(len(scans))[scan]
    except IndexError:
        raise FileFormatError(f"{p}: has {len(scans)} measurement(s); scan {scan} does not exist") from None


def _stats(mdbs: list[Any]) -> ScanStats:
    img = [m for m in mdbs if m.is_image_scan()] or mdbs
    heads = acquisition_headers(img, sample_time_us=0.0, available_channels=0)
    idx = heads["idx"]
    flags = [set(m.get_active_flags()) for m in mdbs]
    calib = "embedded" if any("PATREFANDIMASCAN" in f for f in flags) else None
    if calib is None and any("PATREFSCAN" in f for f in flags):
        calib = "separate"
    names = [n for n in idx.dtype.names or () if n != "user"]
    return ScanStats(
        samples=int(heads["number_of_samples"].max(initial=0)),
        channels=int(heads["active_channels"].max(initial=0)),
        counter_max={n: int(idx[n].max(initial=0)) for n in names},
        counter_min={n: int(idx[n].min(initial=0)) for n in names},
        centre_line=int(np.bincount(idx["user"][:, 5]).argmax()) if len(img) else 0,
        centre_partition=int(np.bincount(idx["user"][:, 6]).argmax()) if len(img) else 0,
        calibration=calib,
    )


def _assemble(p: Path, scans: list[dict[str, Any]], k: int, version: str) -> dict[str, Any]:
    """Headers, XML, noise/readout order and notes of measurement ``k`` (no samples)."""
    hdr = scans[k]["hdr"]
    kept = [m for m in scans[k]["mdb"] if not any(m.is_flag_set(d) for d in _DROP)]
    empty = [m for m in kept if m.mdh.UsedChannels == 0 or m.mdh.SamplesInScan == 0]
    kept = [m for m in kept if m.mdh.UsedChannels > 0 and m.mdh.SamplesInScan > 0]
    body = [m for m in kept if not m.is_flag_set("NOISEADJSCAN")]
    stats = _stats(body or kept)
    candidates = [(j, m) for j in range(k) for m in scans[j]["mdb"] if m.is_flag_set("NOISEADJSCAN")]
    candidates += [(k, m) for m in kept if m.is_flag_set("NOISEADJSCAN")]
    # noise of other coil set-ups (e.g. with body-coil channels) cannot whiten these coils
    noise = [(j, m) for j, m in candidates if m.mdh.UsedChannels == stats.channels]
    seq_name = str(
        value(
            hdr, "MeasYaps", "tSequenceFileName", default=value(hdr, "Config", "SequenceFileName", default="")
        )
    )
    pulseq = "pulseq" in seq_name.lower()
    xml, notes = protocol_header(hdr, stats, pulseq=pulseq)
    dwell_ns = number(hdr, "MeasYaps", "sRXSPEC", "alDwellTime", 0)
    heads = []
    for j, m in noise:
        d = number(scans[j]["hdr"], "MeasYaps", "sRXSPEC", "alDwellTime", 0)
        heads.append(acquisition_headers([m], sample_time_us=d / 1000, available_channels=stats.channels))
    heads.append(acquisition_headers(body, sample_time_us=dwell_ns / 1000, available_channels=stats.channels))
    meta: dict[str, Any] = {
        "format": "Siemens twix",
        "twix_version": version,
        "scan": k,
        "n_scans": len(scans),
        "sequence": seq_name.strip('"'),
        "pulseq_driven": pulseq,
        "noise_readouts": len(noise),
        "noise_from_earlier_scans": sum(1 for j, _ in noise if j != k),
    }
    if notes:
        meta["protocol_notes"] = notes
    if empty:
        meta["empty_readouts_dropped"] = len(empty)
    if len(candidates) > len(noise):
        meta["noise_readouts_dropped"] = f"{len(candidates) - len(noise)} with another number of channels"
    return {
        "header": parse_header(xml),
        "table": AcquisitionTable(np.concatenate(heads)),
        "mdbs": [m for _, m in noise] + body,
        "n_noise": len(noise),
        "meta": meta,
        "hdr": hdr,
    }


def read_twix_readouts(path: str | os.PathLike[str], *, scan: int = -1, regrid: bool = True) -> Readouts:
    """Read one measurement of a twix file as acquisition-ordered readouts.

    Parameters
    ----------
    path
        Siemens ``.dat`` (VB or VD/VE; read-only).
    scan
        Measurement of a multi-raid file; the last one (the imaging scan) by default.
        Noise-adjustment readouts of earlier measurements are added to it.
    regrid
        Regrid ramp-sampled readouts (EPI) onto uniform k-space positions.

    Returns
    -------
    Readouts
        Noise readouts first, then all others in acquisition order; samples complex64
        ``(channels, samples)``; no trajectories; ``meta`` records the twix version,
        the measurement, Pulseq-driven protocols and every value the data supplied.

    Raises
    ------
    FileFormatError
        twixtools missing, not a twix file, truncated or corrupt file, unknown ``scan``.
    """
    p = Path(path)
    version, scans = parse_twix(p)
    a = _assemble(p, scans, _select(scans, scan, p), version)
    samples = []
    with open(p, "rb") as f:
        for m in a["mdbs"]:
            samples.append(read_samples(f, m, version == "VD/VE"))
    meta = a["meta"]
    body = a["mdbs"][a["n_noise"] :]
    n_img = max(
        (s.shape[1] for s, m in zip(samples[a["n_noise"] :], body, strict=True) if m.is_image_scan()),
        default=0,
    )
    op = _ramp_operator(a["hdr"].get("Meas", {}), n_img) if regrid and n_img else None
    if op is not None:
        for i in range(a["n_noise"], len(samples)):
            m = a["mdbs"][i]
            if samples[i].shape[1] == n_img and not m.is_flag_set("SKIP_REGRIDDING"):
                samples[i] = samples[i] @ op.T
        meta["ramp_sampling"] = "regridded onto uniform k-space positions"
    return Readouts(
        header=a["header"],
        acquisitions=a["table"],
        samples=samples,
        trajectories=[None] * len(samples),
        source=str(p),
        meta=meta,
    )


def read_twix_info(path: str | os.PathLike[str], *, scan: int = -1) -> RawInfo:
    """Header and acquisition headers of a twix measurement, without reading samples.

    Returns
    -------
    RawInfo
        As for ISMRMRD files (``group`` names the measurement), usable by
        :func:`recon_engine.api.info_dict`.

    Raises
    ------
    FileFormatError
        twixtools missing, not a twix file, truncated or corrupt file.
    """
    p = Path(path)
    version, scans = parse_twix(p)
    k = _select(scans, scan, p)
    a = _assemble(p, scans, k, version)
    return RawInfo(
        path=p, group=f"measurement {k + 1} of {len(scans)}", header=a["header"], acquisitions=a["table"]
    )


def read_twix(
    path: str | os.PathLike[str],
    *,
    seq: str | os.PathLike[str] | None = None,
    scan: int = -1,
    regrid: bool = True,
) -> KSpace:
    """Read a twix measurement into sorted k-space, optionally with its Pulseq sequence.

    Parameters
    ----------
    path
        Siemens ``.dat``.
    seq
        The Pulseq ``.seq`` that produced the data: its ADC events give the trajectory,
        counters and reversed readouts (:func:`recon_engine.io.pulseq.attach_sequence`).
    scan, regrid
        See :func:`read_twix_readouts`.

    Returns
    -------
    KSpace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``; noise in ``noise``, EPI
        phase-correction readouts in ``navigators``.
    """
    readouts = read_twix_readouts(path, scan=scan, regrid=regrid)
    if seq is not None:
        from recon_engine.io.pulseq import attach_sequence, read_seq

        readouts = attach_sequence(readouts, read_seq(seq))
    return sort_readouts(readouts)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        items = [_plain(x) for x in v[:_LIST_LIMIT]]
        return items + ([f"… {len(v) - _LIST_LIMIT} more"] if len(v) > _LIST_LIMIT else [])
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bool | int | float) or v is None:
        return v
    s = str(v)
    return s if len(s) <= _TEXT_LIMIT else f"{s[:_TEXT_LIMIT]}… ({len(s)} characters)"


def twix_header_tree(path: str | os.PathLike[str], *, scan: int = -1) -> dict[str, Any]:
    """The protocol of a twix measurement as nested dicts, for a searchable metadata tree.

    Returns
    -------
    dict
        ``{"twix": {...file facts...}, "MeasYaps": {...}, "Meas": {...}, "Dicom": {...},
        "Config": {...}, ...}``; texts over 200 characters and lists over 256 entries
        are truncated.

    Raises
    ------
    FileFormatError
        twixtools missing, not a twix file, or a corrupt protocol.
    """
    p = Path(path)
    version, scans = parse_twix(p, parse_data=False)
    k = _select(scans, scan, p)
    hdr = scans[k].get("hdr", {})
    names = [str(value(s.get("hdr", {}), "MeasYaps", "tProtocolName", default="")).strip('"') for s in scans]
    tree: dict[str, Any] = {"twix": {"version": version, "measurement": k + 1, "measurements": names}}
    tree.update({name: _plain(v) for name, v in hdr.items() if not name.endswith("_raw")})
    return tree
