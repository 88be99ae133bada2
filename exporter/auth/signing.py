"""AK/SK request signing, SDK-HMAC-SHA256, as Huawei Cloud's API Gateway verifies it.

Written here rather than taken from ``huaweicloudsdkcore``, whose dependencies (pymongo and more) have
no place in an exporter's image; ``tests/test_signing.py`` proves the two produce the same
``Authorization`` header. The algorithm (https://support.huaweicloud.com/intl/en-us/devg-apisign/
api-sign-algorithm-002.html and -003.html; /work/shared/codearts-api.md section 1.3)::

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders
                       \\n hex(sha256(body))
    StringToSign     = SDK-HMAC-SHA256 \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(SK, StringToSign))

Like the official SDK, every header present on the request is signed (names containing ``_`` excepted),
the canonical URI always ends with ``/``, and a body whose Content-Type is neither JSON nor BSON is
signed as ``UNSIGNED-PAYLOAD``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests

from exporter.auth.base import CodeArtsAuth
from exporter.auth.keyfiles import KeyFiles
from exporter.auth.secretfile import SecretSource
from exporter.auth.settings import ACCESS_KEY
from exporter.errors import CredentialsError
from exporter.validation import Secret

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
DATE_HEADER = "X-Sdk-Date"
CONTENT_HASH_HEADER = "X-Sdk-Content-Sha256"
PROJECT_HEADER = "X-Project-Id"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()
_SIGNED_CONTENT_TYPES = ("application/json", "application/bson")


def _encode(text: str) -> str:
    """Percent-encode everything but unreserved characters (``~`` included, ``/`` not)."""
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each path segment decoded then re-encoded; always ends with ``/``."""
    encoded = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(query: str) -> str:
    """Decoded parameters sorted by name then value, re-encoded, joined by ``&`` (repeated keys kept)."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Lower-case names of the headers to sign: all of them except names containing ``_``."""
    return sorted(name.lower() for name in headers if "_" not in name)


def payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    """Hex SHA-256 of the body; an explicit ``X-Sdk-Content-Sha256`` wins for a non-empty body."""
    if not body:
        return EMPTY_BODY_HASH
    lowered = {name.lower(): value for name, value in headers.items()}
    return lowered.get(CONTENT_HASH_HEADER.lower()) or hashlib.sha256(body).hexdigest()


def canonical_request(method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[str, list[str]]:
    """The canonical request text and the signed header names, for a request about to be sent."""
    parts = urlsplit(url)
    names = signed_header_names(headers)
    lowered = {name.lower(): str(value).strip() for name, value in headers.items()}
    header_lines = "".join(f"{name}:{lowered[name]}\n" for name in names)
    text = "\n".join((method.upper(), canonical_uri(parts.path or "/"), canonical_query(parts.query),
                      header_lines, ";".join(names), payload_hash(headers, body)))
    return text, names


def signature(sk: Secret, date: str, canonical: str) -> str:
    """Hex HMAC-SHA256 with the SK itself as key (no key derivation) over the string to sign."""
    string_to_sign = f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(sk.reveal().encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(ak: str, sk: Secret, method: str, url: str, headers: Mapping[str, str], body: bytes) -> str:
    """The ``Authorization`` value for a request whose headers already carry ``Host`` and ``X-Sdk-Date``."""
    canonical, names = canonical_request(method, url, headers, body)
    date = next(value for name, value in headers.items() if name.lower() == DATE_HEADER.lower())
    return f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(names)}, Signature={signature(sk, date, canonical)}"


def _body_bytes(body: object) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    raise TypeError("AK/SK signing needs the whole body; a streamed body cannot be signed")


def sdk_date(clock: Callable[[], float]) -> str:
    """``X-Sdk-Date`` for the clock's now: UTC, ``YYYYMMDDTHHMMSSZ``."""
    return datetime.fromtimestamp(clock(), UTC).strftime(DATE_FORMAT)


class AkSkSigner(CodeArtsAuth):
    """Signs every request with an access key pair; ``X-Project-Id`` carries the IAM project id.

    With ``ak_file``/``sk_file`` the pair is re-read when its files change, and after a 401 (see
    :mod:`exporter.auth.keyfiles`): a rotated pair is used from the next request on, and never half of it.
    """

    def __init__(self, ak: str | SecretSource, sk: SecretSource, project_id: str, *,
                 clock: Callable[[], float] = time.time):
        source = ak if isinstance(ak, SecretSource) else SecretSource("ak", Secret(ak))
        self.project_id = project_id
        self._clock = clock
        self._keys = KeyFiles((source, sk), check=_check_access_key)  # reads now: a bad file fails at start
        self._used = threading.local()

    @property
    def ak(self) -> str:
        """The access key id in use."""
        return self._keys.current().values[0].reveal()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        headers = request.headers
        headers.pop("Authorization", None)
        content_type = headers.get("Content-Type")
        if content_type and not content_type.startswith(_SIGNED_CONTENT_TYPES):
            headers[CONTENT_HASH_HEADER] = UNSIGNED_PAYLOAD
        headers[PROJECT_HEADER] = self.project_id
        headers[DATE_HEADER] = sdk_date(self._clock)
        headers["Host"] = _host(request.url or "")  # sent as signed: http.client adds no second one
        keys = self._keys.current()
        self._used.version = keys.version
        ak, sk = keys.values
        headers["Authorization"] = authorization(ak.reveal(), sk, request.method or "GET", request.url or "",
                                                 headers, _body_bytes(request.body))
        return request

    def renew_after_unauthorized(self) -> bool:
        """Re-read the key files; True if the pair changed since this thread's request was signed."""
        return self._keys.renewed_since(getattr(self._used, "version", None))

    def __repr__(self) -> str:
        return f"AkSkSigner(ak={self.ak!r}, sk=***, project_id={self.project_id!r})"


def _check_access_key(values: tuple[Secret, ...]) -> None:
    """An AK read from a file is sent in a header: letters and digits only, as the configuration requires."""
    if not ACCESS_KEY.fullmatch(values[0].reveal()):
        raise CredentialsError("the access key id (ak_file) holds other characters than letters and digits")


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host
