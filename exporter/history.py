"""Run history: every finished build run and pipeline job run counted exactly once.

:class:`RunHistory` owns the run counters and histograms (plain integers behind one lock) and the
high-water marks that make counting exact: per build job, the highest build number up to which every
run has been counted (or found gone), plus the numbers above it already counted. The poller calls
:meth:`RunHistory.after_listing` after each successful listing (no request: pipeline runs are counted
from the listing, build jobs that ran are noted as pending) and, once every listing of the cycle is in,
runs :meth:`RunHistory.catch_up_tasks` on its workers: one task per pending build job, least recently
tried first, within a budget of requests per cycle. Only jobs whose listing entry changed and that have
runs above their mark cost requests, so a cycle's requests grow with the jobs that ran, not with the runs
kept upstream; a job left over by the budget keeps its mark and is fetched in a later cycle (its runs
counted then, exactly once), so a backlog of history never holds back a listing.

First sight of a job (no saved state) sets its mark to its latest finished build without back-filling,
so a restart without ``state.path`` never produces a spike; a run still going at first sight is counted
when it finishes. With ``state.path``, :meth:`to_state` / :meth:`restore` carry marks and counts over.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter import metrics as m
from exporter.client import CodeArtsClient, RunPage
from exporter.config import HistoryConfig
from exporter.errors import CodeArtsError
from exporter.models import RUN_STATUSES, BuildJob, BuildRun, PipelineJob
from exporter.snapshot import REPO_API, Target

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
PIPELINE_RUN_STATUSES: tuple[str, ...] = ("success", "failed", "canceled", "skipped", "timedout")
STATE_VERSION = 1

Labels = tuple[str, ...]


@dataclass(slots=True)
class Histogram:
    """Observation counts per bucket (not cumulative; the last slot is above every bound), sum and count."""

    counts: list[int]
    sum: float = 0.0

    @classmethod
    def empty(cls, bounds: tuple[float, ...]) -> Histogram:
        """A histogram with no observations."""
        return cls([0] * (len(bounds) + 1))

    def observe(self, bounds: tuple[float, ...], value: float) -> None:
        """Add one observation."""
        slot = next((index for index, bound in enumerate(bounds) if value <= bound), len(bounds))
        self.counts[slot] += 1
        self.sum += value

    @property
    def count(self) -> int:
        """Number of observations."""
        return sum(self.counts)


BUILD = "build"
PIPELINE = "pipeline"
JobKey = tuple[str, Labels]  # (BUILD or PIPELINE, the job's labels without the status)
BUILD_LABELS = len(m.BUILD_RUNS.labels)  # project_id, job_id, job, status
PIPELINE_LABELS = len(m.PIPELINE_JOB_RUNS.labels)  # repository_id, pipeline_id, stage, job, status


@dataclass(frozen=True, slots=True)
class JobHistory:
    """A copy of one job's run counters and histograms, per run status in sorted order."""

    runs: tuple[tuple[str, int], ...]
    durations: tuple[tuple[str, Histogram], ...]
    queued: Histogram | None  # build jobs only


@dataclass(frozen=True, slots=True)
class HistoryView:
    """A consistent copy of the run history, for rendering.

    ``versions`` names every job (sorted: build jobs, then pipeline jobs, each by labels) with its change
    version, which grows whenever one of the job's series changes. ``jobs`` holds copies of the jobs whose
    version the caller did not already know, so a renderer keeps the lines of the others.
    """

    duration_bounds: tuple[float, ...]
    queued_bounds: tuple[float, ...]
    versions: tuple[tuple[JobKey, int], ...]
    jobs: Mapping[JobKey, JobHistory]


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


def _advance(high: int, above: set[int], runs: Mapping[int, BuildRun]) -> tuple[int, int]:
    """Move a high-water mark over counted numbers (dropping them from ``above``) and over numbers missing
    below the newest listed run (older than the API's window, deleted, or beyond ``max_pages``); returns the
    new mark and how many were missing. Numbers above the newest listed run wait: they may be listed later."""
    newest = max(runs, default=high)
    gone = 0
    while high < newest:
        following = high + 1
        if following in above:
            above.discard(following)
        elif following not in runs:
            gone += 1
        else:
            break  # listed, not finished yet
        high = following
    return high, gone


@dataclass(frozen=True, slots=True)
class _Fetch:
    """One job's records fetch of a cycle, a task for a poll worker."""

    history: RunHistory
    entry: _Pending
    start_by: float | None
    tried: int  # the job's previous turn, given back if this one does not start in time

    @property
    def job_id(self) -> str:
        """The build job whose runs this fetches."""
        return self.entry.job.id

    def __call__(self) -> None:
        self.history._catch_up(self.entry, self.start_by, self.tried)  # noqa: SLF001 - its own history


class RunHistory:
    """Counts finished runs of build jobs (records APIs) and pipeline jobs (their listing), each exactly once."""

    def __init__(self, client: CodeArtsClient, options: HistoryConfig | None = None, *,
                 requests_per_cycle: int | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        """``requests_per_cycle``: the records requests one cycle may plan (None: no limit)."""
        self.client = client
        self.options = options or HistoryConfig()
        self.requests_per_cycle = requests_per_cycle
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cycle = 0
        self._pending: dict[str, dict[str, _Pending]] = {}  # project id -> job id -> what to fetch
        self._build_runs: dict[Labels, int] = {}
        self._build_durations: dict[Labels, Histogram] = {}
        self._build_queued: dict[Labels, Histogram] = {}
        self._pipeline_runs: dict[Labels, int] = {}
        self._pipeline_durations: dict[Labels, Histogram] = {}
        self._marks: dict[str, _JobMark] = {}
        self._pipeline_seen: dict[str, dict[int, float | None]] = {}  # target key -> job id -> created
        self._versions: dict[JobKey, int] = {}  # what a renderer needs to know which jobs changed
        self._generation = 0

    # -- the poller's hook ---------------------------------------------------------------------------

    def after_listing(self, target: Target, records: Iterable[BuildJob] | Iterable[PipelineJob]) -> None:
        """Count the pipeline runs that finished since the previous listing of ``target``, or note which
        build jobs of it have new runs to fetch (:meth:`catch_up_tasks`); sends no request."""
        if target.api == REPO_API:
            self._pipeline_listing(target, tuple(records))  # type: ignore[arg-type]
            return
        with self._lock:
            pending = {}
            for order, job in enumerate(records):
                entry = self._note_build_job(target.project_id, job, order)  # type: ignore[arg-type]
                if entry is not None:
                    pending[entry.job.id] = entry
            # Replaced whole: a job gone from the listing is no longer fetched.
            self._pending[target.project_id] = pending

    def catch_up_tasks(self, within: float | None = None) -> list[Callable[[], None]]:
        """This cycle's records fetches, one task per build job (they may run in parallel): the jobs
        tried least recently first, as many as ``requests_per_cycle`` allows (at least one). A task
        that has not started ``within`` seconds from now does nothing and its job keeps its place (a slow
        or failing records API must not stretch the cycle). What is not fetched stays pending for a later
        cycle, its mark untouched, so nothing is lost or counted twice."""
        start_by = None if within is None else self._monotonic() + within
        with self._lock:
            self._cycle += 1
            waiting = sorted((entry for jobs in self._pending.values() for entry in jobs.values()),
                             key=lambda entry: (self._marks[entry.job.id].tried, entry.order))
            chosen: list[tuple[_Pending, int]] = []
            planned = 0
            for entry in waiting:
                cost = self._pages(entry)
                if chosen and self.requests_per_cycle is not None and planned + cost > self.requests_per_cycle:
                    break
                mark = self._marks[entry.job.id]
                chosen.append((entry, mark.tried))
                planned += cost
                mark.tried = self._cycle
        return [_Fetch(self, entry, start_by, tried) for entry, tried in chosen]

    def pending_jobs(self) -> int:
        """Build jobs whose new runs are not fetched yet."""
        with self._lock:
            return sum(len(jobs) for jobs in self._pending.values())

    # -- build jobs ------------------------------------------------------------------------------------

    def _note_build_job(self, project_id: str, job: BuildJob, order: int) -> _Pending | None:
        labels = (project_id, job.id, job.name)
        latest = _latest_number(job)
        marker = listing_marker(job)
        self._init_build_labels(labels)
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
            pending = self._pending.get(entry.labels[0], {})
            if mark.marker == entry.marker and pending.get(job.id) is entry:  # caught up with that listing
                del pending[job.id]

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
            return self.client.build_history_page(job.id, index, limit)
        return self.client.build_records_page(job.build_project_id or job.id, index + 1, limit)

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
                self._count_build_run(labels, run)
        high, gone = _advance(high, above, runs)
        if gone:
            self.client.stats.count_skipped("build_history", "not_listed", gone)
        mark.high, mark.above = high, above
        if high >= finished_up_to:  # caught up: the next fetch waits for the listing to change
            mark.marker = marker

    def _count_build_run(self, labels: Labels, run: BuildRun) -> None:
        if run.status not in RUN_STATUSES:
            self.client.stats.count_skipped("build_history", "unknown_status")
            return
        key = (*labels, run.status)
        self._touch(BUILD, labels)
        self._build_runs[key] += 1
        self._build_durations[key].observe(self.options.buckets, run.duration or 0.0)
        if run.queued is not None:
            self._build_queued[labels].observe(self.options.queued_buckets, run.queued)

    def _init_build_labels(self, labels: Labels) -> None:
        if labels in self._build_queued:
            return
        self._touch(BUILD, labels)
        self._build_queued[labels] = Histogram.empty(self.options.queued_buckets)
        for status in RUN_STATUSES:
            self._build_runs.setdefault((*labels, status), 0)
            self._build_durations.setdefault((*labels, status), Histogram.empty(self.options.buckets))

    # -- pipeline jobs ---------------------------------------------------------------------------------

    def _pipeline_listing(self, target: Target, jobs: tuple[PipelineJob, ...]) -> None:
        repo, pipeline = str(target.repository_id), str(target.pipeline_id)
        with self._lock:
            seen = self._pipeline_seen.get(target.key)
            first = seen is None
            fresh: dict[int, float | None] = {}
            for job in jobs:
                labels = (repo, pipeline, job.stage, job.name)
                self._init_pipeline_labels(labels)
                if job.status not in PIPELINE_RUN_STATUSES:
                    continue
                fresh[job.id] = job.created
                if not first and (job.id not in seen or seen[job.id] != job.created):  # type: ignore[operator]
                    self._count_pipeline_run((*labels, job.status), job)
            # Terminal jobs only: a job seen running and gone before it finished is not kept either way.
            self._pipeline_seen[target.key] = fresh

    def _count_pipeline_run(self, key: Labels, job: PipelineJob) -> None:
        duration = 0.0  # a job that never started (skipped, canceled while pending) ran for 0 s
        if job.started is not None and job.finished is not None and job.finished >= job.started:
            duration = job.finished - job.started
        self._touch(PIPELINE, key[:-1])
        self._pipeline_runs[key] += 1
        self._pipeline_durations[key].observe(self.options.buckets, duration)

    def _init_pipeline_labels(self, labels: Labels) -> None:
        for status in PIPELINE_RUN_STATUSES:
            key = (*labels, status)
            if key not in self._pipeline_runs:
                self._touch(PIPELINE, labels)
                self._pipeline_runs[key] = 0
                self._pipeline_durations[key] = Histogram.empty(self.options.buckets)

    def retain_pipelines(self, keys: Collection[str], keep_repositories: Collection[str] = ()) -> None:
        """Forget the pipelines whose ``repository_id/pipeline_id`` is not in ``keys`` (no longer watched),
        but those of ``keep_repositories``: their counters leave /metrics, and if one is watched again it
        starts afresh from first sight, so nothing is counted twice."""
        def kept(labels: Labels) -> bool:
            return labels[0] in keep_repositories or f"{labels[0]}/{labels[1]}" in keys

        with self._lock:
            self._pipeline_seen = {key: seen for key, seen in self._pipeline_seen.items()
                                   if key in keys or key.split("/", 1)[0] in keep_repositories}
            self._pipeline_runs = {labels: n for labels, n in self._pipeline_runs.items() if kept(labels)}
            self._pipeline_durations = {labels: h for labels, h in self._pipeline_durations.items() if kept(labels)}
            self._versions = {key: version for key, version in self._versions.items()
                              if key[0] != PIPELINE or kept(key[1])}

    # -- reading ---------------------------------------------------------------------------------------

    def _touch(self, kind: str, labels: Labels) -> None:
        """Mark one job's series changed (under the lock)."""
        self._generation += 1
        self._versions[(kind, labels)] = self._generation

    def view(self, known: Mapping[JobKey, int] | None = None) -> HistoryView:
        """A consistent copy of the run history; jobs at the version given in ``known`` are not copied."""
        known = known or {}
        with self._lock:
            versions = tuple(sorted(self._versions.items()))
            jobs = {key: self._job_copy(key) for key, version in versions if known.get(key) != version}
        return HistoryView(self.options.buckets, self.options.queued_buckets, versions, jobs)

    def _job_copy(self, key: JobKey) -> JobHistory:
        kind, labels = key
        if kind == BUILD:
            runs, durations, statuses = self._build_runs, self._build_durations, sorted(RUN_STATUSES)
            queued: Histogram | None = _copy(self._build_queued[labels])
        else:
            runs, durations, statuses = self._pipeline_runs, self._pipeline_durations, sorted(PIPELINE_RUN_STATUSES)
            queued = None
        present = [status for status in statuses if (*labels, status) in runs]
        return JobHistory(tuple((status, runs[(*labels, status)]) for status in present),
                          tuple((status, _copy(durations[(*labels, status)])) for status in present), queued)

    # -- persistence -----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Marks, counters and histograms as JSON-ready data (one consistent copy)."""
        def histograms(table: Mapping[Labels, Histogram]) -> list[Any]:
            return [[list(key), hist.counts, hist.sum] for key, hist in table.items()]

        with self._lock:
            return {
                "version": STATE_VERSION,
                "buckets": list(self.options.buckets),
                "queued_buckets": list(self.options.queued_buckets),
                "build_marks": {job_id: [mark.high, sorted(mark.above), list(mark.marker)]
                                for job_id, mark in self._marks.items()},
                "pipeline_seen": {key: [[job_id, created] for job_id, created in seen.items()]
                                  for key, seen in self._pipeline_seen.items()},
                "build_runs": [[list(key), value] for key, value in self._build_runs.items()],
                "build_durations": histograms(self._build_durations),
                "build_queued": histograms(self._build_queued),
                "pipeline_runs": [[list(key), value] for key, value in self._pipeline_runs.items()],
                "pipeline_durations": histograms(self._pipeline_durations),
            }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take over what :meth:`to_state` saved; raises ValueError (nothing changed) if it does not fit."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {state.get('version')!r}")
        same_buckets = (tuple(state.get("buckets", ())) == self.options.buckets
                        and tuple(state.get("queued_buckets", ())) == self.options.queued_buckets)
        try:
            marks = {str(job_id): _JobMark(int(high), {int(n) for n in above}, tuple(marker))
                     for job_id, (high, above, marker) in state["build_marks"].items()}
            seen = {str(key): {int(job_id): created for job_id, created in items}
                    for key, items in state["pipeline_seen"].items()}
            tables = (_counts(state["build_runs"], BUILD_LABELS), _counts(state["pipeline_runs"], PIPELINE_LABELS))
            hists = [_histograms(state[name], bounds) if same_buckets else {}
                     for name, bounds in (("build_durations", self.options.buckets),
                                          ("build_queued", self.options.queued_buckets),
                                          ("pipeline_durations", self.options.buckets))]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"malformed state ({type(err).__name__}: {err})") from None
        if not same_buckets:
            log.warning("histogram buckets changed since the state was saved; histograms start from zero")
        with self._lock:
            self._marks, self._pipeline_seen = marks, seen
            self._build_runs, self._pipeline_runs = tables
            self._build_durations, self._build_queued, self._pipeline_durations = hists
            if not same_buckets:  # counters and histograms must keep telling the same story
                self._build_runs = {key: 0 for key in self._build_runs}
                self._pipeline_runs = {key: 0 for key in self._pipeline_runs}
            self._fill_missing_series()

    def _fill_missing_series(self) -> None:
        """Give every restored job all its series: a state file written by hand or by an older version may
        lack a status (or a histogram), and counting a run of it would fail."""
        self._versions = {}
        # Every table's labels, not only the counters': marks whose counter rows are missing (a file edited
        # by hand) made every count of those jobs fail on a KeyError.
        build = {key[:-1] for key in (*self._build_runs, *self._build_durations)} | set(self._build_queued)
        for labels in build:
            for status in RUN_STATUSES:
                self._build_runs.setdefault((*labels, status), 0)
                self._build_durations.setdefault((*labels, status), Histogram.empty(self.options.buckets))
            self._build_queued.setdefault(labels, Histogram.empty(self.options.queued_buckets))
            self._touch(BUILD, labels)
        for labels in {key[:-1] for key in (*self._pipeline_runs, *self._pipeline_durations)}:
            for status in PIPELINE_RUN_STATUSES:
                self._pipeline_runs.setdefault((*labels, status), 0)
                self._pipeline_durations.setdefault((*labels, status), Histogram.empty(self.options.buckets))
            self._touch(PIPELINE, labels)


def _copy(histogram: Histogram) -> Histogram:
    return Histogram(list(histogram.counts), histogram.sum)


def _counts(items: Iterable[Any], size: int) -> dict[Labels, int]:
    """A counter table from a state file; every key has ``size`` label values (status last)."""
    table: dict[Labels, int] = {}
    for key, value in items:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"bad counter value {value!r}")
        if len(key) != size:
            raise ValueError(f"a counter has {len(key)} label values, expected {size}")
        table[tuple(str(part) for part in key)] = value
    return table


def _histograms(items: Iterable[Any], bounds: tuple[float, ...]) -> dict[Labels, Histogram]:
    table: dict[Labels, Histogram] = {}
    for key, counts, total in items:
        if len(counts) != len(bounds) + 1 or not all(isinstance(n, int) and n >= 0 for n in counts):
            raise ValueError("bad histogram counts")
        table[tuple(str(part) for part in key)] = Histogram([int(n) for n in counts], float(total))
    return table
