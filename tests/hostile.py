"""A small hostile HTTP server on loopback: each test scripts what it sends, byte by byte if it likes.

The simulator answers like CodeArts; this one answers like an attacker or a broken middlebox: redirects
to another host, status lines dripped a byte at a time, listings that never end, error messages with
forged log lines. Every pause waits on :attr:`HostileServer.stopping`, so stopping never waits a drip out.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    """One request as received: method, path, query and headers (names lower-case), body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[["HostileServer", socket.socket, Request], None]


def response(status: int, body: bytes | str | object = b"", headers: dict[str, str] | None = None,
             reason: str = "X") -> bytes:
    """A whole HTTP/1.1 answer; a body that is not bytes or str is sent as JSON."""
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(data)}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data


class HostileServer:
    """Threaded TCP server on 127.0.0.1; ``behaviour(server, connection, request)`` answers each request."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.stopping = threading.Event()
        self.requests: list[Request] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, end every pause, close every connection."""
        self.stopping.set()
        for sock in [self._listener, *self._open]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept or recv on it
        self._listener.close()
        self._thread.join(5)

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the server is stopping (the behaviour should return)."""
        return not self.stopping.wait(seconds)

    def drip(self, conn: socket.socket, data: bytes, every: float, piece: int = 1) -> None:
        """Send ``data`` ``piece`` bytes at a time, ``every`` seconds apart, until done or stopped."""
        for start in range(0, len(data), piece):
            if not self.pause(every):
                return
            try:
                conn.sendall(data[start:start + piece])
            except OSError:
                return

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open.append(conn)
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            while not self.stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                self.behaviour(self, conn, request)
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()


def _read_request(reader) -> Request | None:  # noqa: ANN001 - a socket file
    line = reader.readline(65536)
    if not line.strip():
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := reader.readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0") or 0))
    parts = urlsplit(target)
    return Request(method, parts.path, parse_qs(parts.query), headers, body)
