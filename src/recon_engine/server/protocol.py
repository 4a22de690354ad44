"""The MRD (ISMRMRD) streaming protocol: message framing, parsing with bounded lengths, encoding.

Every message starts with a little-endian ``uint16`` id, as in the ISMRMRD
``ismrmrd-server`` reference and Gadgetron's external-language interface:

====  ==============  ==========================================================
id    name            payload
====  ==============  ==========================================================
1     config file     1024 bytes, a NUL-padded name (of a recipe, a method, ...)
2     config text     ``uint32`` length + text
3     metadata        ``uint32`` length + ISMRMRD XML header
4     close           nothing
5     text            ``uint32`` length + UTF-8 text (warnings, errors, logs)
1008  acquisition     ``AcquisitionHeader`` (340 bytes), trajectory float32
                      ``samples × trajectory_dimensions``, data complex64
                      ``channels × samples``
1022  image           ``ImageHeader`` (198 bytes), ``uint64`` attribute length +
                      XML meta, data ``channels × z × y × x`` of ``data_type``
1026  waveform        ``WaveformHeader`` (40 bytes), data uint32
                      ``channels × samples``
====  ==============  ==========================================================

The header sizes are those of the ``ismrmrd`` package's ctypes structures
(:data:`ACQUISITION_HEADER_SIZE` and friends are read from them, not hard-coded).
Acquisitions, images and waveforms are decoded and encoded with the package's
``from_bytes``/``to_bytes``. Every length read from the wire is checked against
:data:`LIMITS` before anything is allocated, so garbage cannot make a reader allocate
gigabytes.
"""

from __future__ import annotations

import ctypes
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from recon_engine.errors import DataError

__all__ = [
    "ACQUISITION_HEADER_SIZE",
    "CONFIG_FILE_SIZE",
    "IMAGE_HEADER_SIZE",
    "LIMITS",
    "WAVEFORM_HEADER_SIZE",
    "Message",
    "MessageId",
    "ProtocolError",
    "StreamEnded",
    "encode_acquisition",
    "encode_acquisition_parts",
    "encode_close",
    "encode_config_file",
    "encode_config_text",
    "encode_image",
    "encode_metadata",
    "encode_text",
    "encode_waveform",
    "encode_waveform_parts",
    "ismrmrd",
    "read_message",
]


def _import_ismrmrd() -> Any:
    # ismrmrd calls warnings.simplefilter("default") on import; keep that change local.
    with warnings.catch_warnings():
        import ismrmrd as mod
    return mod


ismrmrd = _import_ismrmrd()


class MessageId(IntEnum):
    """Message ids of the MRD streaming protocol."""

    CONFIG_FILE = 1
    CONFIG_TEXT = 2
    METADATA = 3
    CLOSE = 4
    TEXT = 5
    ACQUISITION = 1008
    IMAGE = 1022
    WAVEFORM = 1026


#: Byte sizes of the fixed headers, from the ``ismrmrd`` ctypes structures.
ACQUISITION_HEADER_SIZE: int = ctypes.sizeof(ismrmrd.AcquisitionHeader)
IMAGE_HEADER_SIZE: int = ctypes.sizeof(ismrmrd.ImageHeader)
WAVEFORM_HEADER_SIZE: int = ctypes.sizeof(ismrmrd.WaveformHeader)
#: Payload of a config-file message (NUL-padded name).
CONFIG_FILE_SIZE = 1024

#: Upper bounds of what one message may declare (bytes unless noted).
LIMITS: dict[str, int] = {
    "text": 16 << 20,  # config text, metadata XML, text messages
    "acquisition": 256 << 20,  # trajectory + samples of one readout
    "channels": 4096,
    "trajectory_dimensions": 16,
    "image_attributes": 16 << 20,
    "image_data": 2 << 30,
    "waveform": 64 << 20,
}

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class ProtocolError(DataError):
    """The stream breaks the MRD protocol (unknown id, absurd length, truncated message)."""


class StreamEnded(ProtocolError):
    """The peer closed the connection between two messages (no close message)."""


@dataclass(frozen=True)
class Message:
    """One decoded message.

    Attributes
    ----------
    id
        The message id.
    text
        Config file name, config text, metadata XML or text (None otherwise).
    item
        ``ismrmrd.Acquisition``, ``ismrmrd.Image`` or ``ismrmrd.Waveform`` (None otherwise).
    nbytes
        Size on the wire, id included.
    """

    id: MessageId
    text: str | None = None
    item: Any = None
    nbytes: int = 2


ReadExactly = Callable[[int], bytes]
"""``read_exactly(n)``: ``n`` bytes, fewer only at the end of the stream."""


def _take(read: ReadExactly, n: int, what: str) -> bytes:
    b = read(n)
    if len(b) != n:
        raise ProtocolError(f"stream ended inside {what} (got {len(b)} of {n} bytes)")
    return b


def _bounded(n: int, limit: str, what: str) -> int:
    if n > LIMITS[limit]:
        raise ProtocolError(f"{what} declares {n} bytes, more than the limit of {LIMITS[limit]}")
    return n


def _text(read: ReadExactly, what: str) -> tuple[str, int]:
    n = _bounded(_U32.unpack(_take(read, 4, f"the length of {what}"))[0], "text", what)
    raw = _take(read, n, what)
    try:
        return raw.rstrip(b"\0").decode("utf-8"), n + 4
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _acquisition(read: ReadExactly) -> tuple[Any, int]:
    head = _take(read, ACQUISITION_HEADER_SIZE, "an acquisition header")
    h = ismrmrd.AcquisitionHeader.from_buffer_copy(head)
    ns, ch, td = int(h.number_of_samples), int(h.active_channels), int(h.trajectory_dimensions)
    if ch > LIMITS["channels"] or td > LIMITS["trajectory_dimensions"]:
        raise ProtocolError(
            f"acquisition declares {ch} channels and {td} trajectory dimensions: not plausible"
        )
    n = _bounded(4 * ns * td + 8 * ns * ch, "acquisition", "an acquisition")
    body = _take(read, n, f"acquisition {int(h.scan_counter)} ({ch} channels × {ns} samples)")
    return ismrmrd.Acquisition.from_bytes(head + body), ACQUISITION_HEADER_SIZE + n


def _image(read: ReadExactly) -> tuple[Any, int]:
    from ismrmrd.image import get_dtype_from_data_type

    head = _take(read, IMAGE_HEADER_SIZE, "an image header")
    h = ismrmrd.ImageHeader.from_buffer_copy(head)
    n_attr = _bounded(
        _U64.unpack(_take(read, 8, "an image attribute length"))[0], "image_attributes", "image meta"
    )
    attr = _take(read, n_attr, "image attributes")
    try:
        itemsize = int(get_dtype_from_data_type(int(h.data_type)).itemsize)
    except (KeyError, ValueError, TypeError):
        raise ProtocolError(f"image has an unknown data type {int(h.data_type)}") from None
    x, y, z = (int(v) for v in h.matrix_size)
    n = _bounded(itemsize * int(h.channels) * x * y * z, "image_data", "image data")
    body = _take(read, n, f"image {int(h.image_index)} data")
    return ismrmrd.Image.from_bytes(
        head + _U64.pack(n_attr) + attr + body
    ), IMAGE_HEADER_SIZE + 8 + n_attr + n


def _waveform(read: ReadExactly) -> tuple[Any, int]:
    head = _take(read, WAVEFORM_HEADER_SIZE, "a waveform header")
    h = ismrmrd.WaveformHeader.from_buffer_copy(head)
    n = _bounded(4 * int(h.channels) * int(h.number_of_samples), "waveform", "a waveform")
    body = _take(read, n, "waveform data")
    return ismrmrd.Waveform.from_bytes(head + body), WAVEFORM_HEADER_SIZE + n


def read_message(read: ReadExactly) -> Message:
    """Read and decode the next message.

    Parameters
    ----------
    read
        ``read_exactly(n)`` returning ``n`` bytes (fewer only where the stream ends).

    Returns
    -------
    Message

    Raises
    ------
    StreamEnded
        The stream ended cleanly between two messages.
    ProtocolError
        Unknown message id, a length over :data:`LIMITS`, a message cut off, non-UTF-8 text.
    """
    raw = read(2)
    if len(raw) == 0:
        raise StreamEnded("the peer closed the connection without a close message")
    if len(raw) == 1:
        raise ProtocolError("stream ended inside a message id")
    value = _U16.unpack(raw)[0]
    try:
        mid = MessageId(value)
    except ValueError:
        raise ProtocolError(f"unknown message id {value}") from None
    if mid is MessageId.CLOSE:
        return Message(mid)
    if mid is MessageId.CONFIG_FILE:
        name = _take(read, CONFIG_FILE_SIZE, "a config file name").split(b"\0", 1)[0]
        return Message(mid, text=name.decode("utf-8", errors="replace"), nbytes=2 + CONFIG_FILE_SIZE)
    if mid in (MessageId.CONFIG_TEXT, MessageId.METADATA, MessageId.TEXT):
        text, n = _text(read, mid.name.lower().replace("_", " "))
        return Message(mid, text=text, nbytes=2 + n)
    reader = {MessageId.ACQUISITION: _acquisition, MessageId.IMAGE: _image, MessageId.WAVEFORM: _waveform}[
        mid
    ]
    item, n = reader(read)
    return Message(mid, item=item, nbytes=2 + n)


def _with_length(mid: MessageId, payload: bytes) -> bytes:
    return _U16.pack(mid) + _U32.pack(len(payload)) + payload


def encode_config_file(name: str) -> bytes:
    """Config-file message: the name NUL-padded to 1024 bytes."""
    raw = name.encode("utf-8")
    if len(raw) >= CONFIG_FILE_SIZE:
        raise ProtocolError(f"config name is {len(raw)} bytes; at most {CONFIG_FILE_SIZE - 1} fit")
    return _U16.pack(MessageId.CONFIG_FILE) + raw.ljust(CONFIG_FILE_SIZE, b"\0")


def encode_config_text(text: str) -> bytes:
    """Config-text message."""
    return _with_length(MessageId.CONFIG_TEXT, text.encode("utf-8"))


def encode_metadata(xml: str) -> bytes:
    """Metadata message (ISMRMRD XML header)."""
    return _with_length(MessageId.METADATA, xml.encode("utf-8"))


def encode_text(text: str) -> bytes:
    """Text message (warnings, errors)."""
    return _with_length(MessageId.TEXT, text.encode("utf-8"))


def encode_close() -> bytes:
    """Close message."""
    return _U16.pack(MessageId.CLOSE)


def encode_acquisition(acquisition: Any) -> bytes:
    """Acquisition message from an ``ismrmrd.Acquisition``."""
    return _U16.pack(MessageId.ACQUISITION) + bytes(acquisition.to_bytes())


def encode_acquisition_parts(head: bytes, trajectory: np.ndarray | None, data: np.ndarray) -> bytes:
    """Acquisition message from raw parts: 340 header bytes, float32 trajectory, complex64 samples."""
    if len(head) != ACQUISITION_HEADER_SIZE:
        raise ProtocolError(f"acquisition header is {len(head)} bytes, not {ACQUISITION_HEADER_SIZE}")
    traj = b"" if trajectory is None else np.ascontiguousarray(trajectory, dtype=np.float32).tobytes()
    return _U16.pack(MessageId.ACQUISITION) + head + traj + np.ascontiguousarray(data).tobytes()


def encode_image(image: Any) -> bytes:
    """Image message from an ``ismrmrd.Image``."""
    return _U16.pack(MessageId.IMAGE) + bytes(image.to_bytes())


def encode_waveform(waveform: Any) -> bytes:
    """Waveform message from an ``ismrmrd.Waveform``."""
    return _U16.pack(MessageId.WAVEFORM) + bytes(waveform.to_bytes())


def encode_waveform_parts(head: bytes, data: np.ndarray) -> bytes:
    """Waveform message from raw parts: 40 header bytes and ``channels × samples`` uint32 samples."""
    if len(head) != WAVEFORM_HEADER_SIZE:
        raise ProtocolError(f"waveform header is {len(head)} bytes, not {WAVEFORM_HEADER_SIZE}")
    return _U16.pack(MessageId.WAVEFORM) + head + np.ascontiguousarray(data, dtype="<u4").tobytes()
