"""The simulator's IAM: password tokens that expire, and AK/SK signature verification.

``POST /v3/auth/tokens`` checks the password of a known user and the project scope, and answers 201
with ``X-Subject-Token`` and ``token.expires_at``/``issued_at`` (/work/shared/codearts-api.md 1.1).
Tokens live ``token_lifetime`` seconds on the simulator's clock and can be revoked at once.

Signatures are verified by code written separately from ``exporter.signing`` (byte-level encoding,
hand-split query string), so that a test where the official SDK signs and this code verifies checks
the algorithm, not one implementation against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

TOKENS_PATH = "/v3/auth/tokens"
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0  # IAM tokens live 24 hours
MAX_CLOCK_SKEW = 15 * 60.0  # APIGW rejects an X-Sdk-Date more than 15 minutes off
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_AUTHORIZATION = re.compile(
    r"SDK-HMAC-SHA256 Access=(?P<ak>[^,\s]+), SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})"
)
# IAM's error shape for token requests (Keystone style). The messages are the simulator's own words.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "The request body is invalid."),
    401: ("Unauthorized", "The username or password is wrong."),
    405: ("Method Not Allowed", "Only POST is allowed."),
    429: ("Too Many Requests", "The throttling threshold has been reached."),
    503: ("Service Unavailable", "The service is temporarily unavailable."),
}


@dataclass(frozen=True, slots=True)
class IamUser:
    """An IAM user who may get tokens scoped to one IAM project."""

    domain: str
    name: str
    password: str
    project_id: str
    project_name: str = "cn-north-4"


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An access key pair and the IAM project it must be used with (``X-Project-Id``)."""

    ak: str
    sk: str
    project_id: str


@dataclass(frozen=True, slots=True)
class IamAnswer:
    """What the token route answers: status, JSON payload, extra headers."""

    status: int
    payload: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class IamService:
    """Users, access keys and issued tokens; thread-safe."""

    def __init__(
        self,
        *,
        users: Iterable[IamUser] = (),
        access_keys: Iterable[AccessKey] = (),
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.users = {(user.domain, user.name): user for user in users}
        self.access_keys = {key.ak: key for key in access_keys}
        self.token_lifetime = token_lifetime
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expires_at
        self.issued_tokens: list[str] = []  # every token ever issued, so tests can look for leaks
        self.issue_times: list[float] = []  # when each was issued, on the simulator's clock
        self._refusals: list[IamAnswer] = []  # answered, one each, to the next token requests (tests)

    # -- tokens -----------------------------------------------------------------------------------

    def issue(self, method: str, body: bytes) -> IamAnswer:
        """Answer ``POST /v3/auth/tokens``."""
        if method != "POST":
            return _error(405)
        with self._lock:
            if self._refusals:
                return self._refusals.pop(0)
        request = _password_request(body)
        if request is None:
            return _error(400)
        domain, name, password, scope = request
        user = self.users.get((domain, name))
        if user is None or not hmac.compare_digest(password.encode(), user.password.encode()):
            return _error(401)
        if scope not in ({"id": user.project_id}, {"name": user.project_name}):
            return _error(400)
        return self._new_token(user)

    def _new_token(self, user: IamUser) -> IamAnswer:
        token = "sim-iam-" + secrets.token_hex(16)
        issued_at = self.clock()
        expires_at = issued_at + self.token_lifetime
        with self._lock:
            self._tokens[token] = expires_at
            self.issued_tokens.append(token)
            self.issue_times.append(issued_at)
        project = {"id": user.project_id, "name": user.project_name, "domain": {"name": user.domain}}
        payload = {"token": {"expires_at": _iso(expires_at), "issued_at": _iso(issued_at), "methods": ["password"],
                             "project": project, "user": {"name": user.name, "domain": {"name": user.domain}},
                             "roles": [{"name": "readonly"}]}}
        return IamAnswer(201, payload, (("X-Subject-Token", token),))

    def refuse(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` token requests with ``status`` (429 or 503 throttling, in IAM's error
        shape), with ``retry_after`` sent verbatim as ``Retry-After`` when given."""
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        answer = replace(_error(status), headers=headers)
        with self._lock:
            self._refusals.extend([answer] * times)

    @property
    def issued(self) -> int:
        """How many tokens were issued so far."""
        with self._lock:
            return len(self.issued_tokens)

    def token_valid(self, token: str) -> bool:
        """True for a token this IAM issued that has neither expired nor been revoked."""
        with self._lock:
            expires_at = self._tokens.get(token)
        return expires_at is not None and self.clock() < expires_at

    def revoke_tokens(self) -> int:
        """Invalidate every token issued so far (as a password change does); returns how many."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count

    # -- AK/SK ------------------------------------------------------------------------------------

    def create_access_key(self, key: AccessKey) -> None:
        """Add an access key, as IAM's console does (a user may hold two at a time, for rotation)."""
        self.access_keys = {**self.access_keys, key.ak: key}  # one reference swap: readers see old or new

    def delete_access_key(self, ak: str) -> None:
        """Remove an access key: requests signed with it are refused from now on."""
        self.access_keys = {name: key for name, key in self.access_keys.items() if name != ak}

    def signature_valid(self, method: str, target: str, headers: Mapping[str, str] | Any, body: bytes) -> bool:
        """Verify an ``SDK-HMAC-SHA256`` ``Authorization`` header against the request as received."""
        match = _AUTHORIZATION.fullmatch((headers.get("Authorization") or "").strip())
        key = self.access_keys.get(match["ak"]) if match else None
        if match is None or key is None:
            return False
        signed = match["headers"].split(";")
        if "host" not in signed or "x-sdk-date" not in signed or headers.get("X-Project-Id") != key.project_id:
            log.debug("signature refused: host, x-sdk-date or the right X-Project-Id missing")
            return False
        date = headers.get("X-Sdk-Date") or ""
        if not self._date_fresh(date):
            log.debug("signature refused: X-Sdk-Date missing, malformed or more than 15 minutes off")
            return False
        lines = []
        for name in signed:
            value = headers.get(name)
            if value is None:
                return False
            lines.append(f"{name}:{value.strip()}\n")
        path, _, query = target.partition("?")
        canonical = "\n".join([method, _canonical_path(path), _canonical_query(query), "".join(lines),
                               ";".join(signed), _body_digest(headers, body)])
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(key.sk.encode(), f"SDK-HMAC-SHA256\n{date}\n{digest}".encode(), hashlib.sha256)
        return hmac.compare_digest(expected.hexdigest(), match["sig"])

    def _date_fresh(self, date: str) -> bool:
        try:
            at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return False
        return abs(self.clock() - at) <= MAX_CLOCK_SKEW


def _error(status: int) -> IamAnswer:
    title, message = _ERRORS[status]
    return IamAnswer(status, {"error": {"code": status, "title": title, "message": message}})


def _password_request(body: bytes) -> tuple[str, str, str, dict[str, Any]] | None:
    """(domain, user name, password, project scope) from a token request body; None if malformed."""
    try:
        auth = json.loads(body.decode("utf-8"))["auth"]
        identity = auth["identity"]
        user = identity["password"]["user"]
        found = (user["domain"]["name"], user["name"], user["password"], auth["scope"]["project"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    if identity.get("methods") != ["password"] or not all(isinstance(part, str) for part in found[:3]):
        return None
    return found if isinstance(found[3], dict) else None


def _percent_decode(text: str, plus_is_space: bool) -> str:
    raw = bytearray()
    data = text.encode("utf-8")
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x25 and index + 2 < len(data) and _is_hex(data[index + 1: index + 3]):
            raw.append(int(data[index + 1: index + 3], 16))
            index += 3
            continue
        raw.append(0x20 if plus_is_space and byte == 0x2B else byte)
        index += 1
    return raw.decode("utf-8", errors="replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(c) in "0123456789abcdefABCDEF" for c in pair)


def _percent_encode(text: str) -> str:
    return "".join(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8"))


def _canonical_path(path: str) -> str:
    segments = [_percent_encode(segment) for segment in _percent_decode(path, plus_is_space=False).split("/")]
    joined = "/".join(segments)
    return joined if joined.endswith("/") else joined + "/"


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_percent_decode(name, plus_is_space=True), _percent_decode(value, plus_is_space=True)))
    pairs.sort()
    return "&".join(_percent_encode(name) + "=" + _percent_encode(value) for name, value in pairs)


def _body_digest(headers: Mapping[str, str] | Any, body: bytes) -> str:
    if body and headers.get("X-Sdk-Content-Sha256") == "UNSIGNED-PAYLOAD":
        return "UNSIGNED-PAYLOAD"
    return hashlib.sha256(body).hexdigest()
