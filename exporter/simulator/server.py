"""The simulator's HTTP side: routes, auth, pagination semantics, faults and request counting.

Serves ``GET /v4/repositories/{repository_id}/pipelines/{pipeline_id}/jobs`` (CodeArts Repo) and
``GET /v3/{project_id}/jobs`` (CodeArts Build) from a :class:`World`, over HTTP/1.1 keep-alive; the
build records routes live in :mod:`~exporter.simulator.history`, the discovery routes (project
repositories, merge requests, head pipelines) in :mod:`~exporter.simulator.discovery`.
"""

from __future__ import annotations

import enum
import hmac
import logging
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from exporter.simulator import discovery, faults, history
from exporter.simulator.faults import FaultSetting
from exporter.simulator.iam import TOKENS_PATH, IamService
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.world import MAX_ID, World

log = logging.getLogger(__name__)

REPO_PAGING_MODES: tuple[str, ...] = ("item", "page0", "page1")
BUILD_PAGING_MODES: tuple[str, ...] = ("zero", "one-repeat", "one-reject")
ROUTES: tuple[str, ...] = ("repo_jobs", "build_jobs", *history.HISTORY_ROUTES, *discovery.DISCOVERY_ROUTES)
DEFAULT_TOKEN = "sim-token"  # noqa: S105 - the simulator's well-known demo token, not a secret

REPO_DEFAULT_LIMIT = 20
BUILD_DEFAULT_PAGE_SIZE = 10  # page_size is mandatory per the docs; 10 is ListProjectJobs' documented default
MAX_PAGE = 100

# (api, HTTP status) -> (error_code, error_msg). Repo 401/404 and Build 400/404/500 are documented;
# Repo 400/500 come from the Repo error-code table; Build 401 is invented (no documented code).
ERRORS: dict[tuple[str, int], tuple[str, str]] = {
    ("repo", 400): ("CH.010001", "Invalid parameter value format"),
    ("repo", 401): ("CH.00000002", "Recognize authentication information failed."),
    ("repo", 404): ("CH.00402000", "The repository does not exist. Check and try again."),
    ("repo", 405): ("CH.080403", "Access denied"),
    ("repo", 500): ("CH.000001", "Unknown error"),
    ("build", 400): ("CB.00060200", "Invalid parameter"),
    ("build", 401): ("CB.00060001", "Authentication failed"),
    ("build", 404): ("CB.00060214", "URL not found"),
    ("build", 405): ("CB.00060200", "Invalid parameter"),
    ("build", 500): ("CB.00060101", "Internal error"),
    ("gateway", 404): ("APIGW.0101", "The API does not exist or has not been published in the environment"),
}

_REPO_PATH = re.compile(r"/v4/repositories/(\d{1,10})/pipelines/(\d{1,10})/jobs/?")
_BUILD_PATH = re.compile(r"/v3/([^/]+)/jobs/?")
_TARGET = re.compile(r"(?:repo:\d+/\d+|build:[^/]+|repositories:[^/]+|merge_requests:\d+)")


class Fault(enum.Enum):
    """A misbehaviour the simulator can be told to show for a route or one target."""

    TRUNCATED_JSON = "truncated_json"  # 200, the right headers, the body cut in half
    HTTP_500 = "http_500"  # the API's internal-error body
    NOT_FOUND = "not_found"  # the API's not-found body
    # The rest live in faults.py.
    LATENCY = "latency"  # the normal answer after a delay (default 1 s; clearing the faults ends it early)
    THROTTLED = "throttled"  # 429 APIGW.0308 without Retry-After
    THROTTLED_RETRY_AFTER = "throttled_retry_after"  # 429 APIGW.0308 with Retry-After (default 1 s)
    BUILD_THROTTLED = "build_throttled"  # Build: HTTP 500 CB.00060211; Repo: 429
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    RESET = "reset"  # the connection is reset instead of answered
    WRONG_CONTENT_TYPE = "wrong_content_type"  # 200 with an HTML page
    SLOW_DRIP = "slow_drip"  # the normal answer, its body 64 bytes at a time (default 0.05 s apart)
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a fault name, not a password; 401 "The token must be updated"


class RequestRecord(NamedTuple):
    """One request as the simulator saw it."""

    route: str  # repo_jobs, build_jobs or unknown
    method: str
    path: str  # path with query
    status: int
    at: float = 0.0  # time.monotonic() when it was answered


def error_reply(api: str, status: int) -> Reply:
    """The API's error body for a status, e.g. ``{"error_code":"CB.00060200","error_msg":"Invalid parameter"}``."""
    code, message = ERRORS[(api, status)]
    return json_reply(status, {"error_code": code, "error_msg": message})


def _truncate(api: str, respond: Callable[[], Reply], delay: float = 0.0) -> Reply:
    reply = respond()
    return replace(reply, body=reply.body[: len(reply.body) // 2])


# How each fault answers, given the API flavour, the normal answer (called only if needed) and the
# setting's delay. Extend by adding a Fault member and a row here or in faults.ACTIONS.
FAULT_ACTIONS: dict[Fault, faults.Action] = {
    Fault.TRUNCATED_JSON: _truncate,
    Fault.HTTP_500: lambda api, respond, delay: error_reply(api, 500),
    Fault.NOT_FOUND: lambda api, respond, delay: error_reply(api, 404),
    **{Fault(name): action for name, action in faults.ACTIONS.items()},
}


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int | None:
    """The integer query parameter ``name``, ``default`` if absent or empty, None if not an integer."""
    values = query.get(name)
    text = values[0].strip() if values else ""
    if not text:
        return default
    if not re.fullmatch(r"-?\d{1,12}", text):
        return None
    return int(text)


def repo_start(mode: str, offset: int, limit: int) -> int:
    """The first item index a Repo ``offset`` designates under a paging mode."""
    if mode == "item":
        return offset
    if mode == "page0":
        return offset * limit
    return (max(offset, 1) - 1) * limit


def build_start(mode: str, page_index: int, page_size: int) -> int | None:
    """The first item index a Build ``page_index`` designates under a paging mode; None if refused."""
    if mode == "zero":
        return page_index * page_size
    if mode == "one-reject" and page_index == 0:
        return None
    return (max(page_index, 1) - 1) * page_size


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
        self._verdict = threading.local()  # the credential check of the request this thread is answering
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
        host, port = self._server.server_address[:2]
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
        """Requests answered on a route (``repo_jobs``, ``build_jobs``, ``unknown``); None: all of them."""
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
        parts = urlsplit(target)
        if self.iam is not None and parts.path.rstrip("/") == TOKENS_PATH:
            answer = self.iam.issue(method, body)
            route, reply = "iam_tokens", json_reply(answer.status, answer.payload, answer.headers)
        else:
            self._verdict.authorized = self._credentials_ok(method, target, headers, body)
            route, reply = self._dispatch(method, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                          headers)
        with self._lock:
            self._records.append(RequestRecord(route, method, target, reply.status, time.monotonic()))
            self._counts[route] += 1
            self._served += 1
            request_id = f"{self._served:032x}"
        return replace(reply, headers=(("X-Request-Id", request_id), *reply.headers))

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], headers: Any) -> tuple[str, Reply]:
        match = _REPO_PATH.fullmatch(path)
        if match:
            repository_id, pipeline_id = int(match[1]), int(match[2])
            return "repo_jobs", self._guarded("repo", "repo_jobs", f"repo:{repository_id}/{pipeline_id}",
                                              method, headers,
                                              lambda: self._repo_jobs(repository_id, pipeline_id, query))
        match = _BUILD_PATH.fullmatch(path)
        if match:
            project_id = match[1]
            return "build_jobs", self._guarded("build", "build_jobs", f"build:{project_id}", method, headers,
                                               lambda: self._build_jobs(project_id, query))
        return (history.dispatch(self, method, path, query, headers)
                or discovery.dispatch(self, method, path, query, headers)
                or ("unknown", error_reply("gateway", 404)))

    def _guarded(self, api: str, route: str, target: str, method: str, headers: Any,
                 answer: Callable[[], Reply]) -> Reply:
        """Auth and method checks (the gateway authenticates first), then a fault if one is set, else the answer."""
        if not self._authorized(headers):
            return error_reply(api, 401)
        if method != "GET":
            return error_reply(api, 405)
        with self._lock:
            key = target if target in self._faults else route
            setting = self._faults.get(key)
            shown = setting is not None and (setting.rate >= 1 or self._rng.random() < setting.rate)
            if shown and setting is not None and setting.times is not None:
                if setting.times <= 1:
                    del self._faults[key]
                else:
                    self._faults[key] = replace(setting, times=setting.times - 1)
        if setting is None or not shown:
            return answer()
        return FAULT_ACTIONS[setting.fault](api, answer, setting.delay_for())

    def _authorized(self, headers: Any) -> bool:
        verdict = getattr(self._verdict, "authorized", None)
        return self._token_ok(headers) if verdict is None else verdict

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

    def _repo_jobs(self, repository_id: int, pipeline_id: int, query: dict[str, list[str]]) -> Reply:
        offset = _int_param(query, "offset", 0)
        limit = _int_param(query, "limit", REPO_DEFAULT_LIMIT)
        if offset is None or limit is None or not 0 <= offset <= MAX_ID or not 1 <= limit <= MAX_PAGE:
            return error_reply("repo", 400)
        start = repo_start(self.repo_paging, offset, limit)
        page = self.world.pipeline_jobs_page(repository_id, pipeline_id, start, start + limit)
        if page is None:
            return error_reply("repo", 404)
        total, jobs = page
        return json_reply(200, jobs, (("X-Total", str(total)),))

    def _build_jobs(self, project_id: str, query: dict[str, list[str]]) -> Reply:
        page_index = _int_param(query, "page_index", 0)
        page_size = _int_param(query, "page_size", BUILD_DEFAULT_PAGE_SIZE)
        if page_index is None or page_size is None or not 0 <= page_index <= MAX_ID or not 1 <= page_size <= MAX_PAGE:
            return error_reply("build", 400)
        start = build_start(self.build_paging, page_index, page_size)
        if start is None:
            return error_reply("build", 400)
        page = self.world.build_jobs_page(project_id, start, start + page_size)
        if page is None:
            return error_reply("build", 404)
        total, jobs = page
        return json_reply(200, {"total": total, "jobs": jobs})


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

