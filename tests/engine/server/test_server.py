"""mrrecon's MRD server and client on 127.0.0.1 (one module-scoped server on an ephemeral port)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import recon_engine as mr
from recon_engine.cli import main
from recon_engine.recipe import Recipe
from recon_engine.server import MRDServer, ServerSettings, file_messages, stream_file, stream_messages
from recon_engine.server.protocol import IMAGE_HEADER_SIZE, MessageId, read_message
from recon_engine.server.server import SocketReader
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLES = sorted((ROOT / "sample_data").glob("*.h5"))
R2 = ROOT / "sample_data" / "phantom_R2.h5"
CXFLOAT = 7  # ISMRMRD_CXFLOAT


@pytest.fixture(scope="module")
def recipe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("recipes")
    Recipe.create(R2, method="sense", device="cpu", options={"iterations": 5}).save(d / "sense5.yaml")
    return d


@pytest.fixture(scope="module")
def server(recipe_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MRDServer]:
    save = tmp_path_factory.mktemp("saved")
    srv = MRDServer(
        ("127.0.0.1", 0),
        ServerSettings(recipe_dir=recipe_dir, save_dir=save, device="cpu"),
        idle_timeout_s=30,
    )
    srv.start_background()
    try:
        yield srv
    finally:
        srv.stop()


_OFFLINE: dict[tuple[str, str], Any] = {}


def _offline(path: Path, method: str, **options: Any) -> Any:
    key = (str(path), method + repr(sorted(options.items())))
    if key not in _OFFLINE:
        _OFFLINE[key] = mr.reconstruct(mr.read(path), method=method, device="cpu", **options)
    return _OFFLINE[key]


def _close(a: np.ndarray, b: np.ndarray) -> None:
    scale = float(np.abs(b).max())
    assert float(np.abs(a - b).max()) <= 1e-5 * scale


def _raw_session(port: int, payload: bytes, *, half_close: bool = True) -> tuple[list[str], bool]:
    """Send bytes, return (texts, closed-by-server) of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(payload)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        read = SocketReader(s)
        texts: list[str] = []
        while True:
            try:
                msg = read_message(read)
            except Exception:
                return texts, False
            if msg.id is MessageId.CLOSE:
                return texts, True
            if msg.id is MessageId.TEXT:
                texts.append(msg.text or "")


def _messages(path: Path, config: str = "sense") -> list[bytes]:
    return [m for m, _ in file_messages(path, config=config)]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_stream_equals_offline_reconstruction(server: MRDServer, path: Path) -> None:
    result = stream_file(path, port=server.port, config="sense", timeout_s=60)
    assert result.closed and result.texts == [] and result.error is None
    assert len(result.images) == 1
    im = result.images[0]
    ref = _offline(path, "sense")
    _close(im.data, ref.numpy().reshape(im.data.shape))
    g = ref.geometry
    assert (im.image_index, im.image_series_index, im.slice, im.repetition) == (1, 1, 0, 0)
    assert (im.data_type, im.image_type, im.channels) == (CXFLOAT, 5, 1)
    assert tuple(im.matrix_size) == (128, 128, 1)
    np.testing.assert_allclose(list(im.field_of_view), g.fov_mm, rtol=1e-6)
    np.testing.assert_allclose(list(im.position), g.position_mm, atol=1e-4)
    for name in ("read_dir", "phase_dir", "slice_dir"):
        np.testing.assert_allclose(list(getattr(im, name)), getattr(g, name), atol=1e-6)
    assert np.isfinite(result.latencies_s[0]) and result.latencies_s[0] > 0


def test_repetitions_are_reconstructed_as_they_complete(server: MRDServer) -> None:
    result = stream_messages(file_messages(R2, config="direct", repetitions=3), port=server.port)
    assert result.closed and result.texts == []
    assert [(im.image_index, im.repetition) for im in result.images] == [(1, 0), (2, 1), (3, 2)]
    ref = _offline(R2, "direct").numpy()
    for im in result.images:
        _close(im.data, ref.reshape(im.data.shape))


def test_two_clients_at_once(server: MRDServer) -> None:
    paths = [R2, SAMPLES[-1]]
    out: dict[int, Any] = {}

    def go(i: int) -> None:
        out[i] = stream_file(paths[i], port=server.port, config="grappa", timeout_s=60)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, path in enumerate(paths):
        assert out[i].closed and len(out[i].images) == 1
        _close(out[i].images[0].data, _offline(path, "grappa").numpy().reshape(out[i].images[0].data.shape))


def test_garbage_gets_an_error_and_the_server_keeps_serving(server: MRDServer) -> None:
    msgs = _messages(R2)
    acq = msgs[2]
    cases = {
        "truncated": (msgs[0] + msgs[1] + acq[: len(acq) // 2], "stream ended inside acquisition"),
        "unknown id": (msgs[0] + msgs[1] + struct.pack("<H", 777), "unknown message id 777"),
        "bad xml": (msgs[0] + struct.pack("<HI", 3, 8) + b"<not xml", "bad metadata XML"),
        "absurd length": (msgs[0] + struct.pack("<HI", 3, 0xFFFFFFF0), "more than the limit"),
        "no metadata": (msgs[0] + acq, "acquisition before the metadata"),
    }
    for name, (payload, expected) in cases.items():
        texts, closed = _raw_session(server.port, payload)
        assert closed, name
        assert len(texts) == 1 and texts[0].startswith("ERROR") and expected in texts[0], (name, texts)
    # a client that vanishes mid-stream without reading anything
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(msgs[0] + msgs[1] + acq[:100])
    ok = stream_file(R2, port=server.port, config="direct")
    assert ok.closed and len(ok.images) == 1 and ok.texts == []


def test_stream_without_close_still_reconstructs_with_a_warning(server: MRDServer) -> None:
    msgs = _messages(R2, "direct")
    texts, closed = _raw_session(server.port, b"".join(msgs[:-1]))
    assert closed
    assert texts and texts[0].startswith("WARNING") and "without a close message" in texts[0]


def test_config_names_a_recipe_or_falls_back_with_a_warning(server: MRDServer) -> None:
    named = stream_file(R2, port=server.port, config="sense5")
    assert named.texts == []
    _close(
        named.images[0].data, _offline(R2, "sense", iterations=5).numpy().reshape(named.images[0].data.shape)
    )
    unknown = stream_file(R2, port=server.port, config="../etc/passwd")
    assert unknown.closed and len(unknown.images) == 1
    assert unknown.texts[0].startswith("WARNING: unknown config")
    text = Recipe(input_file="x", method="grappa", device="cpu").to_yaml()
    by_text = stream_file(R2, port=server.port, config_text=text)
    assert by_text.texts == []
    _close(by_text.images[0].data, _offline(R2, "grappa").numpy().reshape(by_text.images[0].data.shape))


def test_byte_level_messages_built_from_the_protocol_description(server: MRDServer) -> None:
    """An encoder and decoder written here from the MRD description, independent of ismrmrd and ours."""
    with h5py.File(R2, "r") as f:
        xml = f["dataset/xml"][0]
        rec = f["dataset/data"][()]
    head = rec["head"]

    def acq_header(h: Any) -> bytes:
        idx = h["idx"]
        b = struct.pack(
            "<HQIII3I",
            h["version"],
            h["flags"],
            h["measurement_uid"],
            h["scan_counter"],
            h["acquisition_time_stamp"],
            *h["physiology_time_stamp"],
        )
        b += struct.pack(
            "<HHH16Q",
            h["number_of_samples"],
            h["available_channels"],
            h["active_channels"],
            *h["channel_mask"],
        )
        b += struct.pack(
            "<HHHHHf",
            h["discard_pre"],
            h["discard_post"],
            h["center_sample"],
            h["encoding_space_ref"],
            h["trajectory_dimensions"],
            h["sample_time_us"],
        )
        for name in ("position", "read_dir", "phase_dir", "slice_dir", "patient_table_position"):
            b += struct.pack("<3f", *h[name])
        b += struct.pack(
            "<9H8H",
            *(
                idx[n]
                for n in (
                    "kspace_encode_step_1",
                    "kspace_encode_step_2",
                    "average",
                    "slice",
                    "contrast",
                    "phase",
                    "repetition",
                    "set",
                    "segment",
                )
            ),
            *idx["user"],
        )
        b += struct.pack("<8i8f", *h["user_int"], *h["user_float"])
        assert len(b) == 340
        return b

    stream = struct.pack("<H", 1) + b"sense".ljust(1024, b"\0")
    stream += struct.pack("<HI", 3, len(xml)) + xml
    for i in range(len(rec)):
        stream += struct.pack("<H", 1008) + acq_header(head[i])
        stream += np.asarray(rec["traj"][i], "<f4").tobytes() + np.asarray(rec["data"][i], "<f4").tobytes()
    stream += struct.pack("<H", 4)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
        s.sendall(stream)
        reply = b""
        while chunk := s.recv(1 << 16):
            reply += chunk
    assert struct.unpack_from("<H", reply, 0)[0] == 1022
    h = reply[2 : 2 + IMAGE_HEADER_SIZE]
    (data_type,) = struct.unpack_from("<H", h, 2)
    matrix = struct.unpack_from("<3H", h, 16)
    fov = struct.unpack_from("<3f", h, 22)
    (channels,) = struct.unpack_from("<H", h, 34)
    position = struct.unpack_from("<3f", h, 36)
    (slice_,) = struct.unpack_from("<H", h, 98)
    image_type, image_index, series = struct.unpack_from("<3H", h, 124)
    (attr_len,) = struct.unpack_from("<I", h, 194)
    assert (data_type, matrix, channels, slice_, image_type, image_index, series) == (
        CXFLOAT,
        (128, 128, 1),
        1,
        0,
        5,
        1,
        1,
    )
    ref = _offline(R2, "sense")
    np.testing.assert_allclose(fov, ref.geometry.fov_mm, rtol=1e-6)
    np.testing.assert_allclose(position, ref.geometry.position_mm, atol=1e-4)
    (n_attr,) = struct.unpack_from("<Q", reply, 2 + IMAGE_HEADER_SIZE)
    assert n_attr == attr_len
    start = 2 + IMAGE_HEADER_SIZE + 8 + n_attr
    pixels = np.frombuffer(reply, "<c8", count=128 * 128, offset=start)
    _close(pixels.reshape(128, 128), ref.numpy().reshape(128, 128))
    assert reply[start + 128 * 128 * 8 :] == struct.pack("<H", 4)


def test_ismrmrd_protocol_serializer_as_the_client(server: MRDServer, tmp_path: Path) -> None:
    """The client side written with ismrmrd 1.15's own ProtocolSerializer/Deserializer."""
    import shutil
    import warnings

    from ismrmrd.serialization import ConfigFile, ProtocolDeserializer, ProtocolSerializer

    with warnings.catch_warnings():
        import ismrmrd

    copy = tmp_path / "r2.h5"
    shutil.copyfile(R2, copy)  # ismrmrd.Dataset opens files for writing
    ds = ismrmrd.Dataset(str(copy), "dataset", False)
    try:
        header = ismrmrd.xsd.CreateFromDocument(ds.read_xml_header())
        acqs = [ds.read_acquisition(i) for i in range(ds.number_of_acquisitions())]
    finally:
        ds.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
        wfile, rfile = s.makefile("wb"), s.makefile("rb")
        with ProtocolSerializer(wfile) as ser:
            ser.serialize(ConfigFile("sense"))
            ser.serialize(header)
            for a in acqs:
                ser.serialize(a)
        items = list(ProtocolDeserializer(rfile).deserialize())
        wfile.close()
        rfile.close()
    assert len(items) == 1
    _close(items[0].data, _offline(R2, "sense").numpy().reshape(items[0].data.shape))


def test_cli_stream_saves_npy_and_h5(server: MRDServer, tmp_path: Path) -> None:
    from recon_engine.io.ismrmrd_images import read_ismrmrd_images

    port = str(server.port)
    assert (
        main(["stream", str(R2), "--port", port, "--config", "sense", "-o", str(tmp_path / "a.npy"), "-q"])
        == 0
    )
    ref = _offline(R2, "sense").numpy().reshape(128, 128)
    _close(np.load(tmp_path / "a.npy"), ref)
    assert (
        main(["stream", str(R2), "--port", port, "--config", "sense", "-o", str(tmp_path / "a.h5"), "-q"])
        == 0
    )
    img = read_ismrmrd_images(tmp_path / "a.h5")
    _close(img.numpy().reshape(128, 128), ref)
    np.testing.assert_allclose(
        img.geometry.position_mm, _offline(R2, "sense").geometry.position_mm, atol=1e-4
    )
    assert any(server.settings.save_dir.glob("*.h5"))  # type: ignore[union-attr]


def test_cli_stream_without_server_is_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert main(["stream", str(R2), "--port", str(free), "-o", str(tmp_path / "x.npy")]) == 2
    assert "cannot connect to an MRD server" in capsys.readouterr().err


def test_two_slices_come_back_as_two_images_with_their_positions(server: MRDServer) -> None:
    """The R = 2 file sent as slice 0 and again as slice 1 (10 mm further along the slice direction)."""
    from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype
    from recon_engine.server.protocol import encode_acquisition_parts, encode_close, encode_config_file
    from recon_engine.server.protocol import encode_metadata as meta

    with h5py.File(R2, "r") as f:
        xml = f["dataset/xml"][0].decode()
        rec = f["dataset/data"][()]
    heads = np.asarray(rec["head"]).astype(acquisition_header_dtype())
    noise = (heads["flags"] & np.uint64(1 << 18)) != 0  # ACQ_IS_NOISE_MEASUREMENT
    msgs = [encode_config_file("direct"), meta(xml)]
    for s in (0, 1):
        for i in range(len(rec)):
            if noise[i] and s:
                continue
            h = heads[i].copy()
            if not noise[i]:
                h["idx"]["slice"] = s
                h["position"] = h["position"] + s * 10.0 * h["slice_dir"]
            msgs.append(encode_acquisition_parts(h.tobytes(), None, np.asarray(rec["data"][i], np.float32)))
    msgs.append(encode_close())
    result = stream_messages([(m, None) for m in msgs], port=server.port)
    assert result.closed and result.texts == []
    assert [(im.image_index, im.slice) for im in result.images] == [(1, 0), (2, 1)]
    ref = _offline(R2, "direct")
    p0, p1 = (np.array(list(im.position)) for im in result.images)
    np.testing.assert_allclose(p0, ref.geometry.position_mm, atol=1e-4)
    np.testing.assert_allclose(p1 - p0, 10.0 * np.asarray(ref.geometry.slice_dir), atol=1e-4)
    for im in result.images:
        _close(im.data, ref.numpy().reshape(im.data.shape))


def test_mrrecon_serve_process_serves_and_stops_on_interrupt(tmp_path: Path) -> None:
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "recon_engine.cli", "serve", "--port", "0", "-q"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        result = stream_file(R2, port=port, config="direct", timeout_s=60)
        assert result.closed and len(result.images) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
