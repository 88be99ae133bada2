"""The only code that speaks HTTP to CodeArts: sessions, timeouts, error mapping, pagination, parsing."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import requests

from exporter.assumptions import checking, contradicted
from exporter.auth.base import CodeArtsAuth
from exporter.errors import (
    AuthError,
    ClientError,
    CodeArtsError,
    ErrorCodes,
    NotFoundError,
    PayloadError,
    ServerError,
    ThrottledError,
    TransientServerError,
    redact_url,
)
from exporter.limits import MAX_BODY_BYTES, MAX_ITEMS_PER_LISTING, SKIP_WARNINGS_PER_LISTING
from exporter.pagination import ListingTooLong, Page, Reading, walk_pages
from exporter.payload import RecordError
from exporter.ratelimit import RateLimits
from exporter.retry import Retrier, RetryPolicy
from exporter.stats import RequestStats
from exporter.upstream import JSON_HEADERS, Upstream, error_fields, retry_after

log = logging.getLogger(__name__)

PAGE_SIZE = 100
DEFAULT_MAX_BODY_BYTES = MAX_BODY_BYTES
NO_CODES = ErrorCodes()  # an API whose error codes mean nothing beyond their status

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
        error_codes: Mapping[str, ErrorCodes] | None = None,
    ) -> None:
        """``error_codes``: per API (a source's name), what its error codes mean beyond their status."""
        self._error_codes = dict(error_codes or {})
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
        self._upstream = Upstream(timeout=timeout, stats=self.stats, max_body_bytes=max_body_bytes,
                                  pool_size=pool_size, rate_limits=self.rate_limits, base_urls=self.base_urls)

    def close(self) -> None:
        """Release pooled connections; requests still asked for afterwards (by a walk the poller gave up on)
        fail at once instead of going out."""
        self._upstream.close()

    @property
    def auth(self) -> CodeArtsAuth:
        """How requests carry credentials (a source may word a refusal after the mode)."""
        return self._auth

    def checking(self, api: str, url: str) -> AbstractContextManager[None]:
        """A scope in which parsers report contradicted assumptions (for ``api`` without its ``_history``
        suffix, and the URL) and items they left out (codearts_records_skipped_total under ``api``)."""
        return checking(self.stats.assumptions, api.removesuffix("_history"), redact_url(url),
                        lambda reason, count: self.stats.count_skipped(api, reason, count))

    def _api_of(self, url: str) -> str:
        """The API whose base URL ``url`` starts with ("" if none: a source with its own host)."""
        return next((api for api, base in self.base_urls.items() if url.startswith(base)), "")

    def base_url(self, api: str) -> str:
        """The base URL of an API (a source's name), without a trailing slash."""
        try:
            return self.base_urls[api]
        except KeyError:
            raise ValueError(f"no base URL for the {api!r} API") from None

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
        total_documented: bool = True,
    ) -> ParsedListing[T]:
        """Walk a listing; pages byte-identical to last time are not decoded or parsed again, and if
        every page is, the last records are returned as they are (the same tuple, so the exposition
        keeps their rendered lines too). ``params(parameter)`` gives the query of a GET, or the JSON body
        of a POST (``method="POST"``: APIs such as Pipeline's that page in the body). ``total_documented``: the
        API documents a total beside the items (its absence contradicts the ``total_present`` assumption)."""
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
        with self.checking(api, url):
            try:
                walk = walk_pages(fetch, ordered, PAGE_SIZE)
            except ListingTooLong as err:
                raise PayloadError(str(err), url=url) from None
            reading = ordered[walk.reading] if walk.complete else None
            if walk.total is None and total_documented:
                contradicted("total_present", "no total beside the items: walked until a short or stale page")
            if reading is not None and reading is not readings[0]:
                self.stats.assumptions.contradicted(api, "paging_style", redact_url(url),
                                                    f"the paging parameter is read as {reading.__name__}")
        if memo is not None and memo.digests == tuple(digests):
            listing = replace(memo.listing, requests=walk.requests)
            self._memos[url] = replace(memo, reading=reading)
        else:
            records = tuple(item.record for item in walk.items if item.record is not None)
            listing = ParsedListing(records, len(walk.items) - len(records), walk.requests, walk.complete)
            self._memos[url] = _ListingMemo(pages, tuple(digests), listing, reading)
        self.stats.count_skipped(api, "malformed", listing.skipped)  # every poll, reused or not
        if walk.capped:
            log.warning("listing %s gave no total and still full pages after %d requests (the page limit); keeping "
                        "%d records, the listing is incomplete", redact_url(url), walk.requests, len(listing.records))
        elif not listing.complete and walk.total is not None:  # without a total, a short page is the end
            log.warning("listing %s ended before its reported total; keeping %d records", redact_url(url),
                        len(listing.records))
        return listing

    def page_records(self, api: str, url: str, items: list[Any], parse: Callable[[object], T]) -> tuple[T, ...]:
        """The records of one page that parse; the others are logged and counted as skipped."""
        if len(items) > MAX_ITEMS_PER_LISTING:
            raise PayloadError(f"page holds {len(items)} items, more than a listing may ({MAX_ITEMS_PER_LISTING})",
                               url=url)
        with self.checking(api, url):
            parsed = self._parse(api, url, items, parse)
        records: tuple[T, ...] = tuple(item.record for item in parsed if item.record is not None)  # type: ignore[misc]
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
        # A wait past the retry deadline gives the request up at once: nothing longer is ever waited.
        error = _error_for(response, url, self._error_codes.get(api, NO_CODES),
                           longest_wait=self._retrier.policy.deadline)
        if isinstance(error, ThrottledError):
            self.stats.count_throttled(api)
        raise error

    def _send(self, api: str, url: str, params: dict[str, Any], data: bytes | None) -> requests.Response:
        return self._upstream.send(api, "GET" if data is None else "POST", url, params=params, data=data,
                                   headers=None if data is None else JSON_HEADERS, auth=self._auth)

    def decode_json(self, response: requests.Response) -> Any:
        """The JSON body of a response, or a :class:`PayloadError`; an invalid UTF-8 byte (in one job's name, say)
        is replaced, not a reason to lose the whole answer."""
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError as err:
            text = response.content.decode("utf-8", "replace")
            detail = f"invalid UTF-8 at byte {err.start}; replaced with U+FFFD"
            if not contradicted("utf8_bodies", detail):  # outside a listing: the API is the one of the URL
                self.stats.assumptions.contradicted(self._api_of(response.url), "utf8_bodies",
                                                    redact_url(response.url), detail)
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as err:
            raise PayloadError(f"invalid JSON body ({type(err).__name__})", url=response.url,
                               status=response.status_code) from None


def _error_for(response: requests.Response, url: str, codes: ErrorCodes = NO_CODES,
               longest_wait: float = math.inf) -> CodeArtsError:
    """The error a 4xx or 5xx answer means, ``codes`` saying what its API's error codes mean; a throttling's
    ``Retry-After`` read as at most ``longest_wait``."""
    status = response.status_code
    code, message = error_fields(response)
    # In this order: a 401, 403 or 404 is that, whatever its error code; Build throttles with a 500.
    if status not in (401, 403, 404) and (status == 429 or code in codes.throttle):
        wait = retry_after(response.headers.get("Retry-After"), now=time.time(), ceiling=longest_wait)
        return ThrottledError("throttled", retry_after=wait.seconds if wait is not None else None, url=url,
                              status=status, error_code=code, error_msg=message)
    kind, text = ((AuthError, "credentials refused") if status in (401, 403) else
                  (NotFoundError, "not found") if status == 404 else
                  (TransientServerError if code in codes.transient else ServerError, "server error") if status >= 500
                  else (ClientError, "request refused"))
    return kind(text, url=url, status=status, error_code=code, error_msg=message)
