"""What the names source names: the CodeArts projects and repositories the other sources' sections watch.

It owns no configuration key: it reads the ids of ``projects``, ``pipeline_projects``, ``repositories`` and
``discovery.projects`` (their own sources validate them; an invalid one is simply not named) and
``discovery.interval_seconds``, how often names are read again. ProjectMan is asked only where it has an
endpoint: ``endpoints.projectman``, or a region with a default one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exporter.sources.projectman.regions import ENDPOINTS
from exporter.validation import CODEARTS_PROJECT_ID, Checker

DEFAULT_INTERVAL = 300.0  # seconds: discovery.interval_seconds' default
MAX_REPOSITORY_ID = 2_147_483_647


@dataclass(frozen=True, slots=True)
class NamesSection:
    """The ids to name, and how often to read the names again."""

    project_ids: tuple[str, ...] = ()  # every CodeArts project id any section names
    repository_ids: tuple[int, ...] = ()  # repositories[].id
    discovery_projects: tuple[str, ...] = ()  # discovery.projects[].project_id: their repositories' names
    interval_seconds: float = DEFAULT_INTERVAL
    projectman: bool = False  # True: ProjectMan has an endpoint, so project names are read


def _items(top: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    raw = top.get(key)
    return [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []


def _project_id(value: object) -> str | None:
    return value if isinstance(value, str) and CODEARTS_PROJECT_ID.fullmatch(value) else None


def _repository_id(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    number = int(value)
    return number if 1 <= number <= MAX_REPOSITORY_ID else None


def _discovery(top: Mapping[str, object]) -> tuple[list[Mapping[str, object]], float]:
    raw = top.get("discovery")
    if not isinstance(raw, Mapping):
        return [], DEFAULT_INTERVAL
    interval = raw.get("interval_seconds")
    seconds = float(interval) if isinstance(interval, int | float) and not isinstance(interval, bool) \
        and interval > 0 else DEFAULT_INTERVAL
    return _items(raw, "projects"), seconds


def _has_projectman(top: Mapping[str, object]) -> bool:
    endpoints = top.get("endpoints")
    if isinstance(endpoints, Mapping) and endpoints.get("projectman"):
        return True
    region = top.get("region")
    return isinstance(region, str) and region in ENDPOINTS


def parse_section(check: Checker, top: Mapping[str, object]) -> NamesSection:
    """The ids the other sections name, read leniently (their sources report what is wrong with them)."""
    discovery, interval = _discovery(top)
    found = [_project_id(item.get("id")) for key in ("projects", "pipeline_projects") for item in _items(top, key)]
    discovery_projects = [_project_id(item.get("project_id")) for item in discovery]
    repositories = [_repository_id(item.get("id")) for item in _items(top, "repositories")]
    return NamesSection(
        project_ids=tuple(dict.fromkeys(pid for pid in (*found, *discovery_projects) if pid is not None)),
        repository_ids=tuple(dict.fromkeys(repo for repo in repositories if repo is not None)),
        discovery_projects=tuple(dict.fromkeys(pid for pid in discovery_projects if pid is not None)),
        interval_seconds=interval,
        projectman=_has_projectman(top),
    )
