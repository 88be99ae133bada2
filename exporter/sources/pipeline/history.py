"""Pipeline run history: every finished run counted exactly once, from the run list.

Per pipeline a high-water mark on ``run_number``: every run up to it is counted (or gone), plus the numbers
above it already counted. After each listing, the pipelines whose latest run changed and that have finished
runs above their mark are noted as pending (no request); once every listing of the cycle is in,
:meth:`PipelineHistory.catch_up_tasks` fetches their runs (``POST .../pipeline-runs/list``, newest first,
until a run already counted), least recently tried first, within a budget of requests per cycle. What the
budget leaves over keeps its mark and is fetched in a later cycle, counted then, exactly once.

First sight of a pipeline (no saved state) sets its mark to its latest finished run without back-filling,
as for Build, so a restart without ``state.path`` never produces a spike.

Whether the run list's ``offset`` counts items or pages is undocumented. The first page is the same either
way; a later page is asked for as an item offset, and if its newest run is not the one just below the
previous page's oldest (the list is contiguous in run numbers unless runs were deleted), as a page number
too, keeping the reading that fits; the part remembers the reading that worked.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.client import CodeArtsClient
from exporter.errors import CodeArtsError
from exporter.runhistory.counts import Labels, RunCounts, RunKind
from exporter.runhistory.history import Task
from exporter.runhistory.marks import FetchTask, advance
from exporter.runhistory.options import HistoryConfig
from exporter.snapshot import Target
from exporter.sources.pipeline.config import PipelineProject
from exporter.sources.pipeline.fetch import HISTORY_API, RunPage, runs_page
from exporter.sources.pipeline.models import TERMINAL_STATUSES, Pipeline, PipelineRun
from exporter.sources.pipeline.targets import API
from exporter.statefile import check, count, exactly, list_of, mapping, scalar

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
# "pipeline" is taken in the state file by Repo's pipeline jobs (pipeline_runs, pipeline_seen).
KIND = RunKind(API, "cloud_pipeline", TERMINAL_STATUSES, label_count=5)
MARKS = "cloud_pipeline_marks"
ITEM, PAGE = "item", "page"


@dataclass(slots=True)
class _Mark:
    """Where counting of one pipeline stands."""

    high: int  # every run numbered up to here is counted or gone
    above: set[int] = field(default_factory=set)  # numbers above ``high`` already counted
    marker: tuple[Any, ...] = ()  # the latest run's (id, number, status, end) when last caught up
    tried: int = 0  # the cycle that last fetched this pipeline's runs (0: never)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A pipeline with finished runs to fetch, as its latest listing showed it."""

    project: PipelineProject
    labels: Labels  # project id, pipeline id, name
    finished_up_to: int
    latest: int
    marker: tuple[Any, ...]
    order: int

    @property
    def pipeline_id(self) -> str:
        """The pipeline whose runs these are."""
        return self.labels[1]


def listing_marker(run: PipelineRun) -> tuple[Any, ...]:
    """What in a listing's latest run changes when the pipeline runs."""
    return (run.id, run.number, run.raw_status, run.end)


class PipelineHistory:
    """Counts the finished runs of pipelines from the run list, each exactly once."""

    kind = KIND

    def __init__(self, counts: RunCounts, client: CodeArtsClient, options: HistoryConfig, *,
                 requests_per_cycle: int | None, monotonic: Callable[[], float]) -> None:
        """``requests_per_cycle``: the run-list requests one cycle may plan (None: no limit)."""
        self.counts = counts
        counts.add_kind(KIND)
        self.client = client
        self.options = options
        self.requests_per_cycle = requests_per_cycle
        self._monotonic = monotonic
        self._lock = counts.lock
        self._cycle = 0
        self._style = ITEM
        self._pending: dict[str, dict[str, _Pending]] = {}  # project id -> pipeline id -> what to fetch
        self._marks: dict[str, _Mark] = {}

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Note which pipelines of a project ran since their marks (no request)."""
        project = target.options if isinstance(target.options, PipelineProject) else PipelineProject(target.key)
        with self._lock:
            pending = {}
            for order, pipeline in enumerate(records):
                entry = self._note(project, pipeline, order)
                if entry is not None:
                    pending[entry.pipeline_id] = entry
            self._pending[target.key] = pending  # replaced whole: a pipeline gone is no longer fetched

    def catch_up_tasks(self, within: float | None = None) -> list[Task]:
        """This cycle's run-list fetches, least recently tried first, as many as ``requests_per_cycle``
        allows (at least one); a task not started ``within`` seconds from now does nothing and keeps its
        place (see the Build part's)."""
        start_by = None if within is None else self._monotonic() + within
        with self._lock:
            self._cycle += 1
            waiting = sorted((entry for entries in self._pending.values() for entry in entries.values()),
                             key=lambda entry: (self._marks[entry.pipeline_id].tried, entry.order))
            chosen: list[tuple[_Pending, int]] = []
            planned = 0
            for entry in waiting:
                cost = self._pages(entry)
                if chosen and self.requests_per_cycle is not None and planned + cost > self.requests_per_cycle:
                    break
                mark = self._marks[entry.pipeline_id]
                chosen.append((entry, mark.tried))
                planned += cost
                mark.tried = self._cycle
        return [FetchTask(self._catch_up, entry, start_by, tried) for entry, tried in chosen]

    def pending_jobs(self) -> int:
        """Pipelines whose new runs are not fetched yet."""
        with self._lock:
            return sum(len(entries) for entries in self._pending.values())

    def _note(self, project: PipelineProject, pipeline: Pipeline, order: int) -> _Pending | None:
        run = pipeline.latest
        labels = (project.id, pipeline.id, pipeline.name)
        mark = self._marks.get(pipeline.id)
        if run is None:
            if mark is None:
                self._marks[pipeline.id] = _Mark(0)
            return None
        self.counts.init_job(KIND.name, (*labels, run.trigger, run.branch))
        marker = listing_marker(run)
        finished_up_to = run.number if run.finished else run.number - 1
        if mark is None:  # first sight: no back-filling; a run still going is counted when it ends
            self._marks[pipeline.id] = _Mark(finished_up_to, marker=marker)
            return None
        if mark.marker == marker or finished_up_to <= mark.high:
            mark.marker = marker
            return None
        return _Pending(project, labels, finished_up_to, run.number, marker, order)

    def _pages(self, entry: _Pending) -> int:
        behind = entry.latest - self._marks[entry.pipeline_id].high
        return max(1, min(self.options.max_pages, math.ceil(behind / MAX_PAGE_SIZE)))

    def _catch_up(self, entry: _Pending, start_by: float | None, tried: int) -> None:
        with self._lock:
            mark = self._marks[entry.pipeline_id]
            if start_by is not None and self._monotonic() > start_by:
                mark.tried = tried
                return
            high, above = mark.high, set(mark.above)
        try:
            runs = self._fetch(entry, high)
        except CodeArtsError as err:
            log.warning("run history of pipeline %s failed, fetched again in a later cycle: %s",
                        entry.pipeline_id, err)
            return
        with self._lock:
            self._apply(entry, high, above, runs)
            pending = self._pending.get(entry.labels[0], {})
            if mark.marker == entry.marker and pending.get(entry.pipeline_id) is entry:
                del pending[entry.pipeline_id]

    def _fetch(self, entry: _Pending, high: int) -> dict[int, PipelineRun]:
        """Runs numbered above ``high`` (newest first) until the page that reaches ``high + 1``, the end of
        the list or ``max_pages``."""
        limit = max(1, min(MAX_PAGE_SIZE, entry.latest - high))
        runs: dict[int, PipelineRun] = {}
        lowest: int | None = None
        for page_number in range(self.options.max_pages):
            page = self._page(entry, page_number, limit, lowest)
            for run in page.runs:
                if run.number > high and (run.number not in runs or run.finished):
                    runs[run.number] = run
            numbers = [run.number for run in page.runs]
            lowest = min([*numbers, lowest] if lowest is not None else numbers, default=lowest)
            if page.size < limit or lowest is None or lowest <= high + 1:
                return runs
        log.warning("pipeline %s has more new runs than %d pages of %d; older ones are not counted",
                    entry.pipeline_id, self.options.max_pages, limit)
        return runs

    def _page(self, entry: _Pending, page_number: int, limit: int, lowest: int | None) -> RunPage:
        """Page ``page_number`` under the reading of ``offset`` that fits (see the module docstring)."""
        if page_number == 0 or lowest is None:
            return runs_page(self.client, entry.project, entry.pipeline_id, 0, limit)
        style = self._style
        page = runs_page(self.client, entry.project, entry.pipeline_id, self._offset(style, page_number, limit), limit)
        start = page_number * limit
        if _continues(page, lowest, start):
            return page
        other = PAGE if style == ITEM else ITEM
        retry = runs_page(self.client, entry.project, entry.pipeline_id, self._offset(other, page_number, limit), limit)
        if _continues(retry, lowest, start):
            self._style = other
            return retry
        return page

    @staticmethod
    def _offset(style: str, page_number: int, limit: int) -> int:
        return page_number * limit if style == ITEM else page_number

    def _apply(self, entry: _Pending, high: int, above: set[int], runs: dict[int, PipelineRun]) -> None:
        mark = self._marks[entry.pipeline_id]
        if mark.high != high or mark.above != above:  # a late fetch of an earlier cycle applied meanwhile
            return
        for number in sorted(runs):
            run = runs[number]
            if run.finished and number not in above:
                above.add(number)
                self._count(entry.labels, run)
        high, gone = advance(high, above, runs)
        if gone:
            self.client.stats.count_skipped(HISTORY_API, "not_listed", gone)
        mark.high, mark.above = high, above
        if high >= entry.finished_up_to:
            mark.marker = entry.marker

    def _count(self, labels: Labels, run: PipelineRun) -> None:
        if run.status not in TERMINAL_STATUSES:
            self.client.stats.count_skipped(HISTORY_API, "unknown_status")
            return
        if run.duration is None:
            self.client.stats.assumptions.contradicted(API, "times_in_range", "/".join(labels[:2]),
                                                       f"run {run.number}: start {run.start}, end {run.end}")
        self.counts.count(KIND.name, (*labels, run.trigger, run.branch), run.status, run.duration)

    # -- persistence -----------------------------------------------------------------------------------

    def marks_to_state(self) -> dict[str, Any]:
        """``cloud_pipeline_marks``: pipeline id -> [high, numbers counted above it, listing marker]."""
        return {MARKS: {pipeline_id: [mark.high, sorted(mark.above), list(mark.marker)]
                                   for pipeline_id, mark in self._marks.items()}}

    def marks_from_state(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Read ``cloud_pipeline_marks`` (absent in a state saved before pipelines were watched: none yet)."""
        marks = {}
        for pipeline_id, mark in mapping(state.get(MARKS, {}), MARKS).items():
            where = f"{MARKS}.{pipeline_id[:64]}"
            high, above, marker = exactly(mark, where, 3)
            check(high, f"{where}[0]", count)
            marks[pipeline_id] = _Mark(high, set(list_of(above, f"{where}[1]", count)),
                                       tuple(list_of(marker, f"{where}[2]", scalar)))

        def take_over() -> None:
            self._marks = marks

        return take_over


def _continues(page: RunPage, lowest: int, start: int) -> bool:
    """True if ``page`` starts just below ``lowest``, or is empty because the list ended before ``start``."""
    if not page.runs:
        return page.size == 0 and (page.total is None or page.total <= start)
    return max(run.number for run in page.runs) == lowest - 1
