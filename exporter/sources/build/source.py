"""CodeArts Build as a source: build projects, their jobs, and their runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from exporter.client import CodeArtsClient, ParsedListing
from exporter.runhistory.counts import JobHistory, Labels
from exporter.sinks import HistogramSink, Sink
from exporter.snapshot import Target, TargetState
from exporter.sources.base import FailingJob, HistoryContext, Source
from exporter.sources.build import metrics, regions
from exporter.sources.build.config import LEGACY_HISTORY_API, BuildSection, ProjectTarget, parse_section
from exporter.sources.build.fetch import list_build_jobs
from exporter.sources.build.history import BuildHistory
from exporter.sources.build.render import failing_jobs, render_project, render_test_tally
from exporter.sources.build.targets import API, project_target
from exporter.sources.build.testbook import SKIP_REASONS as TEST_SKIP_REASONS
from exporter.sources.build.testmodels import TestTally
from exporter.sources.build.testreport import TESTS_API
from exporter.validation import Checker
from exporter.wording import plural

THROTTLE_CODE = "CB.00060211"  # CodeArts Build throttles with HTTP 500 and this error code


class BuildSource(Source):
    """Build jobs of CodeArts projects (``projects:``), from ``GET /v3/{project_id}/jobs``."""

    name = API
    title = "CodeArts Build jobs"
    config_keys = ("projects", "build_options")
    legacy_keys = (LEGACY_HISTORY_API,)
    target_paths = ("projects",)
    job_specs = metrics.JOB_SPECS
    history_specs = metrics.HISTORY_SPECS
    history_families = metrics.HISTORY
    endpoint = True
    regional_endpoints = regions.ENDPOINTS
    skip_reasons = ((API, "malformed"), ("build_history", "malformed"), ("build_history", "not_listed"),
                    ("build_history", "unknown_status"), *((TESTS_API, reason) for reason in TEST_SKIP_REASONS))
    default_rate = 5.0
    throttle_codes = frozenset({THROTTLE_CODE})
    throttling = f"Build's HTTP 500 {THROTTLE_CODE}"

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> BuildSection | None:
        return parse_section(check, top)

    def has_targets(self, section: BuildSection) -> bool:
        return bool(section.projects)

    def targets(self, section: BuildSection) -> tuple[Target, ...]:
        return tuple(project_target(project.id, project) for project in section.projects)

    def project_ids(self, section: BuildSection) -> tuple[tuple[str, str], ...]:
        return tuple((f"projects[{index}].id", project.id) for index, project in enumerate(section.projects))

    def summary(self, section: BuildSection) -> str:
        """The projects, the records API when not the default, and how many read unit-test reports."""
        if not section.projects:
            return ""
        api = f" (run history from the {section.history_api} records API)" if section.history_api != "auto" else ""
        tests = sum(1 for project in section.projects if project.tests)
        reports = f" ({tests} with unit-test reports)" if tests else ""
        return f"{plural(len(section.projects), 'build project')}{api}{reports}"

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        """The project's build jobs that its ``include``/``exclude`` regexes watch (the others are never
        rendered or counted)."""
        listing = list_build_jobs(client, target.key)
        project = target.options
        if not isinstance(project, ProjectTarget) or not (project.include or project.exclude):
            return listing
        return replace(listing, records=tuple(job for job in listing.records if project.watches(job.name)))

    def render(self, sink: Sink, state: TargetState) -> None:
        render_project(sink, state)

    def failing_jobs(self, state: TargetState) -> tuple[FailingJob, ...]:
        return failing_jobs(state)

    def render_history(self, sink: HistogramSink, labels: Labels, job: JobHistory,
                       duration_bounds: tuple[float, ...], queued_bounds: tuple[float, ...]) -> None:
        """The run-history families, then the unit-test families of a job with a report."""
        super().render_history(sink, labels, job, duration_bounds, queued_bounds)
        if isinstance(job.extra, TestTally):
            render_test_tally(sink, labels, job.extra)

    def history_part(self, context: HistoryContext) -> BuildHistory:
        return BuildHistory(context.counts, context.client, context.options,
                            requests_per_cycle=context.requests_per_cycle(API), monotonic=context.monotonic,
                            api=context.section.history_api,
                            tests=frozenset(project.id for project in context.section.projects if project.tests))


SOURCE = BuildSource()
