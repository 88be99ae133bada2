"""One HTTP exchange with an upstream (CodeArts or IAM), whatever the network or the server does.

- **Redirects are never followed** (callers pass ``allow_redirects=False``; :func:`redirect_target`
  names where a 3xx pointed): ``requests`` would resend ``X-Auth-Token`` or a signed request to any
  host, and an IAM password body to another host on a 307.
- **One deadline covers the whole exchange**: connecting, the TLS handshake, the status line, the
  headers and the body. Socket timeouts bound each read only, so a server dripping one byte per read
  timeout held a worker for ever; within :func:`exchange` the :mod:`exporter.watchdog` shuts the socket
  down when the deadline passes.
- **Bodies are capped** (:func:`read_capped`), on every upstream.
- **Failures name their cause** (:func:`describe_failure`): name resolution, refused connection,
  untrusted certificate, proxy, timeouts; never a header value, never a query string.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from exporter.safetext import printable
from exporter.watchdog import WATCHDOG, Watch

_local = threading.local()


class Exchange:
    """The deadline of the exchange running on this thread, and the watches set for it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.watches: list[Watch] = []

    def guard(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` until the deadline (once per socket)."""
        if sock is not None and all(watch.sock is not sock for watch in self.watches):
            self.watches.append(WATCHDOG.watch(self.deadline, sock))

    @property
    def cut(self) -> bool:
        """True if the watchdog shut a socket of this exchange down."""
        return any(watch.fired for watch in self.watches)

    @property
    def expired(self) -> bool:
        """True once the deadline has passed or the watchdog cut a socket of this exchange."""
        return self.cut or time.monotonic() >= self.deadline


@contextlib.contextmanager
def exchange(seconds: float) -> Iterator[Exchange]:
    """Run one request (and the reading of its body) on this thread within ``seconds`` in all."""
    current = Exchange(time.monotonic() + seconds)
    previous = getattr(_local, "exchange", None)
    _local.exchange = current
    try:
        yield current
    finally:
        _local.exchange = previous
        for watch in current.watches:
            WATCHDOG.cancel(watch)


def _current() -> Exchange | None:
    return getattr(_local, "exchange", None)


class _Deadlined:
    """Mixin for urllib3 connections: the sockets of a request run within :func:`exchange` are watched."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        current = _current()
        if current is not None:
            current.guard(sock)  # covers the TLS handshake, which runs before self.sock is set
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        current = _current()
        if current is not None:
            current.guard(self.sock)  # a kept-alive connection made by an earlier exchange
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Deadlined, HTTPConnection):
    pass


class _HTTPSConnection(_Deadlined, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections honour the deadline of :func:`exchange`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """As ``HTTPAdapter``'s, with deadline-aware connection pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """As ``HTTPAdapter``'s, with deadline-aware connection pools behind the proxy too."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def new_session(user_agent: str, pool_size: int = 10) -> requests.Session:
    """A session whose every connection honours :func:`exchange` deadlines."""
    session = requests.Session()
    adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=max(pool_size, 1))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


class BodyTooLarge(Exception):
    """The body passed its cap."""


class BodyTooSlow(Exception):
    """The body was still arriving at the exchange's deadline."""


def read_capped(response: requests.Response, cap: int, current: Exchange | None) -> bytes:
    """The body of a streamed response, refusing one over ``cap`` bytes or one still arriving when the
    exchange's deadline passes (each read waits at most the socket timeout, and the watchdog cuts a read
    blocked at the deadline)."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in _chunks(response):
            if current is not None and current.expired:
                raise BodyTooSlow
            size += len(chunk)
            if size > cap:
                raise BodyTooLarge
            chunks.append(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
        if current is not None and current.expired:
            raise BodyTooSlow from None
        raise
    if current is not None and current.cut:
        raise BodyTooSlow  # the watchdog ended a read: what came is not the whole body
    return b"".join(chunks)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body in pieces as they arrive (``read1``: one socket read each), not in fixed-size blocks."""
    raw = response.raw
    if not hasattr(raw, "read1"):  # urllib3 1.x
        yield from response.iter_content(chunk_size=65536)
        return
    while chunk := raw.read1(65536, decode_content=True):
        yield chunk


def redirect_target(response: requests.Response) -> str:
    """Where a 3xx answer pointed, as ``scheme://host[:port]`` (no path, query or user info), or ``?``."""
    location = response.headers.get("Location", "")
    try:
        parts = urlsplit(location)
        host = parts.hostname or urlsplit(response.url).hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "?"
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return printable(f"{scheme}{host}{port}", limit=200)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname or "?", port or (443 if parts.scheme == "https" else 80)


def _causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every exception it wraps (``__cause__``, ``__context__``, ``reason``, exception args)."""
    pending: list[BaseException] = [err]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args):
            if isinstance(inner, BaseException):
                pending.append(inner)


def describe_failure(err: BaseException, url: str, timeout: float) -> str:
    """What went wrong below HTTP, naming the host and the cause, for a log line and a target's error."""
    host, port = _host_port(url)
    causes = list(_causes(err))
    if _find(causes, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)) is not None:
        inner = _cause_text(causes, "the proxy", 0, timeout, proxy=True)
        return f"proxy error on the way to {host}:{port}: {inner}"
    return _cause_text(causes, host, port, timeout)


def _find(causes: list[BaseException], kind: type[BaseException] | tuple[type[BaseException], ...]
          ) -> BaseException | None:
    return next((cause for cause in causes if isinstance(cause, kind)), None)


def _strerror(err: BaseException) -> str:
    return printable(str(getattr(err, "strerror", None) or type(err).__name__))


def _cause_text(causes: list[BaseException], host: str, port: int, timeout: float, proxy: bool = False) -> str:
    where = host if proxy else f"{host}:{port}"

    def find(kind: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException | None:
        return _find(causes, kind)

    if (gai := find(socket.gaierror)) is not None:
        return f"name resolution of host {host if not proxy else 'of the proxy'} failed ({_strerror(gai)})"
    if (cert := find(ssl.SSLCertVerificationError)) is not None:
        message = getattr(cert, "verify_message", None) or getattr(cert, "reason", None) or "verification failed"
        return f"certificate of {host} not trusted: {printable(str(message))}"
    if (tls := find(ssl.SSLError)) is not None:
        return f"TLS with {where} failed: {printable(str(getattr(tls, 'reason', None) or tls))}"
    if find(ConnectionRefusedError) is not None:
        return f"connection to {where} refused"
    if find((requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)) is not None:
        return f"connection to {where} not established within {timeout:g}s"
    if find((requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)) is not None:
        return f"read timeout: {where} sent nothing for {timeout:g}s"
    if find(ConnectionResetError) is not None:
        return f"connection to {where} reset"
    if find((http.client.RemoteDisconnected, ConnectionAbortedError, BrokenPipeError)) is not None:
        return f"{where} closed the connection without a complete answer"
    if (os_error := find(OSError)) is not None and getattr(os_error, "strerror", None):
        return f"connection to {where} failed: {_strerror(os_error)}"
    return f"request to {where} failed: {type(causes[0]).__name__}"
