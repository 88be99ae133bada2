"""The Repo source's configuration: ``repositories:`` (pipelines by id, or discovered from merge requests)
and ``discovery:`` (repositories found in CodeArts projects by name)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.validation import (
    CODEARTS_PROJECT_ID,
    Checker,
    describe,
    integer,
    is_duplicate,
    non_negative,
    patterns,
    seconds,
    selected,
    string,
)

MAX_ID = 2_147_483_647  # CodeArts Repo: repository_id and pipeline_id are Integer 1~2147483647
MR_DISCOVERY_KEYS = ("discover", "max_pipelines", "pipeline_retention_seconds")
REPOSITORY_KEYS = ("id", "pipelines", *MR_DISCOVERY_KEYS)
DISCOVERY_KEYS = ("interval_seconds", "projects")
DISCOVERY_PROJECT_KEYS = ("project_id", "include", "exclude", *MR_DISCOVERY_KEYS)
DISCOVER_MODES = ("merge_requests",)
MAX_PIPELINES = 1000


@dataclass(frozen=True, slots=True)
class MergeRequestDiscovery:
    """``discover: merge_requests``: watch the head pipelines of the newest ``max_pipelines`` open merge
    requests, until a pipeline is finished and finished more than ``retention_seconds`` ago."""

    max_pipelines: int = 20
    retention_seconds: float = 86400.0


@dataclass(frozen=True, slots=True)
class RepositoryTarget:
    """A CodeArts Repo repository: the pipelines of it to watch, and whether to discover more."""

    id: int
    pipelines: tuple[int, ...]
    discover: MergeRequestDiscovery | None = None


@dataclass(frozen=True, slots=True)
class ProjectDiscovery:
    """The repositories of a CodeArts project whose name matches an ``include`` regex (any, when none are
    given) and no ``exclude`` regex (``re.search``); each gets merge request discovery."""

    project_id: str
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    merge_requests: MergeRequestDiscovery = MergeRequestDiscovery()

    def matches(self, name: str) -> bool:
        """True if a repository of this name is discovered."""
        return selected(name, self.include, self.exclude)


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """How often discovery runs (seconds), and the projects whose repositories are discovered."""

    interval_seconds: float = 300.0
    projects: tuple[ProjectDiscovery, ...] = ()


def _repositories(check: Checker, raw: object) -> tuple[RepositoryTarget, ...] | None:
    items = check.items("repositories", raw)
    if items is None:
        return None
    targets: list[RepositoryTarget] = []
    first_path: dict[int, str] = {}
    for index, item in enumerate(items):
        path = f"repositories[{index}]"
        section = check.section(path, item, REPOSITORY_KEYS)
        if section is None:
            continue
        repo_id = integer(check, f"{path}.id", section.get("id"), 1, MAX_ID)
        if repo_id is not None and is_duplicate(check, f"{path}.id", repo_id, first_path):
            repo_id = None
        before = len(check.problems)
        discover = _merge_request_discovery(check, path, section)
        if "discover" in section and "pipelines" not in section:
            pipelines: tuple[int, ...] | None = ()
        else:
            pipelines = _pipelines(check, f"{path}.pipelines", section.get("pipelines"))
        if repo_id is not None and pipelines is not None and len(check.problems) == before:
            targets.append(RepositoryTarget(repo_id, pipelines, discover))
    return tuple(targets) if len(targets) == len(items) else None


def _merge_request_discovery(check: Checker, path: str, section: Mapping[str, object],
                             required: bool = False) -> MergeRequestDiscovery | None:
    """``discover: merge_requests`` and its bounds; None (no problem) when ``discover`` is absent and not
    ``required``; the bounds without ``discover`` are a problem."""
    if "discover" not in section and not required:
        for key in ("max_pipelines", "pipeline_retention_seconds"):
            if key in section:
                check.add(f"{path}.{key}", "only with discover: merge_requests")
        return None
    mode_ok = True
    if "discover" in section:
        got = check.scalar(f"{path}.discover", section["discover"])
        mode_ok = got is not None and got.value in DISCOVER_MODES
        if got is not None and not mode_ok:
            check.add(f"{path}.discover", f"expected one of {', '.join(DISCOVER_MODES)}, got {got.shown}")
    # The bounds are checked even when the mode is wrong, so one run names every problem of the entry.
    defaults = MergeRequestDiscovery()
    most = integer(check, f"{path}.max_pipelines", section.get("max_pipelines"), 1, MAX_PIPELINES,
                    defaults.max_pipelines)
    retention = non_negative(check, f"{path}.pipeline_retention_seconds", section.get("pipeline_retention_seconds"),
                              defaults.retention_seconds)
    if not mode_ok or most is None or retention is None:
        return None
    return MergeRequestDiscovery(most, retention)


def _discovery(check: Checker, raw: object) -> DiscoveryConfig | None:
    section = check.section("discovery", raw, DISCOVERY_KEYS)
    if section is None:
        return None
    defaults = DiscoveryConfig()
    interval = seconds(check, "discovery.interval_seconds", section.get("interval_seconds"), defaults.interval_seconds)
    items = check.items("discovery.projects", section.get("projects"))
    if items is None:
        return None
    projects: list[ProjectDiscovery] = []
    first_path: dict[str, str] = {}
    for index, item in enumerate(items):
        path = f"discovery.projects[{index}]"
        entry = check.section(path, item, DISCOVERY_PROJECT_KEYS)
        if entry is None:
            continue
        before = len(check.problems)
        project_id = string(check, f"{path}.project_id", entry.get("project_id"), pattern=CODEARTS_PROJECT_ID,
                             expected="a CodeArts project id (32 letters and digits)")
        if project_id is not None:
            is_duplicate(check, f"{path}.project_id", project_id, first_path)
        include = patterns(check, f"{path}.include", entry.get("include"))
        exclude = patterns(check, f"{path}.exclude", entry.get("exclude"))
        discover = _merge_request_discovery(check, path, entry, required=True)
        if len(check.problems) == before and project_id is not None and include is not None \
                and exclude is not None and discover is not None:
            projects.append(ProjectDiscovery(project_id, include, exclude, discover))
    if interval is None or len(projects) != len(items):
        return None
    return DiscoveryConfig(interval[0], tuple(projects))


def _pipelines(check: Checker, path: str, raw: object) -> tuple[int, ...] | None:
    expected = f"expected a non-empty list of integers 1..{MAX_ID}"
    if raw is None:
        check.add(path, "required")
        return None
    if not isinstance(raw, list) or not raw:
        check.add(path, f"{expected}, got {describe(raw)}")
        return None
    ids: list[int] = []
    first_path: dict[int, str] = {}
    for index, item in enumerate(raw):
        pipeline = integer(check, f"{path}[{index}]", item, 1, MAX_ID)
        if pipeline is not None and not is_duplicate(check, f"{path}[{index}]", pipeline, first_path):
            ids.append(pipeline)
    return tuple(ids) if len(ids) == len(raw) else None


@dataclass(frozen=True, slots=True)
class RepoSection:
    """The Repo source's whole configuration."""

    repositories: tuple[RepositoryTarget, ...] = ()
    discovery: DiscoveryConfig = DiscoveryConfig()

    def pipeline_targets(self) -> list[tuple[int, int]]:
        """Every configured (repository id, pipeline id) pair, in configuration order."""
        return [(repo.id, pipeline) for repo in self.repositories for pipeline in repo.pipelines]

    def discovers(self) -> bool:
        """True if any pipeline is discovered (from a repository's or a project's merge requests)."""
        return bool(self.discovery.projects) or any(repo.discover is not None for repo in self.repositories)


def parse_section(check: Checker, top: Mapping[str, object]) -> RepoSection | None:
    """``repositories:`` and ``discovery:`` from the top-level mapping; None if either is invalid."""
    repositories = _repositories(check, top.get("repositories"))
    discovery = _discovery(check, top.get("discovery"))
    if repositories is None or discovery is None:
        return None
    return RepoSection(repositories, discovery)
