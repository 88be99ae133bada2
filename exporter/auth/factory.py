"""The auth object for the configured mode."""

from __future__ import annotations

import time
from collections.abc import Callable

from exporter.auth.base import CodeArtsAuth, StaticTokenAuth, TokenFileAuth
from exporter.auth.iam import IamTokenAuth
from exporter.auth.secretfile import SecretSource
from exporter.auth.settings import AkSkAuth, PasswordAuth, TokenAuth
from exporter.auth.signing import AkSkSigner
from exporter.ratelimit import RateLimits
from exporter.stats import RequestStats
from exporter.validation import Secret


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
    if isinstance(settings, TokenAuth):
        if settings.token_file is not None:
            return TokenFileAuth(settings.token_file)
        assert settings.token is not None  # noqa: S101 - exactly one of the two, by validation
        return StaticTokenAuth(settings.token.reveal())
    if isinstance(settings, PasswordAuth):
        if iam_url is None:
            raise ValueError("password auth needs the IAM endpoint (endpoints.iam)")
        return IamTokenAuth(settings, iam_url=iam_url, timeout=timeout, stats=stats, clock=clock,
                            rate_limits=rate_limits)
    ak = SecretSource("ak", None if settings.ak is None else Secret(settings.ak), settings.ak_file)
    sk = SecretSource("sk", settings.sk, settings.sk_file)
    return AkSkSigner(ak, sk, settings.project_id, clock=clock)
