"""The ISMRMRD XML header, parsed tolerantly.

The ``ismrmrd`` package's schema-bound parser rejects headers that omit required
elements (e.g. KomaMRI's files lack ``patientPosition``). We read the XML with
:mod:`xml.etree.ElementTree`, namespace-agnostic, take what a reconstruction needs and
raise :class:`~recon_engine.errors.HeaderError` only for what it cannot do without
(an ``encoding`` section with matrix sizes and fields of view).
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from recon_engine.errors import HeaderError

__all__ = ["COUNTERS", "MAX_MATRIX", "EncodingLimit", "MRHeader", "header_tree", "parse_header"]

#: largest matrix size per axis: ISMRMRD counts samples and encoding steps in uint16
MAX_MATRIX = 65536

#: ISMRMRD encoding counters in the order of ``encodingLimits``.
COUNTERS: tuple[str, ...] = (
    "kspace_encoding_step_1",
    "kspace_encoding_step_2",
    "average",
    "slice",
    "contrast",
    "phase",
    "repetition",
    "set",
    "segment",
)


@dataclass(frozen=True)
class EncodingLimit:
    """``minimum``, ``maximum`` and ``center`` of one encoding counter."""

    minimum: int
    maximum: int
    center: int


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element | None, name: str) -> ET.Element | None:
    if node is None:
        return None
    for c in node:
        if _local(c.tag) == name:
            return c
    return None


def _children(node: ET.Element | None, name: str) -> list[ET.Element]:
    if node is None:
        return []
    return [c for c in node if _local(c.tag) == name]


def _path(node: ET.Element | None, *names: str) -> ET.Element | None:
    for n in names:
        node = _child(node, n)
    return node


def _text(node: ET.Element | None, *names: str) -> str | None:
    n = _path(node, *names)
    if n is None or n.text is None:
        return None
    return n.text.strip()


def _finite(text: str | None) -> float | None:
    """``float(text)`` when it is a finite number, else None (NaN, inf, text, empty)."""
    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _float(node: ET.Element | None, *names: str) -> float | None:
    return _finite(_text(node, *names))


def _floats(node: ET.Element | None, name: str) -> tuple[float, ...]:
    values = (_finite((c.text or "").strip()) for c in _children(node, name))
    return tuple(v for v in values if v is not None)


def _count(node: ET.Element | None, *names: str, low: int = 0, high: int = 2**31 - 1) -> int | None:
    """A whole number in ``[low, high]`` (rounded), or None when absent or nonsense."""
    v = _float(node, *names)
    if v is None or not low <= v <= high:
        return None
    return round(v)


@dataclass(frozen=True)
class MRHeader:
    """What the engine uses from an ISMRMRD header (first encoding space).

    Attributes
    ----------
    xml
        The header as stored in the file (str), kept for writing and display.
    encoded_matrix, recon_matrix
        ``(x, y, z)`` sizes of the encoded and reconstructed spaces.
    encoded_fov_mm, recon_fov_mm
        ``(x, y, z)`` fields of view in mm.
    limits
        Encoding limits by counter name (see :data:`COUNTERS`); absent counters are missing.
    trajectory
        ``"cartesian"``, ``"radial"``, ``"spiral"``, ``"epi"``, ... as in the header.
    acceleration
        Nominal acceleration factors ``(R1, R2)`` from ``parallelImaging``.
    calibration_mode
        ``"embedded"``, ``"interleaved"``, ``"separate"``, ... or None.
    receiver_channels
        Number of coils declared in the header, or None.
    te_ms, tr_ms, ti_ms, flip_angle_deg
        Sequence parameters (tuples, possibly empty).
    field_strength_t
        Main field in tesla, or None.
    h1_frequency_hz
        Larmor frequency in Hz, or None.
    """

    xml: str
    encoded_matrix: tuple[int, int, int]
    encoded_fov_mm: tuple[float, float, float]
    recon_matrix: tuple[int, int, int]
    recon_fov_mm: tuple[float, float, float]
    limits: dict[str, EncodingLimit] = field(default_factory=dict)
    trajectory: str = "cartesian"
    acceleration: tuple[int, int] = (1, 1)
    calibration_mode: str | None = None
    receiver_channels: int | None = None
    te_ms: tuple[float, ...] = ()
    tr_ms: tuple[float, ...] = ()
    ti_ms: tuple[float, ...] = ()
    flip_angle_deg: tuple[float, ...] = ()
    field_strength_t: float | None = None
    h1_frequency_hz: float | None = None
    protocol_name: str | None = None
    system: str | None = None
    n_encodings: int = 1

    @property
    def is_cartesian(self) -> bool:
        """True for Cartesian trajectories (including partial Fourier)."""
        return self.trajectory.lower() == "cartesian"

    @property
    def readout_oversampling(self) -> float:
        """Encoded / recon FOV ratio along the readout (2.0 for 2× oversampling)."""
        if self.recon_fov_mm[0] <= 0:
            return 1.0
        return self.encoded_fov_mm[0] / self.recon_fov_mm[0]

    def limit(self, name: str) -> EncodingLimit | None:
        """Encoding limit of a counter, or None when the header does not give it."""
        return self.limits.get(name)


def _space(enc: ET.Element, which: str) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    sp = _child(enc, which)
    if sp is None:
        raise HeaderError(f"ISMRMRD header has no encoding/{which}; cannot size the k-space or image")
    m = _child(sp, "matrixSize")
    f = _child(sp, "fieldOfView_mm")
    if m is None or f is None:
        raise HeaderError(f"ISMRMRD header encoding/{which} lacks matrixSize or fieldOfView_mm")
    matrix = tuple(_size(_text(m, a), f"encoding/{which}/matrixSize/{a}", whole=True) for a in "xyz")
    fov = tuple(_size(_text(f, a), f"encoding/{which}/fieldOfView_mm/{a}", whole=False) for a in "xyz")
    return (int(matrix[0]), int(matrix[1]), int(matrix[2])), (fov[0], fov[1], fov[2])


def _size(text: str | None, where: str, *, whole: bool) -> float:
    """A matrix size (whole, 1..MAX_MATRIX; absent or 0 → 1) or a field of view (finite, ≥ 0)."""
    if text is None or text == "":
        return 1 if whole else 0.0
    try:
        v = float(text)
    except ValueError:
        raise HeaderError(f"ISMRMRD header {where} = {text!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise HeaderError(f"ISMRMRD header {where} = {text!r} is not a size")
    if not whole:
        return v
    if v > MAX_MATRIX:
        raise HeaderError(
            f"ISMRMRD header {where} = {text!r} is larger than {MAX_MATRIX} (ISMRMRD counts in 16 bits)"
        )
    return max(1, round(v))


def _root(xml: str | bytes) -> ET.Element:
    try:
        return ET.fromstring(xml)
    except ET.ParseError as exc:
        raise HeaderError(f"ISMRMRD header is not valid XML ({exc})") from exc


def _metres_to_mm(fov: tuple[float, float, float]) -> tuple[float, float, float]:
    z = fov[2] * 1e3 if 0 < fov[2] < 1.0 else fov[2]
    return (fov[0] * 1e3, fov[1] * 1e3, z)


def parse_header(xml: str | bytes) -> MRHeader:
    """Parse an ISMRMRD XML header.

    Parameters
    ----------
    xml
        The header text (``/dataset/xml``).

    Returns
    -------
    MRHeader

    Raises
    ------
    HeaderError
        If the XML is malformed or has no usable ``encoding`` section.
    """
    xml = xml.decode("utf-8", errors="replace") if isinstance(xml, bytes) else xml
    root = _root(xml)
    encs = _children(root, "encoding")
    if not encs:
        raise HeaderError(
            "ISMRMRD header has no <encoding> section: matrix size and field of view are unknown"
        )
    enc = encs[0]
    enc_matrix, enc_fov = _space(enc, "encodedSpace")
    rec_matrix, rec_fov = _space(enc, "reconSpace")
    if all(0 < v < 1.0 for v in (*enc_fov[:2], *rec_fov[:2])):
        # an in-plane FOV under 1 mm is a writer that stored metres (e.g. KomaMRI)
        warnings.warn(
            f"field of view {enc_fov} looks like metres, not mm; multiplying by 1000",
            stacklevel=2,
        )
        enc_fov = _metres_to_mm(enc_fov)
        rec_fov = _metres_to_mm(rec_fov)
    limits: dict[str, EncodingLimit] = {}
    lim_node = _child(enc, "encodingLimits")
    for name in COUNTERS:
        n = _child(lim_node, name)
        if n is None:
            continue
        values = [_count(n, key, high=MAX_MATRIX) for key in ("minimum", "maximum", "center")]
        if any(
            v is None and _text(n, key) not in (None, "")
            for v, key in zip(values, ("minimum", "maximum", "center"), strict=True)
        ):
            continue  # a damaged limit is no limit (the counters decide)
        lo, hi, c = (0 if v is None else v for v in values)
        limits[name] = EncodingLimit(lo, hi, c)
    pi = _child(enc, "parallelImaging")
    # nominal factors only: a missing or nonsensical one (NaN, 0, negative, > matrix) counts as 1
    r1 = _count(pi, "accelerationFactor", "kspace_encoding_step_1", low=1, high=enc_matrix[1]) or 1
    r2 = _count(pi, "accelerationFactor", "kspace_encoding_step_2", low=1, high=enc_matrix[2]) or 1
    seq = _child(root, "sequenceParameters")
    channels = _count(root, "acquisitionSystemInformation", "receiverChannels", low=1, high=65535)
    vendor = _text(root, "acquisitionSystemInformation", "systemVendor")
    model = _text(root, "acquisitionSystemInformation", "systemModel")
    system = " ".join(s for s in (vendor, model) if s) or None
    return MRHeader(
        xml=xml,
        encoded_matrix=enc_matrix,
        encoded_fov_mm=enc_fov,
        recon_matrix=rec_matrix,
        recon_fov_mm=rec_fov,
        limits=limits,
        trajectory=(_text(enc, "trajectory") or "cartesian").lower(),
        acceleration=(r1, r2),
        calibration_mode=_text(pi, "calibrationMode"),
        receiver_channels=channels,
        te_ms=_floats(seq, "TE"),
        tr_ms=_floats(seq, "TR"),
        ti_ms=_floats(seq, "TI"),
        flip_angle_deg=_floats(seq, "flipAngle_deg"),
        field_strength_t=_float(root, "acquisitionSystemInformation", "systemFieldStrength_T"),
        h1_frequency_hz=_float(root, "experimentalConditions", "H1resonanceFrequency_Hz"),
        protocol_name=_text(root, "measurementInformation", "protocolName"),
        system=system,
        n_encodings=len(encs),
    )


def _tree(node: ET.Element) -> Any:
    kids = list(node)
    if not kids:
        return (node.text or "").strip()
    out: dict[str, Any] = {}
    for c in kids:
        key = _local(c.tag)
        val = _tree(c)
        if key in out:
            if not isinstance(out[key], list):
                out[key] = [out[key]]
            out[key].append(val)
        else:
            out[key] = val
    return out


def header_tree(xml: str | bytes) -> dict[str, Any]:
    """The whole XML header as nested dicts (repeated elements become lists).

    Used by the "Metadata" dock and ``mrrecon info --json``.

    Raises
    ------
    HeaderError
        If the XML is malformed.
    """
    t = _tree(_root(xml))
    return t if isinstance(t, dict) else {"value": t}
