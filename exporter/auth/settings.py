"""The ``auth:`` settings: which mode, and the (wrapped) secrets it needs."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.validation import Secret


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """A ready IAM token, sent as X-Auth-Token."""

    token: Secret


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """IAM user password, exchanged for a project-scoped token; exactly one of each pair is set."""

    domain: str
    username: str
    password: Secret | None
    password_file: str | None
    project_id: str | None
    project_name: str | None


@dataclass(frozen=True, slots=True)
class AkSkAuth:
    """Access key pair for SDK-HMAC-SHA256 signing; exactly one of `sk` and `sk_file` is set."""

    ak: str
    sk: Secret | None
    sk_file: str | None
    project_id: str


Auth = TokenAuth | PasswordAuth | AkSkAuth
