"""How requests to CodeArts carry credentials.

Every mode is a :class:`requests.auth.AuthBase`, so the client stays the same whatever the mode:

- ``token``: :class:`StaticTokenAuth`, a fixed ``X-Auth-Token`` (it lives 24 hours), or :class:`TokenFileAuth`,
  the token in ``token_file``, re-read when the file changes and after a 401;
- ``password``: :class:`exporter.auth.iam.IamTokenAuth`, a project-scoped IAM token, obtained and renewed;
- ``aksk``: :class:`exporter.auth.signing.AkSkSigner`, SDK-HMAC-SHA256 signing of every request.

:func:`exporter.auth.build_auth` picks the mode from the configuration.

``renew_after_unauthorized`` lets a mode that can fetch a fresh credential do so once after a 401; a
static token cannot, and says so.
"""

from __future__ import annotations

import re
import threading

import requests

from exporter.auth.keyfiles import KeyFiles
from exporter.auth.secretfile import SecretSource
from exporter.errors import CredentialsError
from exporter.validation import Secret

_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what auth.token accepts: it is sent as a header


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


class TokenFileAuth(CodeArtsAuth):
    """The token in ``token_file`` as ``X-Auth-Token``, re-read when the file changes and after a 401 (a
    token refreshed by another tool reaches the exporter without a restart)."""

    def __init__(self, path: str) -> None:
        self._keys = KeyFiles((SecretSource("token", path=path),), check=_check_token)
        self._used = threading.local()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        keys = self._keys.current()
        self._used.version = keys.version
        request.headers["X-Auth-Token"] = keys.values[0].reveal()
        return request

    def renew_after_unauthorized(self) -> bool:
        """Re-read ``token_file``; True if the token changed since this thread's request was sent."""
        return self._keys.renewed_since(getattr(self._used, "version", None))

    def __repr__(self) -> str:
        return f"TokenFileAuth({self._keys!r})"


def _check_token(values: tuple[Secret, ...]) -> None:
    if not _HEADER_SAFE.fullmatch(values[0].reveal()):
        raise CredentialsError("token_file holds characters a header cannot carry (spaces, line breaks, non-ASCII)")
