"""One exception hierarchy for everything that can go wrong talking to CodeArts.

::

    CodeArtsError                 any failure of one CodeArts call; carries url, status, error_code
    ├── AuthError                 401/403: credentials missing, expired or without permission
    │   └── CredentialsError      no credential to send (IAM refused or unreachable): nothing was sent
    ├── NotFoundError             404: the repository, pipeline or project does not exist
    ├── ThrottledError            429, or an error code its API throttles with (a source's throttle_codes)
    ├── ServerError               other 5xx
    │   └── TransientServerError  a 5xx whose error code its API calls transient (a source's retryable_codes)
    ├── ClientError               other 4xx (a bad parameter)
    ├── RedirectError             a 3xx: redirects are never followed (credentials would go along)
    ├── TransportError            connection refused or reset, timeout, TLS failure
    └── PayloadError              a 2xx whose body is not the documented shape (truncated JSON...)

URLs are stored without their query string, and no exception text ever includes a header value,
so neither tokens nor signatures can leak through a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from exporter.safetext import printable


def redact_url(url: str) -> str:
    """The URL without query string, fragment or user info: safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class CodeArtsError(Exception):
    """A CodeArts call failed; ``reason`` is a short label fit for a metric."""

    reason = "error"

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        error_code: str = "",
        error_msg: str = "",
    ) -> None:
        self.url = redact_url(url) if url else ""
        self.status = status
        # Upstream text: escaped here, so no log line, landing page or target error carries it raw.
        self.error_code = printable(error_code)
        self.error_msg = printable(error_msg)
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.args[0] if self.args else self.reason]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code:
            parts.append(f"{self.error_code}: {self.error_msg}" if self.error_msg else self.error_code)
        if self.url:
            parts.append(self.url)
        return " | ".join(str(p) for p in parts)


class AuthError(CodeArtsError):
    """Credentials were refused (401) or lack permission (403)."""

    reason = "auth"


class CredentialsError(AuthError):
    """No credential could be obtained (IAM refused the password, IAM unreachable, secret file unreadable).

    Raised before a CodeArts request is sent, so it is not counted as a CodeArts request.
    """


class NotFoundError(CodeArtsError):
    """The target does not exist (404)."""

    reason = "not_found"


class ThrottledError(CodeArtsError):
    """CodeArts asked us to slow down; ``retry_after`` is in seconds when the server said so."""

    reason = "throttled"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(CodeArtsError):
    """A 5xx other than throttling."""

    reason = "server_error"


class TransientServerError(ServerError):
    """A 5xx whose error code says "unknown, transient" rather than its status: worth retrying."""


@dataclass(frozen=True, slots=True)
class ErrorCodes:
    """What an API's error codes mean beyond their HTTP status: a source's knowledge, handed to the client."""

    throttle: frozenset[str] = frozenset()  # any status but 401/403/404 with one of these is throttling
    transient: frozenset[str] = frozenset()  # a 5xx with one of these is worth retrying


class ClientError(CodeArtsError):
    """A 4xx other than 401/403/404/429."""

    reason = "client_error"


class RedirectError(CodeArtsError):
    """A 3xx answer. Never followed: the token, signature or IAM password would be sent to wherever it points;
    ``target`` is where (``scheme://host[:port]``, safe to log)."""

    reason = "redirect"

    def __init__(self, message: str, *, target: str = "?", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.target = target


class TransportError(CodeArtsError):
    """No HTTP answer: connection refused or reset, timeout, TLS failure."""

    reason = "transport"


class PayloadError(CodeArtsError):
    """A successful status with a body that is not the documented shape."""

    reason = "payload"
