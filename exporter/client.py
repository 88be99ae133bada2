"""The only code that speaks HTTP to CodeArts: sessions, timeouts, error mapping, pagination, parsing."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import requests
import urllib3

from exporter import __version__
from exporter.auth.base import CodeArtsAuth
from exporter.errors import (
    AuthError,
    ClientError,
    CodeArtsError,
    CredentialsError,
    NotFoundError,
    PayloadError,
    RedirectError,
    ServerError,
    ThrottledError,
    TransportError,
    redact_url,
)
from exporter.limits import MAX_BODY_BYTES, MAX_ITEMS_PER_LISTING, SKIP_WARNINGS_PER_LISTING
from exporter.pagination import ListingTooLong, Page, Reading, walk_pages
from exporter.payload import RecordError
from exporter.ratelimit import RateLimits
from exporter.retry import Retrier, RetryPolicy
from exporter.stats import RequestStats
from exporter.transport import (
    BodyTooLarge,
    BodyTooSlow,
    describe_failure,
    exchange,
    new_session,
    read_capped,
    redirect_target,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 100
DEFAULT_MAX_BODY_BYTES = MAX_BODY_BYTES
JSON_HEADERS = {"Content-Type": "application/json;charset=UTF-8"}
BUILD_THROTTLE_CODE = "CB.00060211"  # CodeArts Build throttles with HTTP 500 and this code

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ParsedListing(Generic[T]):
    """The typed records of one listing, and what it cost."""

    records: tuple[T, ...]
    skipped: int
    requests: int
    complete: bool


class _Parsed(dict):  # type: ignore[type-arg]
    """A page item once parsed: only its ``id`` stays (all the paging walk reads), beside its record.

    Keeping these instead of the decoded JSON keeps a page's memo a tenth of the size.
    """

    __slots__ = ("record",)

    def __init__(self, item: object, record: object | None) -> None:
        super().__init__({"id": item["id"]} if isinstance(item, dict) and "id" in item else {})
        self.record = record  # None: the item was malformed and is skipped


@dataclass(frozen=True, slots=True)
class _PageMemo:
    """The last answer to one page request: a digest of its bytes and its items, parsed."""

    digest: bytes
    page: Page  # items are _Parsed


@dataclass(frozen=True, slots=True)
class _ListingMemo:
    """The last listing of one URL: its pages (by paging parameter) and its records."""

    pages: dict[int, _PageMemo]
    digests: tuple[bytes, ...]
    listing: ParsedListing[Any]
    reading: Reading | None = None  # the reading of the paging parameter the last walk ended with


def _digest(response: requests.Response) -> bytes:
    """What a page's meaning depends on: its body and the total header beside it."""
    hasher = hashlib.blake2b(response.content, digest_size=16)
    hasher.update(b"\0" + (response.headers.get("X-Total") or "").encode("latin-1", "replace"))
    return hasher.digest()


class CodeArtsClient:
    """Speaks HTTP to every CodeArts API for the sources: auth, rate limits, retries, paging, body caps."""

    def __init__(
        self,
        *,
        base_urls: Mapping[str, str],
        auth: CodeArtsAuth,
        timeout: float,
        stats: RequestStats | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        pool_size: int = 10,
        rate_limits: RateLimits | None = None,
        retry: Retrier | RetryPolicy | None = None,
    ) -> None:
        self.base_urls = {api: url.rstrip("/") for api, url in base_urls.items()}
        self.timeout = timeout
        self.stats = stats or RequestStats()
        self.max_body_bytes = max_body_bytes
        self._auth = auth
        # Per listing URL; each URL is walked by one poll worker at a time, and a walk replaces its entry whole.
        self._memos: dict[str, _ListingMemo] = {}
        self.rate_limits = rate_limits or RateLimits({})
        if not isinstance(retry, Retrier):
            retry = Retrier(retry or RetryPolicy(), on_retry=self.stats.count_retry,
                            paused=self.rate_limits.waited_by_this_thread)
        self._retrier = retry
        self._closed = False
        self._session = new_session(f"codearts-exporter/{__version__}", pool_size)
        self._session.headers["Accept"] = "application/json"
        # requests re-reads the proxy and CA-bundle environment on every request (a scan of os.environ:
        # about a third of the CPU of a small request). Read it once per API instead.
        self._environment: dict[str, dict[str, Any]] = {
            api: dict(self._session.merge_environment_settings(base, {}, None, None, None))
            for api, base in self.base_urls.items()}
        self._session.trust_env = False

    def close(self) -> None:
        """Release pooled connections; requests still asked for afterwards (by a walk the poller gave up on)
        fail at once instead of going out."""
        self._closed = True
        self._session.close()

    @property
    def auth(self) -> CodeArtsAuth:
        """How requests carry credentials (a source may word a refusal after the mode)."""
        return self._auth

    def base_url(self, api: str) -> str:
        """The base URL of an API (a source's name), without a trailing slash."""
        try:
            return self.base_urls[api]
        except KeyError:
            raise ValueError(f"no base URL for the {api!r} API") from None

    def _environment_for(self, api: str, url: str) -> dict[str, Any]:
        environment = self._environment.get(api)
        if environment is None:  # an API without a configured base URL (its source has its own): read once
            environment = dict(self._session.merge_environment_settings(url, {}, None, None, None))
            self._environment[api] = environment
        return environment

    def array_page(self, url: str, what: str) -> Callable[[requests.Response], Page]:
        """A decoder for a Repo v4 list answered as a JSON array (``X-Total`` read when present)."""
        def decode(response: requests.Response) -> Page:
            body = self.decode_json(response)
            if not isinstance(body, list):
                raise PayloadError(f"expected a JSON array of {what}", url=url, status=response.status_code)
            return Page(body, total_header(response.headers.get("X-Total")))

        return decode

    def listing(
        self,
        api: str,
        url: str,
        params: Callable[[int], dict[str, Any]],
        decode: Callable[[requests.Response], Page],
        readings: tuple[Reading, ...],
        parse: Callable[[object], T],
        *,
        method: str = "GET",
    ) -> ParsedListing[T]:
        """Walk a listing; pages byte-identical to last time are not decoded or parsed again, and if
        every page is, the last records are returned as they are (the same tuple, so the exposition
        keeps their rendered lines too). ``params(parameter)`` gives the query of a GET, or the JSON body
        of a POST (``method="POST"``: APIs such as Pipeline's that page in the body)."""
        memo = self._memos.get(url)
        pages: dict[int, _PageMemo] = {}
        digests: list[bytes] = []

        def fetch(parameter: int) -> Page:
            page_params = params(parameter)
            response = (self.post_json(api, url, page_params) if method == "POST"
                        else self.get(api, url, page_params))
            digest = _digest(response)
            page_memo = memo.pages.get(parameter) if memo is not None else None
            if page_memo is None or page_memo.digest != digest:
                page = decode(response)
                if len(page.items) > MAX_ITEMS_PER_LISTING:  # refused before parsing: the parsing is the cost
                    raise PayloadError(f"page holds {len(page.items)} items, more than a listing may "
                                       f"({MAX_ITEMS_PER_LISTING})", url=url, status=response.status_code)
                page_memo = _PageMemo(digest, Page(self._parse(api, url, page.items, parse), page.total))
            pages[parameter] = page_memo
            digests.append(digest)
            return page_memo.page

        # The reading that worked last time goes first: a server whose offset counts pages costs the detection
        # request once, not every poll.
        known = memo.reading if memo is not None and memo.reading in readings else None
        ordered = readings if known is None else (known, *(each for each in readings if each is not known))
        try:
            walk = walk_pages(fetch, ordered, PAGE_SIZE)
        except ListingTooLong as err:
            raise PayloadError(str(err), url=url) from None
        reading = ordered[walk.reading] if walk.complete else None
        if memo is not None and memo.digests == tuple(digests):
            listing = replace(memo.listing, requests=walk.requests)
            self._memos[url] = replace(memo, reading=reading)
        else:
            records = tuple(item.record for item in walk.items if item.record is not None)
            listing = ParsedListing(records, len(walk.items) - len(records), walk.requests, walk.complete)
            self._memos[url] = _ListingMemo(pages, tuple(digests), listing, reading)
        self.stats.count_skipped(api, "malformed", listing.skipped)  # every poll, reused or not
        if not listing.complete and walk.total is not None:  # without a total, a short page is the end
            log.warning("listing %s ended before its reported total; keeping %d records", redact_url(url),
                        len(listing.records))
        return listing

    def page_records(self, api: str, url: str, items: list[Any], parse: Callable[[object], T]) -> tuple[T, ...]:
        """The records of one page that parse; the others are logged and counted as skipped."""
        if len(items) > MAX_ITEMS_PER_LISTING:
            raise PayloadError(f"page holds {len(items)} items, more than a listing may ({MAX_ITEMS_PER_LISTING})",
                               url=url)
        records: tuple[T, ...] = tuple(item.record for item in self._parse(api, url, items, parse)  # type: ignore[misc]
                                       if item.record is not None)
        self.stats.count_skipped(api, "malformed", len(items) - len(records))
        return records

    def _parse(self, api: str, url: str, items: list[Any], parse: Callable[[object], T]) -> list[_Parsed]:
        """Each item parsed; the first few malformed ones are logged one by one, the rest in one line (a page
        of a million malformed items made a million warnings)."""
        parsed: list[_Parsed] = []
        skipped = 0
        for item in items:
            try:
                parsed.append(_Parsed(item, parse(item)))
            except RecordError as err:
                parsed.append(_Parsed(item, None))
                skipped += 1
                if skipped <= SKIP_WARNINGS_PER_LISTING:
                    log.warning("skipping a malformed %s record from %s: %s", api, redact_url(url), err)
        if skipped > SKIP_WARNINGS_PER_LISTING:
            log.warning("skipping %d more malformed %s records from %s (only the first %d are shown)",
                        skipped - SKIP_WARNINGS_PER_LISTING, api, redact_url(url), SKIP_WARNINGS_PER_LISTING)
        return parsed

    def get(self, api: str, url: str, params: dict[str, Any]) -> requests.Response:
        """One GET, retried per the retry policy; a 2xx response with its body read, or a :class:`CodeArtsError`."""
        return self._retrier.call(api, lambda: self._attempt(api, url, params, None))

    def post_json(self, api: str, url: str, body: Any, params: dict[str, Any] | None = None) -> requests.Response:
        """One POST of a JSON body (a read that takes its query in the body), retried like :meth:`get`."""
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return self._retrier.call(api, lambda: self._attempt(api, url, params or {}, data))

    def _attempt(self, api: str, url: str, params: dict[str, Any], data: bytes | None) -> requests.Response:
        response = self._send(api, url, params, data)
        if response.status_code == 401 and self._auth.renew_after_unauthorized():
            response = self._send(api, url, params, data)
        if 200 <= response.status_code < 300:
            return response
        error = _error_for(response, url)
        if isinstance(error, ThrottledError):
            self.stats.count_throttled(api)
        raise error

    def _send(self, api: str, url: str, params: dict[str, Any], data: bytes | None) -> requests.Response:
        if self._closed:
            raise CodeArtsError("not sent: the exporter is shutting down", url=url)  # not retried
        # The wait is bounded by the queue ahead divided by the rate; the retry deadline leaves it out.
        waited = self.rate_limits.acquire(api)
        if waited:
            self.stats.count_rate_limit_wait(api, waited)
        # One deadline over connecting, status line, headers and body: per-read timeouts alone let a server
        # dripping a byte per read hold a worker for ever.
        with exchange(self.timeout) as current:
            try:
                environment = self._environment_for(api, url)
                # A body goes as bytes, so AK/SK signing hashes exactly what is sent.
                response = self._session.request("GET" if data is None else "POST", url, params=params, data=data,
                                                 headers=None if data is None else JSON_HEADERS, auth=self._auth,
                                                 timeout=self.timeout, allow_redirects=False,
                                                 **{**environment, "stream": True})
                try:
                    response._content = read_capped(response, self.max_body_bytes, current)
                finally:
                    response.close()
            except CredentialsError:
                raise  # the auth had nothing to send: no request went out, none is counted
            except BodyTooSlow:
                self.stats.count_request(api, "error")
                raise TransportError(f"no complete answer from the server within {self.timeout:g}s", url=url,
                                     status=response.status_code) from None
            except BodyTooLarge:
                self.stats.count_request(api, "error")
                raise PayloadError(f"response body larger than {self.max_body_bytes} bytes", url=url,
                                   status=response.status_code) from None
            except CodeArtsError:
                self.stats.count_request(api, "error")
                raise
            except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                    OSError) as err:
                self.stats.count_request(api, "error")
                cause = (f"no complete answer from the server within {self.timeout:g}s" if current.cut
                         else describe_failure(err, url, self.timeout))
                raise TransportError(cause, url=url) from None
        self.stats.count_request(api, str(response.status_code))
        return response

    @staticmethod
    def decode_json(response: requests.Response) -> Any:
        """The JSON body of a response, or a :class:`PayloadError`."""
        try:
            return json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise PayloadError(f"invalid JSON body ({type(err).__name__})", url=response.url,
                               status=response.status_code) from None


def total_header(value: str | None) -> int | None:
    """A non-negative item count from a header such as ``X-Total``; None when absent or unreadable."""
    if value is None:
        return None
    try:
        total = int(value.strip())
    except ValueError:
        return None
    return total if total >= 0 else None


def _error_fields(response: requests.Response) -> tuple[str, str]:
    """``error_code`` and ``error_msg`` from any of the error body shapes CodeArts uses."""
    try:
        body = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    nested = body.get("error")
    if isinstance(nested, dict):
        return str(nested.get("code") or ""), str(nested.get("message") or "")[:200]
    code = body.get("error_code") or body.get("errorCode") or body.get("code") or ""
    message = body.get("error_msg") or body.get("errorMsg") or body.get("message") or ""
    return str(code)[:64], str(message)[:200]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return max(seconds, 0.0)
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None


def _error_for(response: requests.Response, url: str) -> CodeArtsError:
    status = response.status_code
    code, message = _error_fields(response)
    if 300 <= status < 400:
        return RedirectError(f"redirected to {redirect_target(response)}; redirects are never followed", url=url,
                             status=status, error_code=code, error_msg=message)
    # In this order: a 401, 403 or 404 is that, whatever its error code; Build throttles with a 500.
    if status not in (401, 403, 404) and (status == 429 or code == BUILD_THROTTLE_CODE):
        return ThrottledError("throttled", retry_after=_retry_after(response.headers.get("Retry-After")),
                              url=url, status=status, error_code=code, error_msg=message)
    kind, text = ((AuthError, "credentials refused") if status in (401, 403) else
                  (NotFoundError, "not found") if status == 404 else
                  (ServerError, "server error") if status >= 500 else (ClientError, "request refused"))
    return kind(text, url=url, status=status, error_code=code, error_msg=message)
