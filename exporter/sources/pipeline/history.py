"""Pipeline run history: every finished run counted exactly once, from the run list.

The numbered-run skeleton (:mod:`exporter.runhistory.numbered`) does the counting on ``run_number``; this
part says what a pipeline's listing entry tells (its latest run) and how its runs are fetched
(``POST .../pipeline-runs/list``, newest first). A run is counted under its pipeline's labels plus its
trigger and branch.

Whether the run list's ``offset`` counts items or pages is undocumented. The first page is the same either
way; a later page is asked for as an item offset, and if its newest run is not the one just below the
previous page's oldest (the list is contiguous in run numbers unless runs were deleted), as a page number
too, keeping the reading that fits; the part remembers the reading that worked.

The run-detail reads of ``detail: true`` come out of the same per-cycle budget as the run fetches, least
recently read pipeline first (the skeleton's :meth:`~exporter.runhistory.numbered.NumberedHistory.detail_reads`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from exporter.runhistory.counts import Labels, RunKind
from exporter.runhistory.numbered import Listed, NumberedHistory, Pending, RunPage
from exporter.snapshot import Target
from exporter.sources.pipeline.config import PipelineProject
from exporter.sources.pipeline.fetch import HISTORY_API, runs_page
from exporter.sources.pipeline.models import TERMINAL_STATUSES, Pipeline, PipelineRun
from exporter.sources.pipeline.targets import API

log = logging.getLogger(__name__)

# "pipeline" is taken in the state file by Repo's pipeline jobs (pipeline_runs, pipeline_seen).
KIND = RunKind(API, "cloud_pipeline", TERMINAL_STATUSES, label_count=5)
MARKS = "cloud_pipeline_marks"
ITEM, PAGE = "item", "page"


def listing_marker(run: PipelineRun) -> tuple[Any, ...]:
    """What in a listing's latest run changes when the pipeline runs."""
    return (run.id, run.number, run.raw_status, run.end)


class PipelineHistory(NumberedHistory[Pipeline, PipelineRun]):
    """Counts the finished runs of pipelines from the run list, each exactly once."""

    kind = KIND
    marks_key = MARKS
    noun = "pipeline"
    skip_api = HISTORY_API
    log = log

    _style: str  # how the run list reads ``offset``: ITEM or PAGE, the reading that last worked
    _projects: dict[str, PipelineProject]  # target key -> its project's settings, from its listing

    def setup(self) -> None:
        """Item offsets until a page says otherwise."""
        self._style = ITEM
        self._projects = {}

    def listed(self, target: Target, records: Iterable[Any]) -> Iterator[Listed[Pipeline]]:
        """Each pipeline of a project with its latest run, if it ran."""
        project = target.options if isinstance(target.options, PipelineProject) else PipelineProject(target.key)
        self._projects[target.key] = project
        for pipeline in records:
            labels = (project.id, pipeline.id, pipeline.name)
            # Keyed by project too: one pipeline id may be in two projects. Marks saved by id alone are taken over.
            key = f"{project.id}/{pipeline.id}"
            run = pipeline.latest
            if run is None:
                yield Listed(key, labels, pipeline, None, False, None, None, old_key=pipeline.id)
                continue
            yield Listed(key, labels, pipeline, run.number, not run.finished, listing_marker(run),
                         (*labels, run.trigger, run.branch), old_key=pipeline.id)

    def run_labels(self, entry: Pending[Pipeline], run: PipelineRun) -> Labels:
        """A run is counted under its trigger and branch too."""
        return (*entry.labels, run.trigger, run.branch)

    def fetch_page(self, entry: Pending[Pipeline], index: int, limit: int,
                   lowest: int | None) -> RunPage[PipelineRun]:
        """Page ``index`` under the reading of ``offset`` that fits (see the module docstring)."""
        project, pipeline_id = self._projects[entry.listing], entry.job.id
        if index == 0 or lowest is None:
            return runs_page(self.client, project, pipeline_id, 0, limit)
        style = self._style
        page = runs_page(self.client, project, pipeline_id, _offset(style, index, limit), limit)
        start = index * limit
        if _continues(page, lowest, start):
            return page
        other = PAGE if style == ITEM else ITEM
        retry = runs_page(self.client, project, pipeline_id, _offset(other, index, limit), limit)
        if _continues(retry, lowest, start):
            self._style = other
            return retry
        return page


def _offset(style: str, page_number: int, limit: int) -> int:
    return page_number * limit if style == ITEM else page_number


def _continues(page: RunPage[PipelineRun], lowest: int, start: int) -> bool:
    """True if ``page`` starts just below ``lowest``, or is empty because the list ended before ``start``."""
    if not page.runs:
        return page.size == 0 and (page.total is None or page.total <= start)
    return max(run.number for run in page.runs) == lowest - 1
