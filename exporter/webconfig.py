"""``--web.config.file``: TLS and basic auth for the HTTP endpoints, in the Prometheus exporter-toolkit format.

The same file a Go exporter takes works here::

    tls_server_config:
      cert_file: server.crt          # relative paths are read from the web config file's directory
      key_file: server.key
      client_ca_file: ca.crt         # optional, with client_auth_type
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...         # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\\n')

As in exporter-toolkit, basic auth guards every path, /healthz and /readyz included.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from exporter.config import parse_yaml, yaml_problem

log = logging.getLogger(__name__)

TOP_KEYS = ("tls_server_config", "basic_auth_users")
TLS_KEYS = ("cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version")
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
MIN_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CACHE_SIZE = 256
# $2a$, $2b$ or $2y$, a two-digit cost 04-31, then 22 characters of salt and 31 of hash in bcrypt's base64.
BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
BCRYPT_AT_ONCE = 1  # bcrypt checks running at the same time: a flood of wrong passwords gets one core at most


class WebConfigError(ValueError):
    """A web configuration file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """The server certificate and the optional client-certificate check."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"

    def context(self) -> ssl.SSLContext:
        """A server-side SSL context; raises WebConfigError if a file cannot be loaded."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = MIN_VERSIONS[self.min_version]
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
            if self.client_ca_file is not None:
                context.load_verify_locations(cafile=self.client_ca_file)
        except (OSError, ssl.SSLError) as err:
            raise WebConfigError(f"tls_server_config: cannot load certificate or key: {err}") from None
        context.verify_mode = CLIENT_AUTH[self.client_auth_type]
        return context


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What ``--web.config.file`` asks for; ``WebConfig()`` is plain HTTP without auth."""

    tls: TLSConfig | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash


def load_web_config(path: str | Path) -> WebConfig:
    """Read and validate a web configuration file (relative paths resolve against its directory)."""
    path = Path(path)
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise WebConfigError(f"--web.config.file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise WebConfigError(f"--web.config.file {path}: {yaml_problem(err)}") from None
    try:
        config = parse_web_config(raw or {}, base=path.parent)
        if config.tls is not None:
            config.tls.context()  # fail at start-up, not at the first scrape
    except WebConfigError as err:
        raise WebConfigError(f"--web.config.file {path}: {err}") from None
    return config


def parse_web_config(raw: Any, base: Path) -> WebConfig:
    """Validate the parsed YAML of a web configuration file."""
    mapping = _mapping(raw, "the file")
    _known(mapping, TOP_KEYS, "")
    tls = None
    if mapping.get("tls_server_config") is not None:
        tls = _parse_tls(_mapping(mapping["tls_server_config"], "tls_server_config"), base)
    users: dict[str, bytes] = {}
    for user, hashed in _mapping(mapping.get("basic_auth_users") or {}, "basic_auth_users").items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(f"basic_auth_users: user names must be non-empty strings without ':', got {user!r}")
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise WebConfigError(f"basic_auth_users.{user}: expected a bcrypt hash ($2a$, $2b$ or $2y$)")
        if not BCRYPT_HASH.fullmatch(hashed):
            # A malformed hash matches no password: nobody can log in as this user, and nothing said why. Still
            # accepted (a web config valid before stays valid), but said loudly at every start.
            log.error("--web.config.file: basic_auth_users.%s is not a valid bcrypt hash (expected $2y$, a cost of "
                      "04 to 31, $ and 53 characters of salt and hash; got %d characters): this user can never "
                      "log in", user, len(hashed))
        users[user] = hashed.encode()
    return WebConfig(tls, users)


def _parse_tls(tls: dict[str, Any], base: Path) -> TLSConfig:
    _known(tls, TLS_KEYS, "tls_server_config.")
    for key in ("cert_file", "key_file"):
        if not isinstance(tls.get(key), str) or not tls[key]:
            raise WebConfigError(f"tls_server_config.{key}: required, a file path")
    auth_type = tls.get("client_auth_type", "NoClientCert")
    if auth_type not in CLIENT_AUTH:
        raise WebConfigError(f"tls_server_config.client_auth_type: expected one of {', '.join(CLIENT_AUTH)}, "
                             f"got {auth_type!r}")
    min_version = tls.get("min_version", "TLS12")
    if min_version not in MIN_VERSIONS:
        raise WebConfigError(f"tls_server_config.min_version: expected one of {', '.join(MIN_VERSIONS)}, "
                             f"got {min_version!r}")
    client_ca = tls.get("client_ca_file")
    if auth_type != "NoClientCert" and not client_ca:
        raise WebConfigError(f"tls_server_config.client_ca_file: required with client_auth_type {auth_type}")
    return TLSConfig(base / tls["cert_file"], base / tls["key_file"],
                     base / client_ca if client_ca else None, auth_type, min_version)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _known(mapping: dict[str, Any], keys: tuple[str, ...], prefix: str) -> None:
    for key in mapping:
        if key not in keys:
            raise WebConfigError(f'unknown key "{prefix}{key}" (known: {", ".join(keys)})')


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes, remembering recent results.

    bcrypt costs tens of milliseconds by design; a scraper sends the same credentials every time, so
    (like exporter-toolkit) a verified answer is cached, keyed by an HMAC of user, hash and password
    under a per-process random key so the cache never holds a password. Unknown users are checked
    against a dummy hash, so a wrong user name costs as much time as a wrong password.

    Successes and failures are cached apart, so a flood of wrong credentials cannot evict the real
    scraper's entry, and only ``BCRYPT_AT_ONCE`` checks run at a time, so such a flood gets one core
    and the cached scraper never waits for bcrypt.
    """

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._key = secrets.token_bytes(32)
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(10))
        self._passed: OrderedDict[bytes, bool] = OrderedDict()
        self._refused: OrderedDict[bytes, bool] = OrderedDict()
        self._lock = threading.Lock()
        self._bcrypt = threading.BoundedSemaphore(BCRYPT_AT_ONCE)

    @property
    def enabled(self) -> bool:
        """True if any user is configured (otherwise every request passes)."""
        return bool(self._users)

    def check(self, authorization: str | None) -> bool:
        """True if the header carries a configured user's right password."""
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        known = hashed is not None
        hashed = hashed if hashed is not None else self._dummy
        digest = hmac.new(self._key, b"\0".join((user.encode(), hashed, password)), hashlib.sha256).digest()
        with self._lock:
            if digest in self._passed:
                return True
            if digest in self._refused:
                return False
        with self._bcrypt:
            passed = _checkpw(password, hashed) and known
        with self._lock:
            cache = self._passed if passed else self._refused
            cache[digest] = passed
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
        return passed


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a malformed hash, or (bcrypt 5) a password past bcrypt's 72 bytes
        return False


def _basic_credentials(authorization: str | None) -> tuple[str, bytes] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    try:
        return user.decode(), password
    except UnicodeDecodeError:
        return None
