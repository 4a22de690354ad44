"""A client of the MRD streaming protocol: stream an ISMRMRD raw file, collect the images.

Works with any MRD server (``mrrecon serve``, the ``ismrmrd-server`` reference, a
Gadgetron that listens for MRD streams): it sends a config-file (or config-text)
message, the file's XML header, every acquisition in file order with the file's waveforms
(physiology, ``/dataset/waveforms``) merged in by time stamp, and a close message, while a
second thread reads what comes back (images, text) until the server's close. (The
``ismrmrd-server`` reference client sends all waveforms before the first acquisition, and
only with ``--send-waveforms``; merging by time stamp is the order a scanner sends them in.)
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from recon_engine.data.flags import flag_mask
from recon_engine.errors import FileFormatError, ReconError
from recon_engine.server.protocol import (
    MessageId,
    ProtocolError,
    StreamEnded,
    encode_acquisition_parts,
    encode_close,
    encode_config_file,
    encode_config_text,
    encode_metadata,
    encode_waveform_parts,
    read_message,
)

__all__ = ["StreamResult", "file_messages", "read_raw", "read_waveforms", "stream_file", "stream_messages"]

_TRIGGER = flag_mask("ACQ_LAST_IN_SLICE", "ACQ_LAST_IN_REPETITION", "ACQ_LAST_IN_MEASUREMENT")

Key = tuple[int, int]
"""(slice, repetition) of an acquisition that ends a slice."""


@dataclass
class StreamResult:
    """What a stream got back.

    Attributes
    ----------
    images
        ``ismrmrd.Image`` in arrival order.
    texts
        Text messages (``WARNING: ...``, ``ERROR: ...``).
    closed
        Whether the server ended with a close message.
    header_xml
        The XML header that was sent.
    acquisitions
        Number of acquisitions sent.
    waveforms
        Number of waveforms sent.
    seconds
        From connecting to the server's close.
    latencies_s
        Per image: from sending the last acquisition of its slice (the one flagged
        ``ACQ_LAST_IN_SLICE``) to receiving the image; NaN where no such flag was sent.
    error
        Why receiving stopped early (connection lost, garbage), else None.
    """

    images: list[Any] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    closed: bool = False
    header_xml: str = ""
    acquisitions: int = 0
    waveforms: int = 0
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def errors(self) -> list[str]:
        """The text messages that report errors."""
        return [t for t in self.texts if t.startswith("ERROR")]


def read_raw(path: Path) -> tuple[str, np.ndarray]:
    """The XML header and the acquisition records (``head``, ``traj``, ``data``) of an ISMRMRD file."""
    from recon_engine.io.ismrmrd_read import find_raw_group

    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            group = find_raw_group(f)
            if group is None:
                raise FileFormatError(f"{path}: no ISMRMRD raw dataset (group with 'xml' and 'data')")
            raw = f[group]["xml"][0]
            records = f[group]["data"][()]
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 (ISMRMRD) file ({exc})") from exc
    xml = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    return xml, records


#: The 40-byte ``WaveformHeader`` as a NumPy record (C layout, as ``ismrmrd.hdf5`` defines it).
_WAVEFORM_HEAD = np.dtype(
    [
        ("version", "<u2"),
        ("flags", "<u8"),
        ("measurement_uid", "<u4"),
        ("scan_counter", "<u4"),
        ("time_stamp", "<u4"),
        ("number_of_samples", "<u2"),
        ("channels", "<u2"),
        ("sample_time_us", "<f4"),
        ("waveform_id", "<u2"),
    ],
    align=True,
)


def read_waveforms(path: Path) -> list[tuple[bytes, np.ndarray, int]]:
    """The waveforms (physiology) of an ISMRMRD file: ``(40 header bytes, uint32 samples, time stamp)``.

    Empty when the file has none (``/dataset/waveforms`` absent).

    Raises
    ------
    FileFormatError
        A waveform whose sample count does not match its header.
    """
    from recon_engine.io.ismrmrd_read import find_raw_group

    with h5py.File(path, "r") as f:
        group = find_raw_group(f)
        if group is None or "waveforms" not in f[group]:
            return []
        records = f[group]["waveforms"][()]
    out: list[tuple[bytes, np.ndarray, int]] = []
    for i, rec in enumerate(records):
        head = np.zeros((), _WAVEFORM_HEAD)
        for name in _WAVEFORM_HEAD.names or ():
            head[name] = rec["head"][name]
        data = np.asarray(rec["data"], dtype="<u4")
        if data.size != int(head["channels"]) * int(head["number_of_samples"]):
            raise FileFormatError(
                f"{path}: waveform {i} holds {data.size} samples, its header says "
                f"{int(head['channels'])} channels × {int(head['number_of_samples'])}"
            )
        out.append((head.tobytes(), data, int(head["time_stamp"])))
    return out


def file_messages(
    path: str | os.PathLike[str],
    *,
    config: str = "default",
    config_text: str | None = None,
    repetitions: int = 1,
    waveforms: bool = True,
) -> Iterator[tuple[bytes, Key | None]]:
    """The messages that stream an ISMRMRD raw file, with the slice key of slice-ending readouts.

    Parameters
    ----------
    path
        ISMRMRD raw data file.
    config
        Name sent in the config-file message (a recipe or method the server knows).
    config_text
        Send this as a config-text message instead (e.g. a recipe's YAML).
    repetitions
        Send the imaging readouts this many times with ``idx.repetition`` = 0, 1, ...
        (for throughput measurements; noise scans and waveforms are sent once).
    waveforms
        Send the file's waveforms, each before the first acquisition with a later
        ``acquisition_time_stamp`` than its ``time_stamp`` (the rest before the close).

    Yields
    ------
    tuple
        ``(message bytes, (slice, repetition) or None)``; the close message is last.

    Raises
    ------
    FileFormatError
        Missing or non-ISMRMRD file.
    """
    from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype

    xml, records = read_raw(Path(path))
    dt = acquisition_header_dtype()
    noise = flag_mask("ACQ_IS_NOISE_MEASUREMENT")
    yield (encode_config_file(config) if config_text is None else encode_config_text(config_text)), None
    yield encode_metadata(xml), None
    heads = np.asarray(records["head"]).astype(dt)
    waves = sorted(read_waveforms(Path(path)), key=lambda w: w[2]) if waveforms else []
    w = 0
    for rep in range(max(1, repetitions)):
        for i in range(len(records)):
            h = heads[i].copy()
            while rep == 0 and w < len(waves) and waves[w][2] <= int(h["acquisition_time_stamp"]):
                yield encode_waveform_parts(waves[w][0], waves[w][1]), None
                w += 1
            is_noise = bool(int(h["flags"]) & noise)
            if is_noise and rep > 0:
                continue
            if not is_noise:
                h["idx"]["repetition"] = int(h["idx"]["repetition"]) + rep
            traj = np.asarray(records["traj"][i], dtype=np.float32)
            data = np.asarray(records["data"][i], dtype=np.float32)
            msg = encode_acquisition_parts(h.tobytes(), traj if traj.size else None, data)
            key = (
                (int(h["idx"]["slice"]), int(h["idx"]["repetition"])) if int(h["flags"]) & _TRIGGER else None
            )
            yield msg, key
    for head, data, _ in waves[w:]:
        yield encode_waveform_parts(head, data), None
    yield encode_close(), None


def _receive(sock: socket.socket, result: StreamResult, sent: dict[Key, float]) -> None:
    from recon_engine.server.server import SocketReader

    read = SocketReader(sock)
    while True:
        try:
            msg = read_message(read)
        except StreamEnded:
            result.error = "the server closed the connection without a close message"
            return
        except (ProtocolError, OSError) as exc:
            result.error = " ".join(str(exc).split())
            return
        now = time.perf_counter()
        if msg.id is MessageId.CLOSE:
            result.closed = True
            return
        if msg.id is MessageId.TEXT:
            result.texts.append(msg.text or "")
        elif msg.id is MessageId.IMAGE:
            im = msg.item
            t = sent.get((int(im.slice), int(im.repetition)))
            result.images.append(im)
            result.latencies_s.append(now - t if t is not None else float("nan"))


def stream_messages(
    messages: Iterable[tuple[bytes, Key | None]],
    host: str = "127.0.0.1",
    port: int = 9002,
    *,
    timeout_s: float = 300.0,
) -> StreamResult:
    """Send messages to an MRD server and collect its replies until it closes.

    Raises
    ------
    ReconError
        The server cannot be reached.
    """
    result = StreamResult()
    sent: dict[Key, float] = {}
    t0 = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise ReconError(f"cannot connect to an MRD server at {host}:{port}: {exc}") from exc
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        receiver = threading.Thread(target=_receive, args=(sock, result, sent), daemon=True)
        receiver.start()
        try:
            for msg, key in messages:
                sock.sendall(msg)
                if key is not None:
                    sent[key] = time.perf_counter()
                kind = int.from_bytes(msg[:2], "little") if len(msg) > 2 else 0
                if kind == MessageId.ACQUISITION:
                    result.acquisitions += 1
                elif kind == MessageId.WAVEFORM:
                    result.waveforms += 1
        except OSError as exc:  # the server hung up: keep what it said
            result.error = f"sending failed: {exc}"
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        receiver.join(timeout_s)
    result.seconds = time.perf_counter() - t0
    return result


def stream_file(
    path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 9002,
    *,
    config: str = "default",
    config_text: str | None = None,
    timeout_s: float = 300.0,
    waveforms: bool = True,
) -> StreamResult:
    """Stream an ISMRMRD raw file to an MRD server and return what came back.

    Parameters
    ----------
    path
        ISMRMRD raw data (``.h5``/``.mrd``).
    host, port
        The server.
    config
        Config name (``mrrecon serve``: ``default``, a method such as ``sense``, or a recipe
        in its recipe directory).
    config_text
        Send a config-text message with this text instead (e.g. a recipe YAML).
    timeout_s
        Socket timeout and the longest wait for the server's close.
    waveforms
        Also send the file's waveforms (physiology), merged in by time stamp.

    Returns
    -------
    StreamResult

    Raises
    ------
    FileFormatError
        Missing or non-ISMRMRD input.
    ReconError
        The server cannot be reached.
    """
    messages = list(file_messages(path, config=config, config_text=config_text, waveforms=waveforms))
    result = stream_messages(messages, host, port, timeout_s=timeout_s)
    result.header_xml = read_raw(Path(path))[0]
    return result
