"""``MRDServer``: online reconstruction over the MRD streaming protocol (``socketserver``).

Each connection runs in its own thread with its own :class:`~recon_engine.server.session.Session`.
A client that sends garbage (unknown id, bad XML, absurd lengths, a cut-off message)
gets an ``ERROR: ...`` text message and a close message, and is dropped; one that simply
disconnects is logged and dropped. The server keeps serving either way.

Example
-------
>>> server = MRDServer(("127.0.0.1", 0))            # doctest: +SKIP
>>> thread = server.start_background()               # doctest: +SKIP
>>> ... stream to server.port ...                     # doctest: +SKIP
>>> server.stop()                                      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Any

from recon_engine.server.protocol import (
    MessageId,
    ProtocolError,
    StreamEnded,
    encode_close,
    encode_text,
    read_message,
)
from recon_engine.server.session import ServerSettings, Session

__all__ = ["DEFAULT_PORT", "MRDServer", "SocketReader"]

log = logging.getLogger("recon_engine.server")

#: The port of the ismrmrd-server reference and of ``mrrecon serve``.
DEFAULT_PORT = 9002


class SocketReader:
    """``read_exactly(n)`` over a socket: ``n`` bytes, fewer only where the peer stopped sending."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __call__(self, n: int) -> bytes:
        """Read ``n`` bytes (fewer at the end of the stream)."""
        if n == 0:
            return b""
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                break
            buf += chunk
        return bytes(buf)


def _drain(sock: socket.socket, seconds: float = 1.0) -> None:
    """After an error reply: stop sending and read what the client still sends (briefly).

    Closing a socket with unread input resets the connection, and the client could lose
    the error text before reading it.
    """
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.1)
        end = time.monotonic() + seconds
        while time.monotonic() < end and sock.recv(1 << 16):
            pass


class _Handler(socketserver.BaseRequestHandler):
    server: MRDServer

    def handle(self) -> None:
        self.server.serve_connection(self.request, f"{self.client_address[0]}:{self.client_address[1]}")


class MRDServer(socketserver.ThreadingTCPServer):
    """A threaded TCP server that reconstructs MRD streams.

    Parameters
    ----------
    address
        ``(host, port)``; port 0 picks a free one (see :attr:`port`).
    settings
        Default recipe, recipe directory, save directory, device.
    idle_timeout_s
        A connection that sends nothing for this long is dropped.
    max_connections
        Connections served at once; one more gets an error text and is closed.
    """

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int] = ("127.0.0.1", DEFAULT_PORT),
        settings: ServerSettings | None = None,
        *,
        idle_timeout_s: float = 300.0,
        max_connections: int = 8,
    ) -> None:
        self.settings = settings or ServerSettings()
        self.idle_timeout_s = idle_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._active: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._served = 0
        self.finished: list[dict[str, Any]] = []
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server_address[1])

    def start_background(self) -> threading.Thread:
        """Serve in a daemon thread; stop with :meth:`stop`."""
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        """Stop accepting, close open connections, release the port."""
        self.shutdown()
        with self._lock:
            active = list(self._active)
        for s in active:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def _send(self, sock: socket.socket, data: bytes) -> None:
        sock.sendall(data)

    def serve_connection(self, sock: socket.socket, name: str) -> None:
        """Run one connection to its end (the handler thread calls this)."""
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                self._send(
                    sock, encode_text("ERROR: server busy (too many connections); try again") + encode_close()
                )
            log.warning("%s: refused, too many connections", name)
            return
        with self._lock:
            self._active.add(sock)
            self._served += 1
            number = self._served
        session = Session(self.settings, name=name)
        t0 = time.perf_counter()
        outcome = "closed"
        try:
            sock.settimeout(self.idle_timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            outcome = self._run(sock, session)
        except OSError as exc:  # the client went away: nobody to tell
            outcome = f"dropped: {exc.__class__.__name__}: {exc}"
            log.warning("%s: connection lost (%s)", name, exc)
        finally:
            with self._lock:
                self._active.discard(sock)
            self._slots.release()
            self._save(session, number)
            self.finished.append(
                {
                    "client": name,
                    "outcome": outcome,
                    "images": len(session.sent_images),
                    "waveforms": len(session.waveforms),
                    "messages": dict(session.counts),
                    "seconds": time.perf_counter() - t0,
                    "latencies_s": list(session.latencies_s),
                }
            )
            log.info("%s: %s after %d image(s)", name, outcome, len(session.sent_images))

    def _run(self, sock: socket.socket, session: Session) -> str:
        read = SocketReader(sock)
        while True:
            try:
                msg = read_message(read)
                replies = session.feed(msg)
            except StreamEnded as exc:
                replies = [encode_text(f"WARNING: {exc}; reconstructing what arrived"), *session.flush()]
                self._send(sock, b"".join([*replies, encode_close()]))
                return "ended without close"
            except TimeoutError:
                self._send(
                    sock, encode_text(f"ERROR: no data for {self.idle_timeout_s:g} s") + encode_close()
                )
                return "idle timeout"
            except Exception as exc:
                text = " ".join(str(exc).split())
                if not isinstance(exc, ProtocolError):
                    log.exception("%s: internal error", session.name)
                    text = f"internal server error: {type(exc).__name__}: {text}"
                log.warning("%s: %s", session.name, text)
                self._send(sock, encode_text(f"ERROR: {text}") + encode_close())
                _drain(sock)
                return f"error: {text}"
            if replies:
                self._send(sock, b"".join(replies))
            if msg.id is MessageId.CLOSE:
                self._send(sock, encode_close())
                return "closed"

    def _save(self, session: Session, number: int) -> None:
        d = self.settings.save_dir
        if d is None or not session.sent_images:
            return
        from recon_engine.server.convert import save_images

        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            save_images(
                session.sent_images, Path(d) / f"{stamp}-{number:04d}.h5", header_xml=session.header_xml
            )
        except Exception as exc:
            log.error("%s: saving the images failed: %s", session.name, exc)
