"""How requests to CodeArts carry credentials.

Every mode is a :class:`requests.auth.AuthBase`, so the client stays the same whatever the mode.
``renew_after_unauthorized`` lets a mode that can fetch a fresh credential (an IAM token) do so once
after a 401; a static token cannot, and says so.
"""

from __future__ import annotations

import requests

from exporter.config import AkSkAuth, PasswordAuth, TokenAuth


class CodeArtsAuth(requests.auth.AuthBase):
    """Base of all auth modes."""

    def renew_after_unauthorized(self) -> bool:
        """Try to get a fresh credential after a 401; True if a retry is worth it."""
        return False


class StaticTokenAuth(CodeArtsAuth):
    """A fixed token sent as ``X-Auth-Token`` (it lives 24 hours; see the IAM password mode)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Auth-Token"] = self._token
        return request

    def __repr__(self) -> str:
        return "StaticTokenAuth(token=***)"


def build_auth(settings: TokenAuth | PasswordAuth | AkSkAuth) -> CodeArtsAuth:
    """The auth object for the configured mode."""
    if isinstance(settings, TokenAuth):
        return StaticTokenAuth(settings.token.reveal())
    raise NotImplementedError(f"auth mode {type(settings).__name__} is not supported yet")
