"""How requests to CodeArts carry credentials.

Every mode is a :class:`requests.auth.AuthBase`, so the client stays the same whatever the mode:

- ``token``: :class:`StaticTokenAuth`, a fixed ``X-Auth-Token`` (it lives 24 hours);
- ``password``: :class:`exporter.iam.IamTokenAuth`, a project-scoped IAM token, obtained and renewed;
- ``aksk``: :class:`exporter.signing.AkSkSigner`, SDK-HMAC-SHA256 signing of every request.

``renew_after_unauthorized`` lets a mode that can fetch a fresh credential do so once after a 401; a
static token cannot, and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from exporter.config import AkSkAuth, PasswordAuth, TokenAuth
from exporter.ratelimit import RateLimits
from exporter.stats import RequestStats


class CodeArtsAuth(requests.auth.AuthBase):
    """Base of all auth modes."""

    def renew_after_unauthorized(self) -> bool:
        """Try to get a fresh credential after a 401; True if a retry is worth it."""
        return False

    def token_expiry(self) -> float | None:
        """Unix time the current token expires (IAM password mode); None when the mode has no token."""
        return None

    def close(self) -> None:
        """Release whatever the mode holds (connections)."""


class StaticTokenAuth(CodeArtsAuth):
    """A fixed token sent as ``X-Auth-Token`` (it lives 24 hours; see the IAM password mode)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Auth-Token"] = self._token
        return request

    def __repr__(self) -> str:
        return "StaticTokenAuth(token=***)"


def build_auth(
    settings: TokenAuth | PasswordAuth | AkSkAuth,
    *,
    iam_url: str | None = None,
    timeout: float = 10.0,
    stats: RequestStats | None = None,
    clock: Callable[[], float] = time.time,
    rate_limits: RateLimits | None = None,
) -> CodeArtsAuth:
    """The auth object for the configured mode; ``iam_url`` (and the ``iam`` bucket of ``rate_limits``)
    serve the password mode only."""
    # Imported here: both modules subclass CodeArtsAuth, defined above.
    from exporter.iam import IamTokenAuth
    from exporter.secretfile import SecretSource
    from exporter.signing import AkSkSigner

    if isinstance(settings, TokenAuth):
        return StaticTokenAuth(settings.token.reveal())
    if isinstance(settings, PasswordAuth):
        if iam_url is None:
            raise ValueError("password auth needs the IAM endpoint (endpoints.iam)")
        return IamTokenAuth(settings, iam_url=iam_url, timeout=timeout, stats=stats, clock=clock,
                            rate_limits=rate_limits)
    sk = SecretSource("sk", settings.sk, settings.sk_file)
    return AkSkSigner(settings.ak, sk, settings.project_id, clock=clock)
