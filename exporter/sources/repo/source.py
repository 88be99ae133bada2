"""CodeArts Repo as a source: merge-request pipelines of repositories and their jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.client import CodeArtsClient, ParsedListing
from exporter.runhistory.counts import Labels
from exporter.sinks import Sink
from exporter.snapshot import Target, TargetState
from exporter.sources.base import DiscoveryContext, FailingJob, HistoryContext, Source, SourceParts
from exporter.sources.repo import metrics, regions
from exporter.sources.repo.config import RepoSection, parse_section
from exporter.sources.repo.discovery import Discovery
from exporter.sources.repo.fetch import list_pipeline_jobs
from exporter.sources.repo.history import PipelineHistory
from exporter.sources.repo.render import (
    failing_jobs,
    has_running_job,
    render_durations,
    render_pipeline,
)
from exporter.sources.repo.targets import API, pipeline_ids, pipeline_target
from exporter.validation import Checker
from exporter.wording import plural


class RepoSource(Source):
    """Pipelines of CodeArts Repo repositories (``repositories:``, ``discovery:``), from
    ``GET /v4/repositories/{repository_id}/pipelines/{pipeline_id}/jobs``."""

    name = API
    title = "CodeArts Repo pipelines"
    config_keys = ("repositories", "discovery")
    target_paths = ("repositories", "discovery.projects")
    job_specs = metrics.JOB_SPECS
    moving_specs = (metrics.JOB_DURATION,)
    history_specs = metrics.HISTORY_SPECS
    history_families = metrics.HISTORY
    endpoint = True
    regional_endpoints = regions.ENDPOINTS
    skip_reasons = ((API, "malformed"),)
    default_rate = 8.0

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> RepoSection | None:
        return parse_section(check, top)

    def has_targets(self, section: RepoSection) -> bool:
        return bool(section.repositories) or bool(section.discovery.projects)

    def targets(self, section: RepoSection) -> tuple[Target, ...]:
        return tuple(pipeline_target(repo, pipeline) for repo, pipeline in section.pipeline_targets())

    def discovers(self, section: RepoSection) -> bool:
        return section.discovers()

    def project_ids(self, section: RepoSection) -> tuple[tuple[str, str], ...]:
        return tuple((f"discovery.projects[{index}].project_id", project.project_id)
                     for index, project in enumerate(section.discovery.projects))

    def summary(self, section: RepoSection) -> str:
        if not self.has_targets(section):
            return ""
        pipelines = len(section.pipeline_targets())
        discovering = sum(repo.discover is not None for repo in section.repositories)
        text = f"{plural(pipelines, 'pipeline')} in {plural(len(section.repositories), 'repository')}"
        where = [plural(discovering, "repository")] if discovering else []
        if section.discovery.projects:
            where.append(f"the repositories of {plural(len(section.discovery.projects), 'project')}")
        if where:
            text += f", merge request discovery in {' and '.join(where)} every {section.discovery.interval_seconds:g}s"
        return text

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        return list_pipeline_jobs(client, *pipeline_ids(target))

    def render(self, sink: Sink, state: TargetState) -> None:
        render_pipeline(sink, state)

    def moves_with_poll_time(self, state: TargetState) -> bool:
        return has_running_job(state)

    def render_moving(self, sink: Sink, state: TargetState) -> None:
        render_durations(sink, state)

    def failing_jobs(self, state: TargetState) -> tuple[FailingJob, ...]:
        return failing_jobs(state)

    def parts(self, history: HistoryContext | None, discovery: DiscoveryContext | None) -> SourceParts:
        """The run history part, and the discovery that drops the history of pipelines no longer watched."""
        part = PipelineHistory(history.counts) if history is not None else None
        if discovery is None or not discovery.section.discovers():
            return SourceParts(part)
        return SourceParts(part, Discovery(discovery.section, discovery.client, discovery.shard, clock=discovery.clock,
                                           concurrency=discovery.poll.concurrency, history=part))

    def history_target_key(self, labels: Labels) -> str:
        """``repository_id/pipeline_id``, the target key, from a job's first two labels."""
        return pipeline_target(int(labels[0]), int(labels[1])).key


SOURCE = RepoSource()
