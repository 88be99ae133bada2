"""The CodeArts TestPlan request, through the shared client: ``GET /v2/projects/{project_id}/plans``
(ShowPlanList), answered with HTTP 201 and a bare JSON array of plans, without a total.

Paging: ``offset`` 0-999 and ``limit`` 1-200, both required. The docs call ``offset`` a starting offset (an
item count), which no live account confirmed (codearts-deploy-dora-tests-api.md section 7 item 9). So a walk
checks it when it can: after a full first page, the page at ``offset=200`` must hold new plans; if it is
empty, ``offset=1`` tells the readings apart (items: plans 1-200, all seen; pages: the second page, new
plans). A server found counting pages contradicts the assumption ``paging_style`` (said by name once: log,
landing page, ``codearts_api_assumption_failures_total``) and is walked by page numbers from then on.

With item offsets a listing reaches at most 1,199 plans (``offset=999``); a project with more is listed
once per watched stage (``current_stage=``) from then on, said once in the log.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from exporter.assumptions import contradicted
from exporter.client import CodeArtsClient, ParsedListing
from exporter.errors import PayloadError
from exporter.sources.testplan.config import TestPlanProject
from exporter.sources.testplan.models import TestPlan, parse_plan
from exporter.sources.testplan.targets import API

LIMIT = 200  # the largest page the API serves
MAX_OFFSET = 999  # the largest offset it accepts
ITEMS, PAGES = "items", "pages"

log = logging.getLogger(__name__)


class NotAnArray(Exception):
    """A 2xx answer whose body is no array of plans (and no error either)."""


@dataclass(slots=True)
class _Memo:
    """What one client's walks learned: how ``offset`` counts, the projects listed by stage, each project's
    last good listing (kept when an answer is not an array)."""

    reading: str | None = None  # None until a walk could tell
    by_stage: set[str] = field(default_factory=set)
    last: dict[str, ParsedListing[TestPlan]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_memos: weakref.WeakKeyDictionary[CodeArtsClient, _Memo] = weakref.WeakKeyDictionary()
_memos_lock = threading.Lock()


def memo_of(client: CodeArtsClient) -> _Memo:
    """The paging memo of ``client`` (one per exporter: two exporters in a process learn separately)."""
    with _memos_lock:
        memo = _memos.get(client)
        if memo is None:
            memo = _memos[client] = _Memo()
        return memo


@dataclass(frozen=True, slots=True)
class Walk:
    """The raw plans one walk collected (by ``plan_id``, first seen kept), its cost, and whether it ran into
    the offset cap with more plans possibly beyond."""

    items: list[Any]
    requests: int
    capped: bool


def _key(item: Any) -> str | None:
    key = item.get("plan_id") if isinstance(item, dict) else None
    return key if isinstance(key, str) and key else None


class _Collector:
    """Raw plans by id (items without one are kept for the parser to count), and the requests spent."""

    def __init__(self, fetch: Callable[[int], list[Any]]) -> None:
        self._fetch = fetch
        self.keyed: dict[str, Any] = {}
        self.unkeyed: list[Any] = []
        self.requests = 0

    def page(self, offset: int) -> tuple[int, int]:
        """Fetch the page at ``offset``; (items on it, new plans among them)."""
        self.requests += 1
        items = self._fetch(offset)
        fresh = 0
        for item in items:
            key = _key(item)
            if key is None:
                self.unkeyed.append(item)
                fresh += 1
            elif key not in self.keyed:
                self.keyed[key] = item
                fresh += 1
        return len(items), fresh

    def walk(self, capped: bool) -> Walk:
        return Walk([*self.keyed.values(), *self.unkeyed], self.requests, capped)


def walk_plans(fetch: Callable[[int], list[Any]], memo: _Memo) -> Walk:
    """Every plan a listing holds, ``fetch(offset)`` sending one request (learning into ``memo`` how the
    server counts ``offset``)."""
    pages = _Collector(fetch)
    size, _ = pages.page(0)
    if size < LIMIT:
        return pages.walk(False)
    if memo.reading == PAGES:
        return _walk_pages(pages, 1)
    offset = LIMIT
    while True:
        size, fresh = pages.page(offset)
        if memo.reading is None and size == 0:
            _, probe = pages.page(1)  # items: plans 1-200, all seen; pages: the second page
            if probe:
                _learn(memo, PAGES)
                return _walk_pages(pages, 2)
            return pages.walk(False)  # exactly 200 plans, either way: nothing learnt
        if fresh and memo.reading is None:
            _learn(memo, ITEMS)
        if size < LIMIT or not fresh:
            return pages.walk(False)
        if offset == MAX_OFFSET:
            return pages.walk(True)
        offset = min(offset + LIMIT, MAX_OFFSET)


def _walk_pages(pages: _Collector, first: int) -> Walk:
    for number in range(first, MAX_OFFSET + 1):
        size, fresh = pages.page(number)
        if size < LIMIT or not fresh:
            return pages.walk(False)
    return pages.walk(True)


def _learn(memo: _Memo, reading: str) -> None:
    with memo.lock:
        memo.reading = reading
    if reading == PAGES:  # reported by name (log, landing page, counter) where the walk is checked
        contradicted("paging_style", "offset counts pages, not items as the docs say: listings are walked by page "
                                     "number from now on")


def plans_page(client: CodeArtsClient, project_id: str, offset: int, stage: str | None = None) -> list[Any]:
    """One page of a project's plans (raises :class:`NotAnArray` for a 2xx body that is no array)."""
    url = f"{client.base_url(API)}/v2/projects/{project_id}/plans"
    params: dict[str, Any] = {"offset": offset, "limit": LIMIT}
    if stage is not None:
        params["current_stage"] = stage
    response = client.get(API, url, params)
    body = client.decode_json(response)
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and body.get("error_code"):
        raise PayloadError("error in a 2xx body", url=url, status=response.status_code,
                           error_code=str(body["error_code"])[:64], error_msg=str(body.get("error_msg") or "")[:200])
    raise NotAnArray(f"expected a JSON array of plans from {url}, got {type(body).__name__}")


def list_plans(client: CodeArtsClient, project: TestPlanProject) -> ParsedListing[TestPlan]:
    """The watched plans of one project (name and stage filters applied; age is the renderer's, which knows
    the poll time). Raises :class:`NotAnArray` when a page is no array."""
    memo = memo_of(client)
    stages: tuple[str | None, ...] = project.stages if project.id in memo.by_stage else (None,)
    items: list[Any] = []
    requests, capped = 0, False
    url = f"{client.base_url(API)}/v2/projects/{project.id}/plans"
    for stage in stages:
        with client.checking(API, url):
            walk = walk_plans(partial(plans_page, client, project.id, stage=stage), memo)
        items += walk.items
        requests += walk.requests
        capped = capped or walk.capped
    if capped and stages == (None,):
        log.warning("project %s holds more CodeArts TestPlan plans than one listing reaches (offset <= %d); "
                    "listing them by stage (%s) from now on", project.id, MAX_OFFSET, ", ".join(project.stages))
        with memo.lock:
            memo.by_stage.add(project.id)
        return list_plans(client, project)
    if capped:
        log.warning("project %s: a stage holds more CodeArts TestPlan plans than a listing reaches; plans past "
                    "the first %d of a stage are not seen", project.id, MAX_OFFSET + LIMIT)
    parsed = client.page_records(API, url, items, parse_plan)
    plans = _unique(plan for plan in parsed if project.watches(plan.name, plan.stage))
    listing = ParsedListing(plans, len(items) - len(parsed), requests, not capped)
    previous = memo.last.get(project.id)
    if previous is not None and previous.records == listing.records:  # the same tuple: rendered lines kept
        listing = ParsedListing(previous.records, listing.skipped, requests, listing.complete)
    with memo.lock:
        memo.last[project.id] = listing
    return listing


def _unique(plans: Iterable[TestPlan]) -> tuple[TestPlan, ...]:
    """Plans by id, first seen kept (a plan changing stage between two stage listings shows in both)."""
    seen: dict[str, TestPlan] = {}
    for plan in plans:
        seen.setdefault(plan.id, plan)
    return tuple(seen.values())


def last_listing(client: CodeArtsClient, project_id: str) -> ParsedListing[TestPlan]:
    """The project's last good listing through ``client``; an empty one before any."""
    return memo_of(client).last.get(project_id) or ParsedListing((), 0, 0, False)
