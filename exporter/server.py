"""The HTTP endpoints: /metrics, /healthz, /readyz and the landing page. Never calls CodeArts."""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from exporter import __version__
from exporter.exposition import Exposition, negotiate
from exporter.landing import LandingInfo, render_landing
from exporter.limits import ACCEPT_PAUSE, LISTEN_BACKLOG, ServerTimeouts
from exporter.snapshot import Snapshot
from exporter.watchdog import WATCHDOG, Watch
from exporter.webconfig import BasicAuth, WebConfig

log = logging.getLogger(__name__)

MAX_POST_BODY = 4096  # bytes of a POST /-/reload body read and dropped (Prometheus' tools send none)
TLS_HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to finish the TLS handshake
TLS_WRITE_BYTES = 1 << 20  # TLS has no scatter/gather send: buffers are joined into writes of about this size
try:
    IOV_MAX = os.sysconf("SC_IOV_MAX")
except (AttributeError, OSError, ValueError):
    IOV_MAX = 1024
IOV_MAX = max(16, min(IOV_MAX, 1024))


def send_buffers(sock: socket.socket, buffers: tuple[bytes, ...]) -> None:
    """Send ``buffers`` in order with ``sendmsg`` (up to IOV_MAX per call), resuming after partial sends.

    A cached body is a few dozen buffers (headers and each family's lines): one write per buffer would
    cost a system call each, and joining them would copy the whole body per scrape.
    """
    for start in range(0, len(buffers), IOV_MAX):
        batch = [memoryview(buffer) for buffer in buffers[start:start + IOV_MAX] if buffer]
        first = 0
        while first < len(batch):
            sent = sock.sendmsg(batch[first:first + IOV_MAX])
            while first < len(batch) and sent >= len(batch[first]):
                sent -= len(batch[first])
                first += 1
            if sent:
                batch[first] = batch[first][sent:]


def _coalesced(buffers: tuple[bytes, ...], size: int) -> Iterator[bytes]:
    pending: list[bytes] = []
    pending_bytes = 0
    for buffer in buffers:
        pending.append(buffer)
        pending_bytes += len(buffer)
        if pending_bytes >= size:
            yield b"".join(pending)
            pending, pending_bytes = [], 0
    if pending:
        yield b"".join(pending)


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` or ``[v6]:port`` to a (host, port) pair; an empty host means all."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"--web.listen-address: expected HOST:PORT or :PORT, got {address!r}")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port_text)  # noqa: S104 - listening on all interfaces is the exporter norm


class ExporterHTTPServer(ThreadingHTTPServer):
    """A threading server that knows the exposition and where to read the latest snapshot."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG  # socketserver's 5 dropped SYNs from 50 parallel scrapers
    EXHAUSTED_LOG_EVERY = 60.0  # seconds between warnings while file descriptors stay exhausted

    def __init__(
        self,
        address: tuple[str, int],
        exposition: Exposition,
        snapshot: Callable[[], Snapshot],
        web: WebConfig | None = None,
        *,
        stale_after: float | None = None,
        clock: Callable[[], float] = time.time,
        landing: Callable[[], LandingInfo] | None = None,
        timeouts: ServerTimeouts | None = None,
    ) -> None:
        self.timeouts = timeouts or ServerTimeouts()
        self._exhausted_since: float | None = None
        self._exhausted_logged_at = 0.0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        web = web or WebConfig()
        self.ssl_context = web.tls.context() if web.tls else None  # before binding: a bad cert fails fast
        self.basic_auth = BasicAuth(web.users)
        super().__init__(address, _Handler)
        self.exposition = exposition
        self.snapshot = snapshot
        self.stale_after = stale_after
        self.clock = clock
        self.started_at = clock()
        self.landing = landing or (lambda: LandingInfo(__version__, interval=0.0))
        # POST /-/reload (Prometheus' lifecycle API): set with --web.enable-lifecycle; returns None when the
        # configuration was reloaded, else why it was refused.
        self.reload: Callable[[], str | None] | None = None

    def readiness(self) -> tuple[bool, str]:
        """Ready once every target was polled, until no target has succeeded for ``stale_after`` seconds."""
        snapshot = self.snapshot()
        if not snapshot.all_polled():
            waiting = sum(1 for state in snapshot.states if not state.polled)
            return False, f"waiting for the first poll of {waiting} targets"
        if self.stale_after is not None:
            since = snapshot.last_success() or self.started_at
            if self.clock() - since > self.stale_after:
                return False, f"no target has succeeded for over {self.stale_after:g}s"
        return True, "ready"

    def get_request(self) -> tuple[socket.socket, object]:
        """Accept one connection. Out of file descriptors, say so (at most once a minute) and rest a moment:
        the listening socket stays readable, so retrying at once spun the accept loop at 100 % CPU."""
        try:
            accepted = super().get_request()
        except OSError as err:
            if err.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                raise
            now = time.monotonic()
            if self._exhausted_since is None:
                self._exhausted_since = now
            if now - self._exhausted_logged_at >= self.EXHAUSTED_LOG_EVERY:
                self._exhausted_logged_at = now
                log.error("cannot accept connections: %s; new scrapes wait until connections close",
                          os.strerror(err.errno))
            time.sleep(ACCEPT_PAUSE)
            raise
        if self._exhausted_since is not None:
            log.warning("accepting connections again after %.1fs without file descriptors",
                        time.monotonic() - self._exhausted_since)
            self._exhausted_since, self._exhausted_logged_at = None, 0.0
        return accepted

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (or was cut at a timeout) is routine: one debug line, no traceback on stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.debug("connection from %s ended: %s", client_address, error)
            return
        log.exception("error while serving %s", client_address)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """Handle one connection; with TLS, the handshake runs here, on the connection's own thread."""
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(TLS_HANDSHAKE_TIMEOUT)
        # The socket timeout bounds each read of the handshake; the watchdog bounds the whole of it.
        watch = WATCHDOG.watch(time.monotonic() + TLS_HANDSHAKE_TIMEOUT, request)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            log.debug("TLS handshake with %s failed: %s", client_address, err)
            return
        finally:
            WATCHDOG.cancel(watch)
        tls.settimeout(self.timeouts.idle)
        try:
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)  # the caller closes the plain socket, which wrapping detached

    @property
    def url(self) -> str:
        """The base URL this server answers on."""
        address, port = self.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        if ":" in str(host):
            host = f"[{host}]"
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{port}"

    def serve_in_background(self) -> threading.Thread:
        """Serve on a daemon thread; :meth:`shutdown` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: ExporterHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = f"codearts-exporter/{__version__}"
    _head_only = False  # set while answering HEAD: the GET response's status and headers, no body

    def do_HEAD(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """Answer as GET would, without the body (monitoring probes and curl -I use HEAD)."""
        self._head_only = True
        try:
            self.do_GET()
        finally:
            self._head_only = False
    _watch: Watch | None = None

    def setup(self) -> None:
        """As the base class's, with the idle timeout on every read of the connection."""
        super().setup()
        self.connection.settimeout(self.server.timeouts.idle)

    def handle_one_request(self) -> None:
        """Wait up to the idle timeout for a request to start; from its first byte, the request line and
        headers must arrive within the header timeout, and the response must be sent within the write
        timeout (per-read timeouts alone let one byte every few seconds hold a connection for ever)."""
        try:
            if not self.rfile.peek(1):  # type: ignore[attr-defined]  # a BufferedReader; b"": the client closed
                self.close_connection = True
                return
        except (TimeoutError, OSError):  # idle for too long, or reset
            self.close_connection = True
            return
        self._watch = WATCHDOG.watch(time.monotonic() + self.server.timeouts.header, self.connection)
        try:
            super().handle_one_request()
        finally:
            WATCHDOG.cancel(self._watch)

    def parse_request(self) -> bool:
        """Parse the request line and headers; refuse what the header timeout cut short."""
        parsed = super().parse_request()
        watch = self._watch
        if watch is not None:
            WATCHDOG.cancel(watch)
            if watch.fired:
                self.close_connection = True
                return False
        self._watch = WATCHDOG.watch(time.monotonic() + self.server.timeouts.write, self.connection)
        return parsed

    def _authorized(self) -> bool:
        if self.server.basic_auth.enabled and not self.server.basic_auth.check(self.headers.get("Authorization")):
            # exporter-toolkit guards every path, the probes included
            self._send(401, "text/plain; charset=utf-8", b"Unauthorized\n",
                       {"WWW-Authenticate": 'Basic realm="codearts-exporter"'})
            return False
        return True

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """``/-/reload`` only (PUT too, as Prometheus): reload the configuration, 200 or 500 with the reason."""
        if not self._authorized() or not self._discard_body():
            return
        if urlsplit(self.path).path != "/-/reload":
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        reload = self.server.reload
        if reload is None:
            self._send(403, "text/plain; charset=utf-8", b"Lifecycle API is not enabled (--web.enable-lifecycle)\n")
            return
        refused = reload()
        if refused is None:
            self._send(200, "text/plain; charset=utf-8", b"configuration reloaded\n")
        else:
            self._send(500, "text/plain; charset=utf-8", f"failed to reload config: {refused}\n".encode())

    do_PUT = do_POST  # noqa: N815 - the name http.server dispatches to

    def _discard_body(self) -> bool:
        """Read and drop a request body (none is expected), so the connection stays usable; refuse a large one."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_POST_BODY:
            self.close_connection = True
            self._send(413, "text/plain; charset=utf-8", b"request body not accepted\n")
            return False
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # a body not read: the connection cannot carry another request
        elif length:
            self.rfile.read(length)
        return True

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        if not self._authorized():
            return
        path = urlsplit(self.path).path
        route = {
            "/metrics": self._metrics,
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/": self._landing,
        }.get(path)
        if route is None:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        route()

    def _metrics(self) -> None:
        fmt, content_type = negotiate(self.headers.get("Accept"))
        gzipped = accepts_gzip(self.headers.get("Accept-Encoding"))
        parts = self.server.exposition.parts(fmt, gzipped)
        headers = {"Content-Encoding": "gzip"} if gzipped else {}
        self._send(200, content_type, parts, {**headers, "Vary": "Accept-Encoding"})

    def _healthz(self) -> None:
        self._send(200, "text/plain; charset=utf-8", b"ok\n")

    def _readyz(self) -> None:
        ready, message = self.server.readiness()
        self._send(200 if ready else 503, "text/plain; charset=utf-8", f"{message}\n".encode())

    def _landing(self) -> None:
        page = render_landing(self.server.snapshot(), self.server.landing(), self.server.clock())
        self._send(200, "text/html; charset=utf-8", page.encode())

    def _send(self, status: int, content_type: str, body: bytes | tuple[bytes, ...],
              headers: dict[str, str] | None = None) -> None:
        parts = (body,) if isinstance(body, bytes) else body
        length = sum(len(part) for part in parts)
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                f"Content-Type: {content_type}", f"Content-Length: {length}",
                f"Server: {self.server_version}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        # Small parts go out with the head in one write; a large cached body is sent as is, not copied.
        if self._head_only:
            self.wfile.write(head_bytes)
        elif length < 65536:
            self.wfile.write(head_bytes + b"".join(parts))
        elif isinstance(self.connection, ssl.SSLSocket):
            for chunk in _coalesced((head_bytes, *parts), TLS_WRITE_BYTES):
                self.wfile.write(chunk)
        else:
            send_buffers(self.connection, (head_bytes, *parts))
        self.log_request(status, length)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True if ``Accept-Encoding`` allows gzip: listed (or ``*``) with a q-value above 0 (``gzip;q=0`` refuses it)."""
    quality: dict[str, float] = {}
    for item in (accept_encoding or "").lower().split(","):
        coding, _, parameters = item.partition(";")
        value = 1.0
        for parameter in parameters.split(";"):
            name, _, number = parameter.strip().partition("=")
            if name == "q":
                try:
                    value = float(number)
                except ValueError:
                    value = 0.0
        quality[coding.strip()] = value
    chosen = quality.get("gzip", quality.get("x-gzip", quality.get("*", 0.0)))
    return chosen > 0
