"""Names as a source: what the other sources' ids are called, read once per discovery interval.

One target, ``names``, where there is something to ask: ProjectMan's project list (where ProjectMan has an
endpoint) names the watched CodeArts projects; ShowRepository names each configured repository, and the
repository list of every ``discovery.projects`` entry names the repositories found there. It is listed again
``discovery.interval_seconds`` after its last good listing, not every poll. Names are optional: dashboards and
alerts show the id of a project or repository without one. A user without ProjectMan's permission to list
projects (HTTP 403) gets no project names, counted in
``codearts_records_skipped_total{api="projectman",reason="forbidden"}`` and logged; the target stays up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from exporter.client import CodeArtsClient, ParsedListing
from exporter.errors import AuthError, NotFoundError
from exporter.sinks import Sink
from exporter.snapshot import Target, TargetState
from exporter.sources.base import Source
from exporter.sources.projectman import metrics, regions
from exporter.sources.projectman.config import NamesSection, parse_section
from exporter.sources.projectman.fetch import list_projects, repository_name
from exporter.sources.projectman.models import REPOSITORY, Name
from exporter.sources.projectman.render import render_names
from exporter.sources.projectman.targets import API, names_target
from exporter.sources.repo.fetch import list_project_repositories
from exporter.validation import Checker
from exporter.wording import plural

log = logging.getLogger(__name__)
FORBIDDEN = "forbidden"


class NamesSource(Source):
    """The names of watched CodeArts projects (ProjectMan ``GET /v4/projects``) and repositories (Repo)."""

    name = API
    title = "CodeArts project and repository names"
    config_keys = ()
    target_paths = ()
    job_specs = metrics.JOB_SPECS
    endpoint = True
    regional_endpoints = regions.ENDPOINTS
    skip_reasons = ((API, "malformed"), (API, FORBIDDEN))
    default_rate = 1.0  # a handful of requests per discovery interval

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> NamesSection:
        return parse_section(check, top)

    def has_targets(self, section: NamesSection) -> bool:
        return False  # names alone are nothing to poll: "no targets" stays about the other sources

    def targets(self, section: NamesSection) -> tuple[Target, ...]:
        """The names target, where there is something to ask: ProjectMan (with an endpoint) about the watched
        projects, or Repo about configured or project-discovered repositories."""
        asks_projectman = section.projectman and bool(section.project_ids)
        if not (asks_projectman or section.repository_ids or section.discovery_projects):
            return ()
        return (names_target(section),)

    def needs_endpoint(self, top: Mapping[str, object]) -> bool:
        """Never required: without a ProjectMan endpoint, project names are simply not read."""
        return False

    def base_url(self, section: NamesSection, endpoint: str | None) -> str:
        """ProjectMan's endpoint; "" without one (then projects are named by their ids, without a request)."""
        return endpoint or ""

    def summary(self, section: NamesSection) -> str:
        if not section.projectman:
            return ""
        return (f"the names of {plural(len(section.project_ids), 'project')} from ProjectMan every "
                f"{section.interval_seconds:g}s")

    def refresh_seconds(self, target: Target) -> float | None:
        section = target.options
        return section.interval_seconds if isinstance(section, NamesSection) else None

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        section = target.options if isinstance(target.options, NamesSection) else NamesSection()
        projects = _project_names(client, section)
        repositories = _repository_names(client, section)
        return ParsedListing((*projects.records, *repositories.records), projects.skipped,
                             projects.requests + repositories.requests, projects.complete)

    def render(self, sink: Sink, state: TargetState) -> None:
        render_names(sink, state)

    def names(self, state: TargetState) -> Mapping[str, str]:
        return {name.id: name.name for name in state.records}


def _project_names(client: CodeArtsClient, section: NamesSection) -> ParsedListing[Name]:
    """The names of the watched projects ProjectMan lists; none where it has no endpoint or answers 403."""
    if not (section.projectman and section.project_ids):
        return ParsedListing((), 0, 0, True)
    try:
        listing = list_projects(client)
    except AuthError as err:
        if err.status != 403:
            raise
        log.warning("ProjectMan refused to list projects (%s): CodeArts projects are shown by id, not name; grant "
                    "the exporter's user permission to list projects to see their names", err)
        client.stats.count_skipped(API, FORBIDDEN)
        return ParsedListing((), 0, 1, True)
    watched = set(section.project_ids)
    return ParsedListing(tuple(name for name in listing.records if name.id in watched), listing.skipped,
                         listing.requests, listing.complete)


def _repository_names(client: CodeArtsClient, section: NamesSection) -> ParsedListing[Name]:
    """The configured repositories' names (one request each) and the repositories of the discovery projects
    (one listing each)."""
    names: list[Name] = []
    requests = 0
    for repository_id in section.repository_ids:
        requests += 1
        try:
            names.append(repository_name(client, repository_id))
        except NotFoundError:  # the Repo source's own target of it says so; the other names stand
            continue
    for project_id in section.discovery_projects:
        try:
            listing = list_project_repositories(client, project_id)
        except NotFoundError:  # discovery says so (CodeArtsDiscoveryFailing); the other names stand
            requests += 1
            continue
        names += [Name(str(repository.id), repository.name, REPOSITORY) for repository in listing.records]
        requests += listing.requests
    unique = {name.id: name for name in names}  # a configured repository may be listed in a project too
    return ParsedListing(tuple(unique.values()), 0, requests, True)


SOURCE = NamesSource()
