"""CodeArts Deploy as a source: the applications of CodeArts projects, their last deployment and each
deployment."""

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
from exporter.sources.deploy import metrics, regions
from exporter.sources.deploy.config import DeployProject, parse_section
from exporter.sources.deploy.fetch import HISTORY_API, application_tasks, list_applications
from exporter.sources.deploy.history import DeployHistory
from exporter.sources.deploy.models import Application
from exporter.sources.deploy.render import (
    failing_jobs,
    has_unfinished_deployment,
    render_durations,
    render_project,
)
from exporter.sources.deploy.targets import API, project_target
from exporter.validation import Checker

log = logging.getLogger(__name__)

DETAILS_PER_POLL = 20  # application details read per project and poll at most (the rest at later polls)


class DeploySource(Source):
    """Applications of CodeArts projects (``deploy_projects:``), from ``POST /v1/applications/list``."""

    name = API
    title = "CodeArts Deploy applications"
    config_keys = ("deploy_projects", "deploy_options")
    target_paths = ("deploy_projects",)
    job_specs = metrics.JOB_SPECS
    moving_specs = metrics.MOVING_SPECS
    history_specs = metrics.HISTORY_SPECS
    history_families = metrics.HISTORY
    endpoint = True
    regional_endpoints = regions.ENDPOINTS
    skip_reasons = ((API, "malformed"), (API, "unknown_status"), (HISTORY_API, "malformed"),
                    (HISTORY_API, "not_listed"), (HISTORY_API, "unknown_status"))
    # No limit is published. The only hint, the gateway policy name CodeArtsDeployU60A1200 (on an API we do
    # not call), reads as 60 requests per user in a window nobody documents; at 1/s a minute's requests stay
    # within 60, and a steady cycle needs only one request per 100 applications.
    default_rate = 1.0
    # Deploy documents no throttling code and no transient 5xx code: only HTTP 429 throttles, only 502/503/504
    # are retried; Deploy.00011154 (no permission) is a 403, never retried.
    throttle_codes: frozenset[str] = frozenset()
    retryable_codes: frozenset[str] = frozenset()

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> tuple[DeployProject, ...] | None:
        return parse_section(check, top)

    def has_targets(self, section: tuple[DeployProject, ...]) -> bool:
        return bool(section)

    def targets(self, section: tuple[DeployProject, ...]) -> tuple[Target, ...]:
        return tuple(project_target(project.id, project) for project in section)

    def needs_endpoint(self, top: Mapping[str, object]) -> bool:
        """Only a configuration that names Deploy projects needs ``endpoints.deploy`` (or a region with a Deploy
        host): every configuration written before this source existed stays valid."""
        projects = top.get("deploy_projects")
        return isinstance(projects, list) and bool(projects)

    def summary(self, section: tuple[DeployProject, ...]) -> str:
        """Empty when no Deploy projects are named: a configuration without them reads as before."""
        return f"{len(section)} deploy projects" if section else ""

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        project = target.options if isinstance(target.options, DeployProject) else DeployProject(target.key)
        listing = list_applications(client, project)
        # A state word nobody documented is named by the status_vocabulary assumption as it is parsed.
        client.stats.count_skipped(API, "unknown_status", sum(app.status == "unknown" for app in listing.records))
        return listing

    def complete(self, client: CodeArtsClient, target: Target, records: tuple[Any, ...],
                 previous: tuple[Any, ...], history: HistoryPart | None = None) -> tuple[Any, ...]:
        """The latest ``release_id`` of each task of an application with several tasks, which only its detail
        gives: read when the application's listing entry changed, else carried from ``previous``. The reads
        come out of the run history's per-cycle budget (at most half of it; at most DETAILS_PER_POLL per
        project and poll), least recently read application first, the rest at later polls; without run
        history, at most DETAILS_PER_POLL in listing order. ``previous`` itself when nothing changed."""
        if all(app.task_releases_known for app in records):
            return records
        known = {app.id: app for app in previous if app.task_releases_known}
        completed = list(records)
        due: list[str] = []  # ids of the applications whose detail is to be read, in listing order
        for position, app in enumerate(records):
            old = known.get(app.id)
            if app.task_releases_known:
                continue
            if old is not None and old.marker == app.marker \
                    and [task.state for task in old.tasks] == [task.state for task in app.tasks]:
                completed[position] = replace(app, tasks=old.tasks)
            else:
                due.append(app.id)
        if isinstance(history, DeployHistory):
            reads = set(history.detail_reads(target.key, due, {app.id for app in records}, DETAILS_PER_POLL))
        else:
            reads = set(due[:DETAILS_PER_POLL])
        for position, app in enumerate(records):
            if app.id in reads:
                completed[position] = self._with_task_releases(client, target.key, app)
        return previous if tuple(completed) == previous else tuple(completed)

    @staticmethod
    def _with_task_releases(client: CodeArtsClient, project_id: str, app: Application) -> Application:
        try:
            tasks = application_tasks(client, app.id)
        except CodeArtsError as err:  # the listing stands; the detail is asked for again at the next poll
            log.warning("detail of application %s (deploy project %s) failed: %s", app.name, project_id, err)
            return app
        return replace(app, tasks=tasks)

    def render(self, sink: Sink, state: TargetState) -> None:
        render_project(sink, state)

    def moves_with_poll_time(self, state: TargetState) -> bool:
        return has_unfinished_deployment(state)

    def render_moving(self, sink: Sink, state: TargetState) -> None:
        render_durations(sink, state)

    def failing_jobs(self, state: TargetState) -> tuple[FailingJob, ...]:
        return failing_jobs(state)

    def history_part(self, context: HistoryContext) -> DeployHistory | None:
        if not context.section:  # no Deploy projects: no run kind, and state files stay as they were
            return None
        return DeployHistory(context.counts, context.client, context.options,
                             requests_per_cycle=context.requests_per_cycle(API), monotonic=context.monotonic)


SOURCE = DeploySource()
