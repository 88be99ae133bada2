"""The simulator's HTTP core: dispatch through the route table, auth, faults and request counting.

Knows no CodeArts API: every route (its path, API, counter name, fault target and handler) comes from
:data:`exporter.simulator.routes.TABLE`, one module per API; see :mod:`exporter.simulator.routes` for how
to add one. For each request the core finds the first route that matches, then (for a guarded route)
checks the credentials (static token, IAM token or AK/SK signature) and the method, applies a fault if
one is set for the route or its target, and otherwise calls the handler; every answer is counted under
the route's name (``unknown`` when nothing matched).
"""

from __future__ import annotations

import hmac
import logging
import random
import re
import socket
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from exporter.simulator import faults
from exporter.simulator.faults import Fault, FaultSetting
from exporter.simulator.iam import IamService
from exporter.simulator.paging import BUILD_PAGING_MODES, REPO_PAGING_MODES
from exporter.simulator.replies import Reply
from exporter.simulator.routes import TABLE
from exporter.simulator.routing import GATEWAY, RequestContext, Route
from exporter.simulator.world import World

__all__ = [
    "BUILD_PAGING_MODES",
    "DEFAULT_TOKEN",
    "REPO_PAGING_MODES",
    "ROUTES",
    "Fault",
    "RequestRecord",
    "Simulator",
]

log = logging.getLogger(__name__)

# The routes faults can be set on (open routes, such as IAM's token route, take none).
ROUTES: tuple[str, ...] = tuple(route.name for route in TABLE if route.guarded)
DEFAULT_TOKEN = "sim-token"  # noqa: S105 - the simulator's well-known demo token, not a secret

# Every fault target a route names, e.g. build:<project_id> or repo:<repository_id>/<pipeline_id>.
_TARGET = re.compile("|".join(dict.fromkeys(f"(?:{route.target.pattern})" for route in TABLE if route.target)))


class RequestRecord(NamedTuple):
    """One request as the simulator saw it."""

    route: str  # a route name of the table, or unknown
    method: str
    path: str  # path with query
    status: int
    at: float = 0.0  # time.monotonic() when it was answered


class Simulator:
    """A fake CodeArts (Repo pipeline jobs + Build jobs) on a real loopback HTTP server."""

    def __init__(
        self,
        world: World,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = DEFAULT_TOKEN,
        repo_paging: str = "item",
        build_paging: str = "zero",
        iam: IamService | None = None,
        latency: float = 0.0,
        seed: int = 0,
    ) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency!r}")
        if repo_paging not in REPO_PAGING_MODES:
            raise ValueError(f"repo_paging must be one of {REPO_PAGING_MODES}, got {repo_paging!r}")
        if build_paging not in BUILD_PAGING_MODES:
            raise ValueError(f"build_paging must be one of {BUILD_PAGING_MODES}, got {build_paging!r}")
        self.world = world
        self.token = token
        self.repo_paging = repo_paging
        self.build_paging = build_paging
        self.iam = iam  # with IAM: also /v3/auth/tokens, and IAM tokens and AK/SK signatures are accepted
        self.latency = latency  # seconds every answer waits, like a far-away API (each connection has a thread)
        self._address = (host, port)
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._counts: Counter[str] = Counter()
        self._faults: dict[str, FaultSetting] = {}
        self._faults_cleared = threading.Event()  # set (and replaced) by clear_faults: ends fault delays
        self._rng = random.Random(seed)
        self._served = 0  # never reset: numbers X-Request-Id
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a background thread (returns once the port is bound)."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="codearts-simulator", daemon=True)
        self._thread.start()
        log.debug("simulator listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    # -- test controls ---------------------------------------------------------------------------

    def set_fault(self, route_or_target: str, fault: Fault | None, *, rate: float = 1.0,
                  delay: float | None = None, times: int | None = None) -> None:
        """Make a route (one of ``ROUTES``) or one target (``build:<project_id>``,
        ``repo:<repository_id>/<pipeline_id>``, ``repositories:<project_id>``, ``merge_requests:<repository_id>``)
        misbehave; None clears. A target's fault beats its route's.

        ``rate``: the share of requests (0..1, drawn from the simulator's seeded random) that show it;
        ``delay``: seconds for latency, slow-drip pauses and Retry-After (each has a default);
        ``times``: show it on that many requests, then clear it.
        """
        if route_or_target not in ROUTES and not _TARGET.fullmatch(route_or_target):
            raise ValueError(f"not a route or target: {route_or_target!r}")
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be within 0..1, got {rate!r}")
        with self._lock:
            if fault is None:
                self._faults.pop(route_or_target, None)
            else:
                self._faults[route_or_target] = FaultSetting(fault, rate, delay, times)

    def clear_faults(self) -> None:
        """Remove every fault; answers held back by a fault's delay are sent now."""
        with self._lock:
            self._faults.clear()
            cleared, self._faults_cleared = self._faults_cleared, threading.Event()
        cleared.set()

    def fault_pause(self, seconds: float) -> None:
        """Wait out a fault's delay, or until the faults are cleared (a test can hold a request in flight)."""
        with self._lock:
            cleared = self._faults_cleared
        cleared.wait(seconds)

    def request_count(self, route: str | None = None) -> int:
        """Requests answered on a route (a name in the route table, e.g. ``repo_jobs``, or ``unknown``); None: all."""
        with self._lock:
            return len(self._records) if route is None else self._counts[route]

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of every request record, oldest first."""
        with self._lock:
            return list(self._records)

    def reset_counts(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._records.clear()
            self._counts.clear()

    # -- request handling ------------------------------------------------------------------------

    def respond(self, method: str, target: str, headers: Any, body: bytes = b"") -> Reply:
        """Answer one request and record it."""
        name, reply = self._dispatch(method, target, headers, body)
        with self._lock:
            self._records.append(RequestRecord(name, method, target, reply.status, time.monotonic()))
            self._counts[name] += 1
            self._served += 1
            request_id = f"{self._served:032x}"
        return replace(reply, headers=(("X-Request-Id", request_id), *reply.headers))

    def _dispatch(self, method: str, target: str, headers: Any, body: bytes) -> tuple[str, Reply]:
        """(route name, reply) from the first route of the table that matches and is served here."""
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        for route in TABLE:
            match = route.path.fullmatch(parts.path)
            if match is None:
                continue
            context = RequestContext(method, target, query, body, match, self.world, self.repo_paging,
                                     self.build_paging, self.iam)
            if route.enabled(context):
                return route.name, self._answer(route, context, headers)
        return "unknown", GATEWAY.error(404)

    def _answer(self, route: Route, context: RequestContext, headers: Any) -> Reply:
        """For a guarded route, auth and method checks (the gateway authenticates first), then a fault if one
        is set; else the handler's answer."""
        if not route.guarded:
            return route.handler(context)
        if not self._credentials_ok(context.method, context.target, headers, context.body):
            return route.api.error(401)
        if context.method != route.method:
            return route.api.error(405)
        setting = self._draw_fault(route.name, route.target.key(context.match) if route.target else None)
        if setting is None:
            return route.handler(context)
        return faults.ACTIONS[setting.fault](route.api, lambda: route.handler(context), setting.delay_for())

    def _draw_fault(self, route: str, target: str | None) -> FaultSetting | None:
        """The fault this request shows (a target's beats its route's), counting down ``times``; None if none."""
        with self._lock:
            key = target if target is not None and target in self._faults else route
            setting = self._faults.get(key)
            if setting is None or not (setting.rate >= 1 or self._rng.random() < setting.rate):
                return None
            if setting.times is not None:
                if setting.times <= 1:
                    del self._faults[key]
                else:
                    self._faults[key] = replace(setting, times=setting.times - 1)
        return setting

    def _token_ok(self, headers: Any) -> bool:
        """The static token check: any request passes when the simulator has no token."""
        return self.token is None or hmac.compare_digest(
            (headers.get("X-Auth-Token") or "").encode(), self.token.encode()
        )

    def _credentials_ok(self, method: str, target: str, headers: Any, body: bytes) -> bool:
        """Static token, else (with IAM) an unexpired IAM token or a valid AK/SK signature."""
        if self.iam is None or (self.token is not None and self._token_ok(headers)):
            return self._token_ok(headers)
        token = headers.get("X-Auth-Token")
        if token:
            return self.iam.token_valid(token)
        return bool(headers.get("Authorization")) and self.iam.signature_valid(method, target, headers, body)


class _Server(ThreadingHTTPServer):
    """The HTTP server; keeps its open connections so that :meth:`Simulator.stop` can close them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Shut every open client connection down."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive; every response goes out in one write."""

    protocol_version = "HTTP/1.1"
    # Without this, Nagle's algorithm plus the client's delayed ACK cost ~40 ms per keep-alive request.
    disable_nagle_algorithm = True
    server_version = "codearts-simulator"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def _handle(self) -> None:
        body = self._read_body()
        if self.server.simulator.latency:
            time.sleep(self.server.simulator.latency)
        reply = self.server.simulator.respond(self.command, self.path, self.headers, body)
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a slow fault): not an error here
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length and length.strip().isdigit():
            return self.rfile.read(int(length))
        return b""

    def _write(self, reply: Reply) -> None:
        if reply.delay:
            self.server.simulator.fault_pause(reply.delay)
        if reply.reset:
            self.close_connection = True
            faults.reset_connection(self.connection, self.rfile)
            return
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
            *(f"{name}: {value}" for name, value in reply.headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if reply.drip:
            faults.drip(self.wfile, head, reply.body, reply.drip)
        else:
            self.wfile.write(head + reply.body)
        log.debug('%s "%s %s" %d %d', self.address_string(), self.command, self.path, reply.status,
                  len(reply.body))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        log.debug("%s " + format, self.address_string(), *args)

