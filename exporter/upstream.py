"""One request to an upstream API, CodeArts and IAM alike, and how an error answer reads.

:meth:`Upstream.send` takes a token from the API's rate-limit bucket, runs the request within one deadline
(:func:`exporter.transport.exchange`), never follows a redirect (a 3xx raises :class:`RedirectError`), caps
the body, counts the request by its answer and turns a failure below HTTP into a :class:`TransportError`
naming the host and the cause. What a 4xx or 5xx means is the caller's to say, from :func:`error_fields`
and :func:`retry_after`; IAM and the CodeArts client differ only there and in the bodies they parse.
"""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3

from exporter import __version__
from exporter.errors import CodeArtsError, CredentialsError, PayloadError, RedirectError, TransportError
from exporter.ratelimit import RateLimits
from exporter.safetext import printable
from exporter.stats import RequestStats
from exporter.transport import (
    BodyTooLarge,
    BodyTooSlow,
    describe_failure,
    exchange,
    new_session,
    read_capped,
    redirect_target,
)

JSON_HEADERS = {"Content-Type": "application/json;charset=UTF-8"}
MAX_ERROR_CODE = 64
MAX_ERROR_MESSAGE = 200


class Upstream:
    """Sends requests for the client or the IAM token manager: one session, one rule for every exchange."""

    def __init__(self, *, timeout: float, stats: RequestStats, max_body_bytes: int, pool_size: int = 10,
                 rate_limits: RateLimits | None = None, base_urls: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self._stats = stats
        self._rate_limits = rate_limits
        self._closed = False
        self._session = new_session(f"codearts-exporter/{__version__}", pool_size)
        self._session.headers["Accept"] = "application/json"
        # requests re-reads the proxy and CA-bundle environment on every request (a scan of os.environ:
        # about a third of the CPU of a small request). It is read once per API instead, here for the APIs
        # of ``base_urls``, by a session that still trusts the environment.
        self._session.trust_env = False
        self._environment_reader = requests.Session()
        self._environment: dict[str, dict[str, Any]] = {}
        for api, url in (base_urls or {}).items():
            self._environment_for(api, url)

    def close(self) -> None:
        """Release pooled connections; requests asked for afterwards (by a walk the poller gave up on) fail
        at once instead of going out."""
        self._closed = True
        self._session.close()
        self._environment_reader.close()

    def send(self, api: str, method: str, url: str, *, params: Mapping[str, Any] | None = None,
             data: bytes | None = None, headers: Mapping[str, str] | None = None,
             auth: requests.auth.AuthBase | None = None) -> requests.Response:
        """One request, not retried: the answer with its body read (any status but 3xx), or a
        :class:`CodeArtsError`. ``api`` names the rate-limit bucket and the request counters."""
        if self._closed:
            raise CodeArtsError("not sent: the exporter is shutting down", url=url)  # not retried
        if self._rate_limits is not None:
            # The wait is bounded by the queue ahead divided by the rate; the retry deadline leaves it out.
            waited = self._rate_limits.acquire(api)
            if waited:
                self._stats.count_rate_limit_wait(api, waited)
        response = self._exchange(api, method, url, params, data, headers, auth)
        self._stats.count_request(api, str(response.status_code))
        if 300 <= response.status_code < 400:
            code, message = error_fields(response)
            target = redirect_target(response)
            raise RedirectError(f"redirected to {target}; redirects are never followed", target=target, url=url,
                                status=response.status_code, error_code=code, error_msg=message)
        return response

    def _exchange(self, api: str, method: str, url: str, params: Mapping[str, Any] | None, data: bytes | None,
                  headers: Mapping[str, str] | None, auth: requests.auth.AuthBase | None) -> requests.Response:
        # One deadline over connecting, status line, headers and body: per-read timeouts alone let a server
        # dripping a byte per read hold a worker for ever.
        with exchange(self.timeout) as current:
            try:
                # A body goes as bytes, so AK/SK signing hashes exactly what is sent.
                response = self._session.request(method, url, params=params, data=data, headers=headers, auth=auth,
                                                 timeout=self.timeout, allow_redirects=False,
                                                 **{**self._environment_for(api, url), "stream": True})
                try:
                    response._content = read_capped(response, self.max_body_bytes, current)
                finally:
                    response.close()
            except CredentialsError:
                raise  # the auth had nothing to send: no request went out, none is counted
            except BodyTooSlow:
                self._stats.count_request(api, "error")
                raise TransportError(f"no complete answer from the server within {self.timeout:g}s", url=url,
                                     status=response.status_code) from None
            except BodyTooLarge:
                self._stats.count_request(api, "error")
                raise PayloadError(f"response body larger than {self.max_body_bytes} bytes", url=url,
                                   status=response.status_code) from None
            except CodeArtsError:
                self._stats.count_request(api, "error")
                raise
            except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                    OSError) as err:
                self._stats.count_request(api, "error")
                cause = (f"no complete answer from the server within {self.timeout:g}s" if current.cut
                         else describe_failure(err, url, self.timeout))
                raise TransportError(cause, url=url) from None
        return response

    def _environment_for(self, api: str, url: str) -> dict[str, Any]:
        """The proxy and CA settings of the environment for ``api``, read at its first request or at start."""
        environment = self._environment.get(api)
        if environment is None:
            environment = dict(self._environment_reader.merge_environment_settings(url, {}, None, None, None))
            self._environment[api] = environment
        return environment


def error_fields(response: requests.Response) -> tuple[str, str]:
    """``(error code, message)`` from any error body shape CodeArts or IAM uses (``{"error": {"code",
    "message"}}``, ``error_code``/``error_msg``, ``errorCode``/``errorMsg``, ``code``/``message``), escaped
    and cut short; empty strings when the body says neither."""
    try:
        body = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    nested = body.get("error")
    if isinstance(nested, dict):
        code, message = nested.get("code"), nested.get("message")
    else:
        code = body.get("error_code") or body.get("errorCode") or body.get("code")
        message = body.get("error_msg") or body.get("errorMsg") or body.get("message")
    return printable(str(code or "")[:MAX_ERROR_CODE]), printable(str(message or "")[:MAX_ERROR_MESSAGE])


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """A server's ``Retry-After``: the seconds it asked for (``inf`` past any clock), and what will be waited."""

    asked: float
    seconds: float  # asked, at most the caller's ceiling

    @property
    def clamped(self) -> bool:
        """True when the server asked for more than the ceiling."""
        return self.asked > self.seconds


def retry_after(value: str | None, *, now: float, ceiling: float) -> RetryAfter | None:
    """A ``Retry-After`` header, delay-seconds or an HTTP-date (RFC 9110 section 10.2.3) read against ``now``
    (Unix time), as a wait of at most ``ceiling`` seconds: one bad answer (``inf``, ``1e12``, the year
    9999) must not park the caller until a restart. None when absent or unreadable (``nan``, negative,
    not a number nor a date): the caller's own backoff applies."""
    if not value:
        return None
    asked: float | None
    try:
        asked = float(value)
    except ValueError:
        asked = _seconds_until(value, now)
    if asked is None or math.isnan(asked) or asked < 0:
        return None
    return RetryAfter(asked, min(asked, ceiling))


def _seconds_until(date: str, now: float) -> float | None:
    try:
        at = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if at.tzinfo is None:  # "-0000": HTTP dates are UTC
        at = at.replace(tzinfo=UTC)
    return max(at.timestamp() - now, 0.0)
