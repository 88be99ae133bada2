"""CodeArts Pipeline as a source: the pipelines of CodeArts projects, their latest runs and their runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from exporter.client import CodeArtsClient, ParsedListing
from exporter.errors import CodeArtsError
from exporter.runhistory.history import HistoryPart
from exporter.sinks import Sink
from exporter.snapshot import Target, TargetState
from exporter.sources.base import FailingJob, HistoryContext, Source
from exporter.sources.pipeline import metrics, regions
from exporter.sources.pipeline.config import PipelineProject, parse_section
from exporter.sources.pipeline.fetch import HISTORY_API, UNKNOWN_ERROR, list_pipelines, run_detail
from exporter.sources.pipeline.history import PipelineHistory
from exporter.sources.pipeline.render import (
    failing_jobs,
    has_running_run,
    render_durations,
    render_project,
)
from exporter.sources.pipeline.targets import API, project_target
from exporter.validation import Checker
from exporter.wording import plural

DETAILS_PER_POLL = 20  # run details read per project and poll at most (the first poll would read them all)
MAX_DETAIL_WAIT = 31  # polls a run detail that keeps failing waits at most: 1, 3, 7, 15, 31 polls apart

log = logging.getLogger(__name__)


class PipelineSource(Source):
    """Pipelines of CodeArts projects (``pipeline_projects:``), from ``POST /v5/{project_id}/api/pipelines/list``."""

    name = API
    title = "CodeArts Pipeline pipelines"
    config_keys = ("pipeline_projects", "pipeline_options")
    target_paths = ("pipeline_projects",)
    job_specs = metrics.JOB_SPECS
    moving_specs = metrics.MOVING_SPECS
    history_specs = metrics.HISTORY_SPECS
    history_families = metrics.HISTORY
    endpoint = True
    regional_endpoints = regions.ENDPOINTS
    skip_reasons = ((API, "malformed"), (API, "unknown_status"), (API, "over_cap"), (HISTORY_API, "malformed"),
                    (HISTORY_API, "not_listed"), (HISTORY_API, "unknown_status"))
    default_rate = 5.0  # no published limit: as for Build
    retryable_codes = frozenset({UNKNOWN_ERROR})

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> tuple[PipelineProject, ...] | None:
        return parse_section(check, top)

    def has_targets(self, section: tuple[PipelineProject, ...]) -> bool:
        return bool(section)

    def targets(self, section: tuple[PipelineProject, ...]) -> tuple[Target, ...]:
        return tuple(project_target(project.id, project) for project in section)

    def needs_endpoint(self, top: Mapping[str, object]) -> bool:
        """Only a configuration that names pipeline projects needs ``endpoints.pipeline`` (or a region with a
        Pipeline host): every configuration written before this source existed stays valid."""
        projects = top.get("pipeline_projects")
        return isinstance(projects, list) and bool(projects)

    def project_ids(self, section: tuple[PipelineProject, ...]) -> tuple[tuple[str, str], ...]:
        return tuple((f"pipeline_projects[{index}].id", project.id) for index, project in enumerate(section))

    def summary(self, section: tuple[PipelineProject, ...]) -> str:
        """Empty when no pipeline projects are named: a configuration without them reads as before."""
        return plural(len(section), "pipeline project") if section else ""

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        project = target.options if isinstance(target.options, PipelineProject) else PipelineProject(target.key)
        listing = list_pipelines(client, project)
        unknown = sum(1 for pipeline in listing.records
                      if pipeline.latest is not None and pipeline.latest.status == "unknown")
        client.stats.count_skipped(API, "unknown_status", unknown)
        return listing

    def complete(self, client: CodeArtsClient, target: Target, records: tuple[Any, ...],
                 previous: tuple[Any, ...], history: HistoryPart | None = None) -> tuple[Any, ...]:
        """With ``detail: true``, each finished latest run's detail: read once per run, then carried from
        ``previous``. The reads come out of the run history's per-cycle budget (at most half of it; at most
        DETAILS_PER_POLL per project and poll), least recently read pipeline first, the rest at later polls;
        without run history, at most DETAILS_PER_POLL, runs never tried first. A read that failed is tried
        again 1, 3, 7... polls later (at most MAX_DETAIL_WAIT), so failing pipelines neither take every
        poll's reads nor starve the others."""
        project = target.options
        if not isinstance(project, PipelineProject) or not project.detail:
            return records
        known = {pipeline.detail.run_id: pipeline.detail for pipeline in previous if pipeline.detail is not None}
        failed = {(pipeline.id, pipeline.latest.id): pipeline for pipeline in previous
                  if pipeline.detail_failures and pipeline.latest is not None}
        completed = list(records)
        wanted: list[tuple[int, int]] = []  # (failures so far, position) of each run whose detail is due
        for position, pipeline in enumerate(records):
            run = pipeline.latest
            if run is None or not run.id or not run.finished:
                continue
            detail = known.get(run.id)
            if detail is not None:
                completed[position] = replace(pipeline, detail=detail)
                continue
            before = failed.get((pipeline.id, run.id))
            if before is not None and before.detail_wait > 0:  # backing off: carried, one poll nearer
                completed[position] = replace(pipeline, detail_failures=before.detail_failures,
                                              detail_wait=before.detail_wait - 1)
                continue
            wanted.append((before.detail_failures if before is not None else 0, position))
        wanted.sort()
        if isinstance(history, PipelineHistory):
            positions = {records[position].id: (failures, position) for failures, position in reversed(wanted)}
            chosen = history.detail_reads(target.key, [records[position].id for _, position in wanted],
                                          {pipeline.id for pipeline in records}, DETAILS_PER_POLL)
            reads = [positions[pipeline_id] for pipeline_id in chosen]
        else:
            reads = wanted[:DETAILS_PER_POLL]
        for failures, position in wanted:  # not read this poll: keep their place
            completed[position] = replace(records[position], detail_failures=failures)
        for failures, position in reads:
            pipeline = records[position]
            detail = self._detail(client, project, pipeline, pipeline.latest.id, failures)
            completed[position] = replace(pipeline, detail=detail) if detail is not None else replace(
                pipeline, detail_failures=failures + 1, detail_wait=min(MAX_DETAIL_WAIT, 2 ** (failures + 1) - 1))
        return tuple(completed)

    @staticmethod
    def _detail(client: CodeArtsClient, project: PipelineProject, pipeline: Any, run_id: str, failures: int) -> Any:
        try:
            detail = run_detail(client, project, pipeline.id, run_id)
        except CodeArtsError as err:  # the listing stands; the detail is asked for again later, backing off
            if failures == 0:  # said once per run: its later failures only at debug
                log.warning("run detail of pipeline %s (project %s) failed, asked again 1, 3, 7... polls later: %s",
                            pipeline.id, project.id, err)
            else:
                log.debug("run detail of pipeline %s (project %s) failed again: %s", pipeline.id, project.id, err)
            return None
        if detail.failed_job:
            log.warning("pipeline %s (project %s) run #%d failed in job %s: %s", pipeline.name, project.id,
                        pipeline.latest.number, detail.failed_job, detail.failed_message or "(no message)")
        return detail

    def render(self, sink: Sink, state: TargetState) -> None:
        render_project(sink, state)

    def moves_with_poll_time(self, state: TargetState) -> bool:
        return has_running_run(state)

    def render_moving(self, sink: Sink, state: TargetState) -> None:
        render_durations(sink, state)

    def failing_jobs(self, state: TargetState) -> tuple[FailingJob, ...]:
        return failing_jobs(state)

    def history_part(self, context: HistoryContext) -> PipelineHistory | None:
        if not context.section:  # no pipeline projects: no run kind, and state files stay as they were
            return None
        return PipelineHistory(context.counts, context.client, context.options,
                               requests_per_cycle=context.requests_per_cycle(API), monotonic=context.monotonic)


SOURCE = PipelineSource()
