"""The only code that speaks HTTP to CodeArts: sessions, timeouts, error mapping, pagination, parsing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import requests

from exporter import __version__
from exporter.auth import CodeArtsAuth
from exporter.errors import (
    AuthError,
    ClientError,
    CodeArtsError,
    CredentialsError,
    NotFoundError,
    PayloadError,
    ServerError,
    ThrottledError,
    TransportError,
    redact_url,
)
from exporter.models import (
    BuildJob,
    BuildRun,
    PipelineJob,
    RecordError,
    parse_build_job,
    parse_build_record,
    parse_history_record,
    parse_pipeline_job,
)
from exporter.pagination import BUILD_READINGS, REPO_READINGS, Page, walk_pages
from exporter.stats import RequestStats

log = logging.getLogger(__name__)

PAGE_SIZE = 100
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
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
    ) -> None:
        self.repo_url = repo_url.rstrip("/")
        self.build_url = build_url.rstrip("/")
        self.timeout = timeout
        self.stats = stats or RequestStats()
        self.max_body_bytes = max_body_bytes
        self._auth = auth
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 1))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = f"codearts-exporter/{__version__}"
        self._session.headers["Accept"] = "application/json"

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def list_pipeline_jobs(self, repository_id: int, pipeline_id: int) -> ParsedListing[PipelineJob]:
        """Every job of one Repo pipeline."""
        url = f"{self.repo_url}/v4/repositories/{repository_id}/pipelines/{pipeline_id}/jobs"

        def fetch(offset: int) -> Page:
            response = self._get("repo", url, {"offset": offset, "limit": PAGE_SIZE})
            body = self._json(response)
            if not isinstance(body, list):
                raise PayloadError("expected a JSON array of jobs", url=url, status=response.status_code)
            return Page(body, _total_header(response.headers.get("X-Total")))

        listing = walk_pages(fetch, REPO_READINGS, PAGE_SIZE)
        return self._parse("repo", url, listing.items, parse_pipeline_job, listing.requests, listing.complete)

    def list_build_jobs(self, project_id: str) -> ParsedListing[BuildJob]:
        """Every build job of one CodeArts project."""
        url = f"{self.build_url}/v3/{project_id}/jobs"

        def fetch(page_index: int) -> Page:
            response = self._get("build", url, {"page_index": page_index, "page_size": PAGE_SIZE})
            body = self._json(response)
            if not isinstance(body, dict) or not isinstance(body.get("jobs", []), list):
                raise PayloadError("expected an object with a jobs array", url=url, status=response.status_code)
            total = body.get("total")
            total = total if isinstance(total, int) and not isinstance(total, bool) else None
            return Page(body.get("jobs") or [], total)

        listing = walk_pages(fetch, BUILD_READINGS, PAGE_SIZE)
        return self._parse("build", url, listing.items, parse_build_job, listing.requests, listing.complete)

    def build_records_page(self, build_project_id: str, page: int, limit: int) -> RunPage:
        """One page (1-based, newest first) of ``GET /v1/record/{build_project_id}/records``."""
        url = f"{self.build_url}/v1/record/{build_project_id}/records"
        response = self._get("build", url, {"page": page, "limit": limit})
        body = self._json(response)
        result = body.get("result") if isinstance(body, dict) else None
        items = result.get("data") if isinstance(result, dict) else None
        if not isinstance(items, list):
            raise PayloadError("expected an object with result.data", url=url, status=response.status_code)
        return RunPage(self._parse("build_history", url, items, parse_build_record, 1, True).records, len(items))

    def build_history_page(self, job_id: str, offset: int, limit: int) -> RunPage:
        """One page (``offset`` = page number from 0, newest first) of the older ``GET /v3/jobs/{job_id}/history``."""
        url = f"{self.build_url}/v3/jobs/{job_id}/history"
        response = self._get("build", url, {"offset": offset, "limit": limit, "interval": HISTORY_INTERVAL_DAYS})
        body = self._json(response)
        items = body.get("history_records") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise PayloadError("expected an object with history_records", url=url, status=response.status_code)
        return RunPage(self._parse("build_history", url, items, parse_history_record, 1, True).records, len(items))

    def _parse(
        self,
        api: str,
        url: str,
        items: list[Any],
        parse: Callable[[object], T],
        requests_sent: int,
        complete: bool,
    ) -> ParsedListing[T]:
        records: list[T] = []
        skipped = 0
        for item in items:
            try:
                records.append(parse(item))
            except RecordError as err:
                skipped += 1
                log.warning("skipping a malformed %s record from %s: %s", api, redact_url(url), err)
        self.stats.count_skipped(api, "malformed", skipped)
        if not complete:
            log.warning("listing %s ended before its reported total; keeping %d records", redact_url(url),
                        len(records))
        return ParsedListing(tuple(records), skipped, requests_sent, complete)

    def _get(self, api: str, url: str, params: dict[str, Any]) -> requests.Response:
        """One GET; returns a 2xx response with its body read, or raises a :class:`CodeArtsError`."""
        response = self._send(api, url, params)
        if response.status_code == 401 and self._auth.renew_after_unauthorized():
            response = self._send(api, url, params)
        if 200 <= response.status_code < 300:
            return response
        raise _error_for(response, url)

    def _send(self, api: str, url: str, params: dict[str, Any]) -> requests.Response:
        try:
            response = self._session.get(url, params=params, auth=self._auth, timeout=self.timeout, stream=True)
            try:
                response._content = self._read_capped(response, url)
            finally:
                response.close()
        except CredentialsError:
            raise  # the auth had nothing to send: no request went out, none is counted
        except CodeArtsError:
            self.stats.count_request(api, "error")
            raise
        except requests.RequestException as err:
            self.stats.count_request(api, "error")
            raise TransportError(f"request failed: {type(err).__name__}", url=url) from None
        self.stats.count_request(api, str(response.status_code))
        return response

    def _read_capped(self, response: requests.Response, url: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadError(f"response body larger than {self.max_body_bytes} bytes", url=url,
                                   status=response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)

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
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _error_for(response: requests.Response, url: str) -> CodeArtsError:
    status = response.status_code
    code, message = _error_fields(response)
    details = {"url": url, "status": status, "error_code": code, "error_msg": message}
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
