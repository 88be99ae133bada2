"""The ``auth:`` settings: which mode, and the (wrapped) secrets it needs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.validation import Secret

ACCESS_KEY = re.compile(r"[A-Za-z0-9]{1,128}")  # an access key id: sent in the Authorization header


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """A ready IAM token, sent as X-Auth-Token; exactly one of `token` and `token_file` is set."""

    token: Secret | None
    token_file: str | None = None


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
    """Access key pair for SDK-HMAC-SHA256 signing; exactly one of `ak` and `ak_file`, and of `sk` and
    `sk_file`, is set."""

    ak: str | None
    sk: Secret | None
    sk_file: str | None
    project_id: str
    ak_file: str | None = None


Auth = TokenAuth | PasswordAuth | AkSkAuth
