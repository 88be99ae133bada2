"""Build run history: every finished build counted exactly once, from the records API.

Per build job a high-water mark: the highest build number up to which every run has been counted (or found
gone), plus the numbers above it already counted. After each listing, the jobs whose listing entry changed
and that have runs above their mark are noted as pending (no request); once every listing of the cycle is
in, :meth:`BuildHistory.catch_up_tasks` fetches their records, least recently tried first, within a budget
of requests per cycle. A job left over by the budget keeps its mark and is fetched in a later cycle (its runs
counted then, exactly once), so a backlog of history never holds back a listing.

With the batch records API (``history.api: auto``, the default, where the account answers it, or ``brief``),
the jobs of one project are fetched together: one ``POST /v1/record/brief`` carries up to
``BRIEF_IDS_PER_REQUEST`` jobs and returns the last runs of each, so history costs at most one request per
project per cycle for up to that many jobs that ran. A job further behind than one batch answer reaches
is fetched alone, as before. ``auto`` tries the batch call first and, if the account answers it with 400 or
404, fetches every job alone from then on (the jobs of that first batch in the same cycle).

First sight of a job (no saved state) sets its mark to its latest finished build without back-filling, so a
restart without ``state.path`` never produces a spike; a run still going at first sight is counted when it
finishes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from exporter.client import CodeArtsClient
from exporter.errors import ClientError, CodeArtsError, NotFoundError
from exporter.runhistory.counts import Labels, RunCounts, RunKind
from exporter.runhistory.history import Task
from exporter.runhistory.marks import FetchTask, advance
from exporter.runhistory.options import HistoryConfig
from exporter.snapshot import Target
from exporter.sources.build.fetch import RunPage, build_brief_records, build_history_page, build_records_page
from exporter.sources.build.models import RUN_STATUSES, BuildJob, BuildRun
from exporter.sources.build.testbook import TestBook
from exporter.statefile import check, count, exactly, list_of, mapping, scalar

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
# Jobs one batch request carries. The API documents no maximum for its body; 100 ids keep a body near
# 4 KB and an answer of 100 jobs x their new runs well within the client's body cap.
BRIEF_IDS_PER_REQUEST = 100
KIND = RunKind("build", "build", RUN_STATUSES, label_count=3, queued=True)


@dataclass(slots=True)
class _JobMark:
    """Where counting of one build job stands."""

    high: int  # every run numbered up to here is counted or gone
    above: set[int] = field(default_factory=set)  # numbers above ``high`` already counted
    marker: tuple[Any, ...] = ()  # the listing entry's (number, status, time) when last caught up
    tried: int = 0  # the cycle that last fetched this job's runs (0: never); the least recent goes first


@dataclass(frozen=True, slots=True)
class _Pending:
    """A build job with runs to fetch, as its latest listing showed it."""

    labels: Labels
    job: BuildJob
    finished_up_to: int  # the newest finished run the listing implies
    latest: int  # the newest run number the listing shows
    marker: tuple[Any, ...]
    order: int  # position in its listing, to keep ties stable


def listing_marker(job: BuildJob) -> tuple[Any, ...]:
    """What in a job listing entry changes when the job runs."""
    return (job.build_number, job.status, job.last_build_time)


def _latest_number(job: BuildJob) -> int | None:
    text = job.build_number.strip()
    return int(text) if text.isascii() and text.isdigit() else None  # "²".isdigit() too, but int() refuses it


@dataclass(frozen=True, slots=True)
class _BriefFetch:
    """One batch records fetch of a cycle: jobs of one project, a task for a poll worker."""

    catch_up: Callable[[list[tuple[_Pending, int]], float | None], None]
    entries: list[tuple[_Pending, int]]  # each job with its previous turn
    start_by: float | None

    def __call__(self) -> None:
        self.catch_up(self.entries, self.start_by)


def _build_project_id(job: BuildJob) -> str:
    return job.build_project_id or job.id


class BuildHistory:
    """Counts the finished runs of build jobs from the records API, each exactly once."""

    kind = KIND

    def __init__(self, counts: RunCounts, client: CodeArtsClient, options: HistoryConfig, *,
                 requests_per_cycle: int | None, monotonic: Callable[[], float],
                 tests: frozenset[str] = frozenset()) -> None:
        """``requests_per_cycle``: the records and report requests one cycle may plan (None: no limit);
        ``tests``: the project ids whose builds' unit-test reports are read."""
        self.counts = counts
        counts.add_kind(KIND)
        self.client = client
        self.options = options
        self.requests_per_cycle = requests_per_cycle
        self._monotonic = monotonic
        self._lock = counts.lock
        self._cycle = 0
        # Whether the batch records API is used: None until ``auto`` has seen it answer (or refuse).
        self._brief: bool | None = None if options.api == "auto" else options.api == "brief"
        self._pending: dict[str, dict[str, _Pending]] = {}  # project id -> job id -> what to fetch
        self._marks: dict[str, _JobMark] = {}
        self._tests_projects = tests
        self.tests = TestBook(counts, KIND.name, client, monotonic)

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Note which build jobs of a project ran since their marks (no request)."""
        with self._lock:
            pending = {}
            for order, job in enumerate(records):
                entry = self._note_build_job(target.key, job, order)
                if entry is not None:
                    pending[entry.job.id] = entry
            # Replaced whole: a job gone from the listing is no longer fetched.
            self._pending[target.key] = pending

    def catch_up_tasks(self, within: float | None = None) -> list[Task]:
        """This cycle's records fetches as tasks (they may run in parallel): the jobs tried least recently
        first, as many as ``requests_per_cycle`` allows (at least one request). With the batch API, jobs of
        one project share a request (up to ``BRIEF_IDS_PER_REQUEST``); otherwise each job is a task. A task
        that has not started ``within`` seconds from now does nothing and its jobs keep their place (a slow
        or failing records API must not stretch the cycle). What is not fetched stays pending for a later
        cycle, its mark untouched, so nothing is lost or counted twice."""
        start_by = None if within is None else self._monotonic() + within
        records_budget = self._records_budget()
        with self._lock:
            self._cycle += 1
            waiting = sorted((entry for jobs in self._pending.values() for entry in jobs.values()),
                             key=lambda entry: (self._marks[entry.job.id].tried, entry.order))
            alone: list[tuple[_Pending, int]] = []
            batches: list[list[tuple[_Pending, int]]] = []
            open_batch: dict[str, list[tuple[_Pending, int]]] = {}  # project id -> its batch with room
            planned = 0
            for entry in waiting:
                project = entry.labels[0]
                batch = open_batch.get(project) if self._batched(entry) else None
                cost = 0 if batch is not None else 1 if self._batched(entry) else self._pages(entry)
                if (alone or batches) and records_budget is not None and planned + cost > records_budget:
                    break
                mark = self._marks[entry.job.id]
                turn = (entry, mark.tried)
                mark.tried = self._cycle
                planned += cost
                if not self._batched(entry):
                    alone.append(turn)
                    continue
                if batch is None:
                    batch = open_batch[project] = []
                    batches.append(batch)
                batch.append(turn)
                if len(batch) >= BRIEF_IDS_PER_REQUEST:
                    del open_batch[project]
        tasks: list[Task] = [FetchTask(self._catch_up, entry, start_by, tried) for entry, tried in alone]
        tasks += [_BriefFetch(self._catch_up_batch, batch, start_by) for batch in batches]
        left = None if self.requests_per_cycle is None else max(0, self.requests_per_cycle - planned)
        # Taking turns: the tasks not started within the cycle's history window do nothing, and reports queued
        # behind every records request would be the ones that never start in a busy cycle.
        reports: list[Task] = list(self.tests.tasks(left, start_by))
        return [task for pair in zip_longest(tasks, reports) for task in pair if task is not None]

    def _records_budget(self) -> int | None:
        """The records requests this cycle may plan: the budget, less a quarter of it kept for unit-test reports
        while any wait (the reports take what the records leave, and records that keep up leave plenty; a
        tenant whose records use the whole budget every cycle would never see a report without the share)."""
        budget = self.requests_per_cycle
        if budget is None or budget < 2:
            return budget
        return budget - min(self.tests.waiting(), budget // 4)

    def _batched(self, entry: _Pending) -> bool:
        """True if ``entry`` goes in a batch request: the batch API is (or may be) there, and one answer of
        at most MAX_PAGE_SIZE runs per job reaches back to its mark."""
        return self._brief is not False and self.options.api != "v3" \
            and entry.latest - self._marks[entry.job.id].high <= MAX_PAGE_SIZE

    def pending_jobs(self) -> int:
        """Build jobs whose new runs are not fetched yet."""
        with self._lock:
            return sum(len(jobs) for jobs in self._pending.values())

    def _note_build_job(self, project_id: str, job: BuildJob, order: int) -> _Pending | None:
        labels = (project_id, job.id, job.name)
        latest = _latest_number(job)
        marker = listing_marker(job)
        self.counts.init_job(KIND.name, labels)
        mark = self._marks.get(job.id)
        if mark is None:  # first sight: no back-filling; a run still going is counted when it ends
            first = latest or 0
            self._marks[job.id] = _JobMark(first - 1 if job.running and first else first, marker=marker)
            return None
        # The newest finished run is the latest one, or the one before while the latest still runs.
        finished_up_to = None if latest is None else latest - 1 if job.running else latest
        if mark.marker == marker or finished_up_to is None or finished_up_to <= mark.high:
            mark.marker = marker
            return None
        return _Pending(labels, job, finished_up_to, latest or finished_up_to, marker, order)

    def _pages(self, entry: _Pending) -> int:
        """The requests fetching ``entry`` is expected to take."""
        behind = entry.latest - self._marks[entry.job.id].high
        return max(1, min(self.options.max_pages, math.ceil(behind / MAX_PAGE_SIZE)))

    def _catch_up(self, entry: _Pending, start_by: float | None, tried: int) -> None:
        job = entry.job
        with self._lock:
            mark = self._marks[job.id]
            if start_by is not None and self._monotonic() > start_by:
                mark.tried = tried  # not its turn after all: it keeps its place in the queue
                return
            high, above = mark.high, set(mark.above)
        try:
            runs = self._fetch(job, high, entry.latest)
        except CodeArtsError as err:
            log.warning("run history of build job %s failed, fetched again in a later cycle: %s", job.id, err)
            return
        with self._lock:
            self._apply(entry.labels, job, high, above, runs, entry.finished_up_to, entry.marker)
            self._done(entry)

    def _catch_up_batch(self, entries: list[tuple[_Pending, int]], start_by: float | None) -> None:
        """Fetch the runs of one project's jobs in one batch request, and count them as :meth:`_catch_up` does."""
        with self._lock:
            if start_by is not None and self._monotonic() > start_by:
                for entry, tried in entries:
                    self._marks[entry.job.id].tried = tried  # not their turn after all
                return
            marks = {entry.job.id: (self._marks[entry.job.id].high, set(self._marks[entry.job.id].above))
                     for entry, _ in entries}
        ids = [_build_project_id(entry.job) for entry, _ in entries]
        limit = max(1, min(MAX_PAGE_SIZE, max(entry.latest - marks[entry.job.id][0] for entry, _ in entries)))
        try:
            pages = build_brief_records(self.client, ids, limit)
        except (NotFoundError, ClientError) as err:
            # Not True: a parallel batch of the same cycle may have switched already; its refusal counts too.
            if self._brief is not True and err.status in (400, 404):
                with self._lock:
                    first, self._brief = self._brief is None, False
                if first:
                    log.warning("the batch records API (POST /v1/record/brief) is not available (%s); fetching "
                                "each build job's runs alone from now on (history.api: v1 says so without trying)",
                                err)
                for entry, tried in entries:
                    self._catch_up(entry, None, tried)
                return
            log.warning("run history of %d build jobs failed, fetched again in a later cycle: %s", len(entries), err)
            return
        except CodeArtsError as err:
            log.warning("run history of %d build jobs failed, fetched again in a later cycle: %s", len(entries), err)
            return
        if self._brief is None:
            self._brief = True
            log.info("using the batch records API (POST /v1/record/brief) for build run history")
        further = []
        for entry, tried in entries:
            page = pages.get(_build_project_id(entry.job))
            if page is None:
                continue  # left out of the answer: still pending, fetched in a later cycle
            high, above = marks[entry.job.id]
            numbers = [run.number for run in page.runs]
            if page.size >= limit and numbers and min(numbers) > high + 1:
                further.append((entry, tried))  # ran again since the listing: more runs than one answer holds
                continue
            runs: dict[int, BuildRun] = {}
            for run in page.runs:
                if run.number > high and (run.number not in runs or run.finished):
                    runs[run.number] = run
            with self._lock:
                self._apply(entry.labels, entry.job, high, above, runs, entry.finished_up_to, entry.marker)
                self._done(entry)
        for entry, tried in further:
            self._catch_up(entry, None, tried)

    def _done(self, entry: _Pending) -> None:
        """Drop ``entry`` from the pending jobs if its fetch caught up with that listing (lock held)."""
        pending = self._pending.get(entry.labels[0], {})
        if self._marks[entry.job.id].marker == entry.marker and pending.get(entry.job.id) is entry:
            del pending[entry.job.id]

    def _fetch(self, job: BuildJob, high: int, latest: int) -> dict[int, BuildRun]:
        """Runs numbered above ``high`` (pages newest first) until the page that reaches ``high + 1``, the
        end of the list or ``max_pages``; runs beyond ``max_pages`` are not fetched (and counted as gone)."""
        limit = max(1, min(MAX_PAGE_SIZE, latest - high))
        runs: dict[int, BuildRun] = {}
        for page_number in range(self.options.max_pages):
            page = self._page(job, page_number, limit)
            for run in page.runs:
                if run.number > high and (run.number not in runs or run.finished):
                    runs[run.number] = run
            lowest = min((run.number for run in page.runs), default=high)
            if page_number == 0 and page.runs and max(run.number for run in page.runs) <= high:
                log.warning("first records page of build job %s holds no run above #%d although #%d exists: "
                            "the API may not list newest first", job.id, high, latest)
            if page.size < limit or lowest <= high + 1:
                return runs
        log.warning("build job %s has more new runs than %d pages of %d; older ones are not counted",
                    job.id, self.options.max_pages, limit)
        return runs

    def _page(self, job: BuildJob, index: int, limit: int) -> RunPage:
        if self.options.api == "v3":
            return build_history_page(self.client, job.id, index, limit)
        return build_records_page(self.client, _build_project_id(job), index + 1, limit)

    def _apply(self, labels: Labels, job: BuildJob, high: int, above: set[int], runs: dict[int, BuildRun],
               finished_up_to: int, marker: tuple[Any, ...]) -> None:
        mark = self._marks[job.id]
        # Another fetch of this job (a late one of an earlier cycle) applied meanwhile: its counts stand. It may
        # have counted a run above a still-running one and moved only ``above``, so both are compared.
        if mark.high != high or mark.above != above:
            return
        for number in sorted(runs):
            run = runs[number]
            if run.finished and number not in above:
                above.add(number)
                self._count(labels, run)
        high, gone = advance(high, above, runs)
        if gone:
            self.client.stats.count_skipped("build_history", "not_listed", gone)
        mark.high, mark.above = high, above
        if high >= finished_up_to:  # caught up: the next fetch waits for the listing to change
            mark.marker = marker

    def _count(self, labels: Labels, run: BuildRun) -> None:
        if run.status not in RUN_STATUSES:
            self.client.stats.count_skipped("build_history", "unknown_status")
            return
        self.counts.count(KIND.name, labels, run.status, run.duration or 0.0, run.queued)
        if labels[0] in self._tests_projects:
            self.tests.note(labels[1], labels, run.number)

    # -- persistence -----------------------------------------------------------------------------------

    def marks_to_state(self) -> dict[str, Any]:
        """``build_marks``: job id -> [high, numbers counted above it, listing marker]."""
        return {"build_marks": {job_id: [mark.high, sorted(mark.above), list(mark.marker)]
                                for job_id, mark in self._marks.items()}} | self.tests.to_state()

    def marks_from_state(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Read ``build_marks`` (ValueError if malformed); the step returned takes them over."""
        marks = {}
        for job_id, mark in mapping(state.get("build_marks", {}), "build_marks").items():
            where = f"build_marks.{job_id[:64]}"
            high, above, marker = exactly(mark, where, 3)
            check(high, f"{where}[0]", count)
            marks[job_id] = _JobMark(high, set(list_of(above, f"{where}[1]", count)),
                                     tuple(list_of(marker, f"{where}[2]", scalar)))

        tests = self.tests.from_state(state, KIND.label_count)

        def take_over() -> None:
            self._marks = marks
            tests()

        return take_over
