"""The ISMRMRD XML header, parsed tolerantly.

The ``ismrmrd`` package's schema-bound parser rejects headers that omit required
elements (e.g. KomaMRI's files lack ``patientPosition``). We read the XML with
:mod:`xml.etree.ElementTree`, namespace-agnostic, take what a reconstruction needs and
raise :class:`~recon_engine.errors.HeaderError` only for what it cannot do without
(an ``encoding`` section with matrix sizes and fields of view).
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from recon_engine.errors import HeaderError

__all__ = ["COUNTERS", "EncodingLimit", "MRHeader", "header_tree", "parse_header"]

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


def _float(node: ET.Element | None, *names: str) -> float | None:
    t = _text(node, *names)
    if t is None:
        return None
    try:
        return float(t)
    except ValueError:
        return None


def _floats(node: ET.Element | None, name: str) -> tuple[float, ...]:
    out = []
    for c in _children(node, name):
        try:
            out.append(float((c.text or "").strip()))
        except ValueError:
            continue
    return tuple(out)


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
    try:
        matrix = tuple(max(1, int(float(_text(m, a) or 1))) for a in "xyz")
        fov = tuple(float(_text(f, a) or 0.0) for a in "xyz")
    except ValueError as exc:
        raise HeaderError(f"ISMRMRD header encoding/{which} has a non-numeric size: {exc}") from exc
    if matrix[0] < 1 or matrix[1] < 1:
        raise HeaderError(f"ISMRMRD header encoding/{which} has an empty matrix {matrix}")
    return (matrix[0], matrix[1], matrix[2]), (fov[0], fov[1], fov[2])


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
        try:
            lo = int(float(_text(n, "minimum") or 0))
            hi = int(float(_text(n, "maximum") or 0))
            c = int(float(_text(n, "center") or 0))
        except ValueError:
            continue
        limits[name] = EncodingLimit(lo, hi, c)
    pi = _child(enc, "parallelImaging")
    r1 = _float(pi, "accelerationFactor", "kspace_encoding_step_1") or 1.0
    r2 = _float(pi, "accelerationFactor", "kspace_encoding_step_2") or 1.0
    seq = _child(root, "sequenceParameters")
    channels = _float(root, "acquisitionSystemInformation", "receiverChannels")
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
        acceleration=(max(1, round(r1)), max(1, round(r2))),
        calibration_mode=_text(pi, "calibrationMode"),
        receiver_channels=None if channels is None else int(channels),
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
