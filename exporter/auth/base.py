"""How requests to CodeArts carry credentials.

Every mode is a :class:`requests.auth.AuthBase`, so the client stays the same whatever the mode:

- ``token``: :class:`StaticTokenAuth`, a fixed ``X-Auth-Token`` (it lives 24 hours);
- ``password``: :class:`exporter.auth.iam.IamTokenAuth`, a project-scoped IAM token, obtained and renewed;
- ``aksk``: :class:`exporter.auth.signing.AkSkSigner`, SDK-HMAC-SHA256 signing of every request.

:func:`exporter.auth.build_auth` picks the mode from the configuration.

``renew_after_unauthorized`` lets a mode that can fetch a fresh credential do so once after a 401; a
static token cannot, and says so.
"""

from __future__ import annotations

import requests


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
