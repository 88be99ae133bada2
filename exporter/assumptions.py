"""What the exporter assumes where the CodeArts documentation is silent, and what it does when a live answer
says otherwise.

No live CodeArts account has confirmed the undocumented details (a listing's ``total`` type, the status
vocabularies, unique stage names...). Each such assumption is named once in :data:`KNOWN`; the code that
relies on one checks it on every answer and, when an answer contradicts it, reports it here: the first time
per (api, assumption, target) it is logged by name, counted (``codearts_api_assumption_failures_total``) and
kept for the landing page, and the caller falls back to what still works. docs/reliability.md lists them all.

Pure parsers have no client to report through: they call :func:`contradicted` (or :func:`dropped` for items
left out under a cap), which reports to the scope the client opened around the parse with :func:`checking`
(and does nothing outside one, as in unit tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from exporter.safetext import printable

log = logging.getLogger(__name__)

MAX_TARGETS_LOGGED = 10  # per (api, assumption): beyond this, one summary line, then silence
MAX_DETAIL_CHARS = 160


@dataclass(frozen=True, slots=True)
class Assumption:
    """One undocumented behaviour relied on: its name (the metric label), the APIs it is checked on, what is
    assumed and what the exporter does when an answer contradicts it."""

    name: str
    apis: tuple[str, ...]
    assumed: str
    fallback: str


KNOWN: tuple[Assumption, ...] = (
    Assumption("total_is_integer", ("repo", "build", "pipeline", "deploy"),
               "a listing's total (Build and Pipeline `total`, Repo `X-Total`) is a non-negative integer",
               "a digit string or an integral number is read as that integer; anything else is read as no total"),
    Assumption("total_present", ("repo", "build", "pipeline", "deploy"),
               "every page of a listing that documents a total (Build jobs, Pipeline lists, Repo pipeline jobs' "
               "X-Total) says how many items the whole listing holds",
               "the walk goes on while pages come back full and with new items, up to the page limit; ending on "
               "the limit is logged and the listing marked incomplete"),
    Assumption("paging_style", ("repo", "build", "pipeline", "testplan"),
               "Repo, Pipeline and TestPlan `offset` counts items; Build `page_index` counts pages from 0",
               "the other readings (pages from 0, pages from 1) are tried and the one that yields new items kept"),
    Assumption("status_vocabulary", ("repo", "build", "pipeline", "deploy"),
               "every status word is one of the published ones (docs/reliability.md, status table)",
               "the status is exported as `unknown` (a finished run of unknown outcome is skipped, counted)"),
    Assumption("utf8_bodies", ("repo", "build", "pipeline", "deploy"),
               "answers are valid UTF-8 JSON",
               "each invalid byte is replaced with U+FFFD and the rest of the answer is used"),
    Assumption("unique_stage_names", ("pipeline",),
               "the stages of a run, and the jobs of a stage, have distinct names",
               "one series per label set: the first of a name keeps it, later ones are named `name #2`, `#3`..."),
    Assumption("stage_time_zone", ("pipeline",),
               "the zone-less stage times of a run list are in the project's configured zone (UTC+8 by default)",
               "nothing is exported from a stage's start or end alone (stage durations take both in one zone); "
               "set the project's zone to the one the check reports"),
    Assumption("rate_format", ("testplan",),
               "a test plan's case_pass_rate is a percentage, \"33.3%\" or \"33.3\", or \"N/A\" while no case ran",
               "the plan is served without a pass ratio (counted: no_pass_rate); its other families stand"),
    Assumption("times_in_range", ("build", "pipeline", "deploy"),
               "a finished run has a start time and an end time not before it, at most a year later",
               "the run is counted in the run counters, but no duration or queue time of it is observed"),
    Assumption("runs_sorted_by_number", ("build", "pipeline", "deploy"),
               "a job's run list, newest first, is in descending run-number order (Pipeline sorts it by start time)",
               "the walk goes on, widened to pages of 100 from the newest, until every number between the mark and "
               "the newest finished run is found, the list ends (the rest are gone) or history.max_pages"),
    Assumption("run_numbers_grow", ("build", "pipeline", "deploy"),
               "a job's run numbers only grow",
               "a listing below the mark has the job's runs fetched from #1: if the run list goes no higher, "
               "counting starts again from #1 (a re-created or reset job); if it does, the listing lagged"),
    Assumption("build_number_present", ("build",),
               "every Build job that ran lists its last `build_number` as a positive integer (the API Explorer's "
               "job-list schema has none)",
               "12.0, \"12.0\" and \"#12\" are read as 12; without one, the job's new runs are found through the "
               "records API whenever its listing entry changes (one request per change)"),
    Assumption("batch_answers_every_id", ("build",),
               "a batch records answer (POST /v1/record/brief) carries every build job asked for",
               "a job left out is fetched alone at once"),
    Assumption("codehub_id_is_repository", ("repo",),
               "a Pipeline run's build_params.codehub_id is the CodeArts Repo repository id of its commit_id "
               "(DORA lead time)",
               "the deployment is counted; its lead time is skipped (commit_unknown) and the commit never asked "
               "again"),
)

_current: ContextVar[_Scope | None] = ContextVar("assumption_scope", default=None)


@dataclass(frozen=True, slots=True)
class Contradiction:
    """The first answer that contradicted an assumption for one (api, assumption): where, what, when, and how
    many targets have contradicted it since."""

    api: str
    assumption: str
    target: str
    detail: str
    first_at: float
    targets: int


class AssumptionLog:
    """Thread-safe record of contradicted assumptions; each (api, assumption, target) is logged and counted once."""

    def __init__(self, apis: Iterable[str] = ()) -> None:
        """The known assumptions of ``apis`` (the sources' names) start at zero, so increase() sees the first."""
        apis = frozenset(apis)
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str, str]] = set()
        self._counts: dict[tuple[str, str], int] = {
            (api, each.name): 0 for each in KNOWN for api in each.apis if api in apis}
        self._first: dict[tuple[str, str], Contradiction] = {}

    def contradicted(self, api: str, assumption: str, target: str, detail: str) -> bool:
        """Report that an answer of ``api`` for ``target`` contradicts ``assumption``; True the first time."""
        key = (api, assumption, target)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            count = self._counts.get((api, assumption), 0) + 1
            self._counts[(api, assumption)] = count
            first = self._first.get((api, assumption))
            self._first[(api, assumption)] = (
                Contradiction(api, assumption, target, detail[:MAX_DETAIL_CHARS], time.time(), 1)
                if first is None else Contradiction(first.api, first.assumption, first.target, first.detail,
                                                    first.first_at, count))
        if count <= MAX_TARGETS_LOGGED:
            log.warning("assumption %s contradicted by the %s API for %s: %s", assumption, api, printable(target),
                        printable(detail, MAX_DETAIL_CHARS))
        elif count == MAX_TARGETS_LOGGED + 1:
            log.warning("assumption %s contradicted by the %s API for more targets; no more are logged (see "
                        "codearts_api_assumption_failures_total)", assumption, api)
        return True

    def counts(self) -> dict[tuple[str, str], int]:
        """Targets that contradicted each (api, assumption), known ones from zero."""
        with self._lock:
            return dict(self._counts)

    def contradictions(self) -> tuple[Contradiction, ...]:
        """The first contradiction of each (api, assumption), sorted by api and name."""
        with self._lock:
            return tuple(self._first[key] for key in sorted(self._first))


@dataclass(frozen=True, slots=True)
class _Scope:
    log: AssumptionLog
    api: str
    target: str
    skipped: Callable[[str, int], None] | None


@contextmanager
def checking(assumptions: AssumptionLog, api: str, target: str,
             skipped: Callable[[str, int], None] | None = None) -> Iterator[None]:
    """Within this block, :func:`contradicted` reports to ``assumptions`` for ``api`` and ``target``, and
    :func:`dropped` to ``skipped(reason, count)``."""
    token = _current.set(_Scope(assumptions, api, target, skipped))
    try:
        yield
    finally:
        _current.reset(token)


def contradicted(assumption: str, detail: str) -> bool:
    """Report from a parser that the answer being parsed contradicts ``assumption``; False (nothing reported)
    outside a scope."""
    scope = _current.get()
    if scope is None:
        return False
    scope.log.contradicted(scope.api, assumption, scope.target, detail)
    return True


def dropped(reason: str, count: int) -> None:
    """Report from a parser that it left ``count`` items of the answer out (``reason``: a bounded label value,
    e.g. ``over_cap``); counted in codearts_records_skipped_total where a client opened the scope."""
    scope = _current.get()
    if scope is not None and scope.skipped is not None and count > 0:
        scope.skipped(reason, count)


def known(name: str) -> Assumption:
    """The assumption called ``name`` (a KeyError names an assumption not declared in :data:`KNOWN`)."""
    for each in KNOWN:
        if each.name == name:
            return each
    raise KeyError(name)
