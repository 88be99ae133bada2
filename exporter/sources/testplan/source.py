"""CodeArts TestPlan as a source: the test plans of CodeArts projects, their pass rates and defects."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from exporter.client import CodeArtsClient, ParsedListing
from exporter.sinks import Sink
from exporter.snapshot import Target, TargetState
from exporter.sources.base import Source
from exporter.sources.testplan import metrics, regions
from exporter.sources.testplan.config import TestPlanProject, parse_section
from exporter.sources.testplan.fetch import NotAnArray, last_listing, list_plans
from exporter.sources.testplan.render import render_project
from exporter.sources.testplan.targets import API, project_target
from exporter.validation import Checker

log = logging.getLogger(__name__)


class TestPlanSource(Source):
    """Test plans of CodeArts projects (``testplan_projects:``), from ``GET /v2/projects/{project_id}/plans``."""

    __test__ = False  # not a pytest test class, whatever its name

    name = API
    title = "CodeArts TestPlan plans"
    config_keys = ("testplan_projects",)
    target_paths = ("testplan_projects",)
    job_specs = metrics.JOB_SPECS
    moving_specs = metrics.JOB_SPECS  # a plan ages out with the poll date alone: everything is rendered again
    endpoint = True
    regional_endpoints = regions.ENDPOINTS
    skip_reasons = ((API, "malformed"), (API, "not_array"), (API, "no_pass_rate"))
    default_rate = 2.0  # no published limit; one listing per project and cycle is the usual cost

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> tuple[TestPlanProject, ...] | None:
        return parse_section(check, top)

    def has_targets(self, section: tuple[TestPlanProject, ...]) -> bool:
        return bool(section)

    def targets(self, section: tuple[TestPlanProject, ...]) -> tuple[Target, ...]:
        return tuple(project_target(project.id, project) for project in section)

    def needs_endpoint(self, top: Mapping[str, object]) -> bool:
        """Only a configuration that names TestPlan projects needs ``endpoints.testplan`` (or a region with a
        TestPlan host): every configuration written before this source existed stays valid."""
        projects = top.get("testplan_projects")
        return isinstance(projects, list) and bool(projects)

    def summary(self, section: tuple[TestPlanProject, ...]) -> str:
        """Empty when no TestPlan projects are named: a configuration without them reads as before."""
        return f"{len(section)} test plan projects" if section else ""

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        """The project's watched plans; an answer that is no array keeps the last good plans (counted and
        logged: the target stays up, as a healthy one would)."""
        project = target.options if isinstance(target.options, TestPlanProject) else TestPlanProject(target.key)
        try:
            listing = list_plans(client, project)
        except NotAnArray as err:
            client.stats.count_skipped(API, "not_array")
            log.warning("TestPlan project %s: %s; keeping its last plans", project.id, err)
            return last_listing(client, project.id)
        unreadable = [plan for plan in listing.records if plan.pass_ratio is None]
        client.stats.count_skipped(API, "no_pass_rate", len(unreadable))
        if unreadable:
            log.debug("TestPlan project %s: %d plans without a readable pass rate (e.g. %r)", project.id,
                      len(unreadable), unreadable[0].rate_text)
        return listing

    def render(self, sink: Sink, state: TargetState) -> None:
        render_project(sink, state)

    def moves_with_poll_time(self, state: TargetState) -> bool:
        """True if a plan has an end date: it leaves the exposition max_age_days after it, listing unchanged."""
        return any(plan.end_date is not None for plan in state.records)

    def render_moving(self, sink: Sink, state: TargetState) -> None:
        render_project(sink, state)


SOURCE = TestPlanSource()
