"""MRD message framing: sizes from the ismrmrd structures, bounded reads, interop with ismrmrd's helpers."""

from __future__ import annotations

import ctypes
import io
import struct

import numpy as np
import pytest

from recon_engine.server.protocol import (
    ACQUISITION_HEADER_SIZE,
    IMAGE_HEADER_SIZE,
    LIMITS,
    WAVEFORM_HEADER_SIZE,
    MessageId,
    ProtocolError,
    StreamEnded,
    encode_acquisition,
    encode_close,
    encode_config_file,
    encode_config_text,
    encode_image,
    encode_metadata,
    encode_text,
    encode_waveform,
    ismrmrd,
    read_message,
)


def _reader(data: bytes):  # type: ignore[no-untyped-def]
    return io.BytesIO(data).read


def _acq(rng: np.random.Generator, channels: int = 2, samples: int = 8, tdims: int = 2):  # type: ignore[no-untyped-def]
    data = (rng.standard_normal((channels, samples)) + 1j * rng.standard_normal((channels, samples))).astype(
        np.complex64
    )
    traj = rng.standard_normal((samples, tdims)).astype(np.float32)
    a = ismrmrd.Acquisition.from_array(data, traj)
    a.idx.kspace_encode_step_1 = 7
    a.idx.slice = 2
    return a


def test_header_sizes_are_the_ismrmrd_structures() -> None:
    assert ACQUISITION_HEADER_SIZE == ctypes.sizeof(ismrmrd.AcquisitionHeader) == 340
    assert IMAGE_HEADER_SIZE == ctypes.sizeof(ismrmrd.ImageHeader) == 198
    assert WAVEFORM_HEADER_SIZE == ctypes.sizeof(ismrmrd.WaveformHeader) == 40


def test_round_trip_of_every_message(rng: np.random.Generator) -> None:
    acq = _acq(rng)
    img = ismrmrd.Image.from_array(np.arange(24, dtype=np.complex64).reshape(2, 1, 3, 4), image_index=3)
    img.attribute_string = "<ismrmrdMeta/>"
    wav = ismrmrd.Waveform.from_array(np.arange(10, dtype=np.uint32).reshape(2, 5))
    stream = b"".join(
        [
            encode_config_file("sense"),
            encode_config_text("cfg"),
            encode_metadata("<ismrmrdHeader/>"),
            encode_text("hello µ"),
            encode_acquisition(acq),
            encode_image(img),
            encode_waveform(wav),
            encode_close(),
        ]
    )
    read = _reader(stream)
    msgs = [read_message(read) for _ in range(8)]
    assert [m.id for m in msgs] == [
        MessageId.CONFIG_FILE,
        MessageId.CONFIG_TEXT,
        MessageId.METADATA,
        MessageId.TEXT,
        MessageId.ACQUISITION,
        MessageId.IMAGE,
        MessageId.WAVEFORM,
        MessageId.CLOSE,
    ]
    assert [m.text for m in msgs[:4]] == ["sense", "cfg", "<ismrmrdHeader/>", "hello µ"]
    assert msgs[0].nbytes == 2 + 1024
    assert sum(m.nbytes for m in msgs) == len(stream)
    got = msgs[4].item
    assert np.array_equal(got.data, acq.data)
    assert np.array_equal(got.traj, acq.traj)
    assert (got.idx.kspace_encode_step_1, got.idx.slice) == (7, 2)
    assert np.array_equal(msgs[5].item.data, img.data)
    assert msgs[5].item.image_index == 3
    assert np.array_equal(msgs[6].item.data, wav.data)
    with pytest.raises(StreamEnded):
        read_message(read)


def test_our_messages_decode_with_ismrmrd_protocol_deserializer(rng: np.random.Generator) -> None:
    from ismrmrd.serialization import ConfigFile, ProtocolDeserializer

    acq = _acq(rng)
    img = ismrmrd.Image.from_array(np.ones((1, 1, 2, 2), dtype=np.float32))
    stream = encode_config_file("grappa") + encode_text("note") + encode_acquisition(acq) + encode_image(img)
    items = list(ProtocolDeserializer(io.BytesIO(stream + encode_close())).deserialize())
    assert isinstance(items[0], ConfigFile) and items[0] == "grappa"
    assert items[1] == "note"
    assert np.array_equal(items[2].data, acq.data)
    assert np.array_equal(items[3].data, img.data)


def test_ismrmrd_protocol_serializer_output_decodes_with_ours(rng: np.random.Generator) -> None:
    from ismrmrd.serialization import ConfigFile, ProtocolSerializer

    acq = _acq(rng)
    buf = io.BytesIO()
    with ProtocolSerializer(buf) as ser:
        ser.serialize(ConfigFile("direct"))
        ser.serialize(acq)
        ser.serialize("text")
    read = _reader(buf.getvalue())
    msgs = [read_message(read) for _ in range(4)]
    assert [m.id for m in msgs] == [
        MessageId.CONFIG_FILE,
        MessageId.ACQUISITION,
        MessageId.TEXT,
        MessageId.CLOSE,
    ]
    assert msgs[0].text == "direct"
    assert np.array_equal(msgs[1].item.data, acq.data)


@pytest.mark.parametrize(
    ("stream", "match"),
    [
        (struct.pack("<H", 4242), "unknown message id 4242"),
        (b"\x05", "inside a message id"),
        (struct.pack("<HI", 5, 0xFFFFFFFF), "more than the limit"),
        (struct.pack("<HI", 3, 10) + b"<ab", "stream ended inside metadata"),
        (struct.pack("<HI", 5, 2) + b"\xff\xfe", "not UTF-8"),
        (struct.pack("<H", 1) + b"abc", "inside a config file name"),
        (struct.pack("<H", 1008) + b"\0" * 100, "inside an acquisition header"),
        (
            struct.pack("<H", 1022) + b"\0" * IMAGE_HEADER_SIZE + struct.pack("<Q", 1 << 40),
            "more than the limit",
        ),
    ],
)
def test_garbage_is_a_protocol_error(stream: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        read_message(_reader(stream))


def test_absurd_acquisition_sizes_are_refused_before_reading(rng: np.random.Generator) -> None:
    head = bytearray(encode_acquisition(_acq(rng))[2 : 2 + ACQUISITION_HEADER_SIZE])
    struct.pack_into("<H", head, 38, LIMITS["channels"] + 1)  # active_channels
    with pytest.raises(ProtocolError, match="not plausible"):
        read_message(_reader(struct.pack("<H", 1008) + bytes(head)))
    struct.pack_into("<H", head, 38, 4096)
    struct.pack_into("<H", head, 34, 65535)  # number_of_samples: 4096 × 65535 × 8 bytes
    with pytest.raises(ProtocolError, match="more than the limit"):
        read_message(_reader(struct.pack("<H", 1008) + bytes(head)))
    short = encode_acquisition(_acq(rng))[:-5]
    with pytest.raises(ProtocolError, match="stream ended inside acquisition"):
        read_message(_reader(short))


def test_config_name_must_fit() -> None:
    with pytest.raises(ProtocolError, match="at most 1023"):
        encode_config_file("x" * 1024)
