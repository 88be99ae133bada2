"""The only code that speaks HTTP to CodeArts: sessions, timeouts, error mapping, pagination, parsing."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import requests
import urllib3

from exporter import __version__
from exporter.auth import CodeArtsAuth
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
from exporter.models import (
    BuildJob,
    BuildRun,
    HeadPipeline,
    MergeRequest,
    PipelineJob,
    RecordError,
    Repository,
    parse_build_job,
    parse_build_record,
    parse_head_pipeline,
    parse_history_record,
    parse_merge_request,
    parse_pipeline_job,
    parse_repository,
)
from exporter.pagination import BUILD_READINGS, REPO_READINGS, ListingTooLong, Page, Reading, walk_pages
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
BUILD_THROTTLE_CODE = "CB.00060211"  # CodeArts Build throttles with HTTP 500 and this code

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ParsedListing(Generic[T]):
    """The typed records of one listing, and what it cost."""

    records: tuple[T, ...]
    skipped: int
    requests: int
    complete: bool


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of a build job's run history: the runs that parsed, and how many items the page held."""

    runs: tuple[BuildRun, ...]
    size: int


HISTORY_INTERVAL_DAYS = 30  # /v3/jobs/{job_id}/history looks back at most 30 days


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


def _digest(response: requests.Response) -> bytes:
    """What a page's meaning depends on: its body and the total header beside it."""
    hasher = hashlib.blake2b(response.content, digest_size=16)
    hasher.update(b"\0" + (response.headers.get("X-Total") or "").encode("latin-1", "replace"))
    return hasher.digest()


class CodeArtsClient:
    """Lists pipeline jobs (CodeArts Repo) and build jobs (CodeArts Build) for the poller."""

    def __init__(
        self,
        *,
        repo_url: str,
        build_url: str,
        auth: CodeArtsAuth,
        timeout: float,
        stats: RequestStats | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        pool_size: int = 10,
        rate_limits: RateLimits | None = None,
        retry: Retrier | RetryPolicy | None = None,
    ) -> None:
        self.repo_url = repo_url.rstrip("/")
        self.build_url = build_url.rstrip("/")
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
        # about a third of the CPU of a small request). Read it once per base URL instead.
        self._environment = {base: self._session.merge_environment_settings(base, {}, None, None, None)
                             for base in (self.repo_url, self.build_url)}
        self._session.trust_env = False

    def close(self) -> None:
        """Release pooled connections; requests still asked for afterwards (by a walk the poller gave up on)
        fail at once instead of going out."""
        self._closed = True
        self._session.close()

    def list_pipeline_jobs(self, repository_id: int, pipeline_id: int) -> ParsedListing[PipelineJob]:
        """Every job of one Repo pipeline."""
        url = f"{self.repo_url}/v4/repositories/{repository_id}/pipelines/{pipeline_id}/jobs"

        def decode(response: requests.Response) -> Page:
            body = self._json(response)
            if not isinstance(body, list):
                raise PayloadError("expected a JSON array of jobs", url=url, status=response.status_code)
            return Page(body, _total_header(response.headers.get("X-Total")))

        return self._listing("repo", url, lambda offset: {"offset": offset, "limit": PAGE_SIZE}, decode,
                             REPO_READINGS, parse_pipeline_job)

    def list_build_jobs(self, project_id: str) -> ParsedListing[BuildJob]:
        """Every build job of one CodeArts project."""
        url = f"{self.build_url}/v3/{project_id}/jobs"

        def decode(response: requests.Response) -> Page:
            body = self._json(response)
            if not isinstance(body, dict) or not isinstance(body.get("jobs", []), list):
                raise PayloadError("expected an object with a jobs array", url=url, status=response.status_code)
            total = body.get("total")
            total = total if isinstance(total, int) and not isinstance(total, bool) else None
            return Page(body.get("jobs") or [], total)

        return self._listing("build", url, lambda index: {"page_index": index, "page_size": PAGE_SIZE}, decode,
                             BUILD_READINGS, parse_build_job)

    def build_records_page(self, build_project_id: str, page: int, limit: int) -> RunPage:
        """One page (1-based, newest first) of ``GET /v1/record/{build_project_id}/records``."""
        url = f"{self.build_url}/v1/record/{build_project_id}/records"
        response = self._get("build", url, {"page": page, "limit": limit})
        body = self._json(response)
        result = body.get("result") if isinstance(body, dict) else None
        items = result.get("data") if isinstance(result, dict) else None
        if not isinstance(items, list):
            raise PayloadError("expected an object with result.data", url=url, status=response.status_code)
        return RunPage(self._records("build_history", url, items, parse_build_record), len(items))

    def build_history_page(self, job_id: str, offset: int, limit: int) -> RunPage:
        """One page (``offset`` = page number from 0, newest first) of the older ``GET /v3/jobs/{job_id}/history``."""
        url = f"{self.build_url}/v3/jobs/{job_id}/history"
        response = self._get("build", url, {"offset": offset, "limit": limit, "interval": HISTORY_INTERVAL_DAYS})
        body = self._json(response)
        items = body.get("history_records") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise PayloadError("expected an object with history_records", url=url, status=response.status_code)
        return RunPage(self._records("build_history", url, items, parse_history_record), len(items))

    def list_project_repositories(self, project_id: str) -> ParsedListing[Repository]:
        """Every repository of a CodeArts project (``GET /v4/projects/{project_id}/repositories``)."""
        url = f"{self.repo_url}/v4/projects/{project_id}/repositories"
        return self._listing("repo", url, lambda offset: {"offset": offset, "limit": PAGE_SIZE},
                             self._array_page(url, "repositories"), REPO_READINGS, parse_repository)

    def list_open_merge_requests(self, repository_id: int) -> ParsedListing[MergeRequest]:
        """The open merge requests of a repository, asked newest (last updated) first."""
        url = f"{self.repo_url}/v4/repositories/{repository_id}/merge-requests"

        def params(offset: int) -> dict[str, Any]:
            return {"offset": offset, "limit": PAGE_SIZE, "state": "opened", "order_by": "updated_at", "sort": "desc"}

        return self._listing("repo", url, params, self._array_page(url, "merge requests"), REPO_READINGS,
                             parse_merge_request)

    def head_pipeline(self, repository_id: int, iid: int) -> HeadPipeline | None:
        """The head pipeline of a merge request (``actual-head-pipeline``); None if it has none."""
        url = f"{self.repo_url}/v4/repositories/{repository_id}/merge-requests/{iid}/actual-head-pipeline"
        response = self._get("repo", url, {})
        try:
            return parse_head_pipeline(self._json(response))
        except RecordError as err:
            raise PayloadError(f"unexpected head pipeline body: {err}", url=url, status=response.status_code) from None

    def _array_page(self, url: str, what: str) -> Callable[[requests.Response], Page]:
        """A decoder for a Repo v4 list answered as a JSON array (``X-Total`` read when present)."""
        def decode(response: requests.Response) -> Page:
            body = self._json(response)
            if not isinstance(body, list):
                raise PayloadError(f"expected a JSON array of {what}", url=url, status=response.status_code)
            return Page(body, _total_header(response.headers.get("X-Total")))

        return decode

    def _listing(
        self,
        api: str,
        url: str,
        params: Callable[[int], dict[str, Any]],
        decode: Callable[[requests.Response], Page],
        readings: tuple[Reading, ...],
        parse: Callable[[object], T],
    ) -> ParsedListing[T]:
        """Walk a listing; pages byte-identical to last time are not decoded or parsed again, and if
        every page is, the last records are returned as they are (the same tuple, so the exposition
        keeps their rendered lines too)."""
        memo = self._memos.get(url)
        pages: dict[int, _PageMemo] = {}
        digests: list[bytes] = []

        def fetch(parameter: int) -> Page:
            response = self._get(api, url, params(parameter))
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

        try:
            walk = walk_pages(fetch, readings, PAGE_SIZE)
        except ListingTooLong as err:
            raise PayloadError(str(err), url=url) from None
        if memo is not None and memo.digests == tuple(digests):
            listing = replace(memo.listing, requests=walk.requests)
        else:
            records = tuple(item.record for item in walk.items if item.record is not None)
            listing = ParsedListing(records, len(walk.items) - len(records), walk.requests, walk.complete)
            self._memos[url] = _ListingMemo(pages, tuple(digests), listing)
        self.stats.count_skipped(api, "malformed", listing.skipped)  # every poll, reused or not
        if not listing.complete and walk.total is not None:  # without a total, a short page is the end
            log.warning("listing %s ended before its reported total; keeping %d records", redact_url(url),
                        len(listing.records))
        return listing

    def _records(self, api: str, url: str, items: list[Any], parse: Callable[[object], T]) -> tuple[T, ...]:
        """The records of one page that parse; the others are logged and counted as skipped."""
        if len(items) > MAX_ITEMS_PER_LISTING:
            raise PayloadError(f"page holds {len(items)} items, more than a listing may ({MAX_ITEMS_PER_LISTING})",
                               url=url)
        records = tuple(item.record for item in self._parse(api, url, items, parse) if item.record is not None)
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

    def _get(self, api: str, url: str, params: dict[str, Any]) -> requests.Response:
        """One GET, retried per the retry policy; a 2xx response with its body read, or a :class:`CodeArtsError`."""
        return self._retrier.call(api, lambda: self._attempt(api, url, params))

    def _attempt(self, api: str, url: str, params: dict[str, Any]) -> requests.Response:
        response = self._send(api, url, params)
        if response.status_code == 401 and self._auth.renew_after_unauthorized():
            response = self._send(api, url, params)
        if 200 <= response.status_code < 300:
            return response
        error = _error_for(response, url)
        if isinstance(error, ThrottledError):
            self.stats.count_throttled(api)
        raise error

    def _send(self, api: str, url: str, params: dict[str, Any]) -> requests.Response:
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
                environment = self._environment[self.repo_url if url.startswith(self.repo_url) else self.build_url]
                response = self._session.get(url, params=params, auth=self._auth, timeout=self.timeout,
                                             allow_redirects=False, **{**environment, "stream": True})
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
    def _json(response: requests.Response) -> Any:
        try:
            return json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise PayloadError(f"invalid JSON body ({type(err).__name__})", url=response.url,
                               status=response.status_code) from None


def _total_header(value: str | None) -> int | None:
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
    details = {"url": url, "status": status, "error_code": code, "error_msg": message}
    if 300 <= status < 400:
        return RedirectError(f"redirected to {redirect_target(response)}; redirects are never followed", **details)
    if status in (401, 403):
        return AuthError("credentials refused", **details)
    if status == 404:
        return NotFoundError("not found", **details)
    if status == 429 or code == BUILD_THROTTLE_CODE:
        return ThrottledError("throttled", retry_after=_retry_after(response.headers.get("Retry-After")),
                              **details)
    if status >= 500:
        return ServerError("server error", **details)
    return ClientError("request refused", **details)
