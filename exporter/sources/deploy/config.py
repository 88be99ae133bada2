"""The Deploy source's configuration: ``deploy_projects:`` (the CodeArts projects whose applications to watch)
and ``deploy_options:`` (the zone of the API's zone-less times)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone

from exporter.validation import CODEARTS_PROJECT_ID, Checker, is_duplicate, patterns, selected, string
from exporter.zones import CHINA_STANDARD_TIME, zone_setting

PROJECT_KEYS = ("id", "include", "exclude")
OPTION_KEYS = ("time_zone",)


@dataclass(frozen=True, slots=True)
class DeployProject:
    """A CodeArts project whose applications to watch: those whose name matches an ``include`` regex (any, when
    none are given) and no ``exclude`` regex; ``zone``: the zone Deploy's zone-less times are read in."""

    id: str
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    zone: timezone = field(default=CHINA_STANDARD_TIME, compare=False)

    def watches(self, name: str) -> bool:
        """True if an application of this name is watched."""
        return selected(name, self.include, self.exclude)


def parse_section(check: Checker, top: Mapping[str, object]) -> tuple[DeployProject, ...] | None:
    """``deploy_projects:`` (with ``deploy_options:``) from the top-level mapping; None if invalid."""
    zone = zone_setting(check, top, "deploy_options", OPTION_KEYS, "time_zone")
    items = check.items("deploy_projects", top.get("deploy_projects"))
    if items is None:
        return None
    projects: list[DeployProject] = []
    first_path: dict[str, str] = {}
    for index, item in enumerate(items):
        path = f"deploy_projects[{index}]"
        entry = check.section(path, item, PROJECT_KEYS)
        if entry is None:
            continue
        before = len(check.problems)
        project_id = string(check, f"{path}.id", entry.get("id"), pattern=CODEARTS_PROJECT_ID,
                            expected="a CodeArts project id (32 letters and digits)")
        include = patterns(check, f"{path}.include", entry.get("include"))
        exclude = patterns(check, f"{path}.exclude", entry.get("exclude"))
        if project_id is None or is_duplicate(check, f"{path}.id", project_id, first_path):
            continue
        if len(check.problems) == before and include is not None and exclude is not None and zone is not None:
            projects.append(DeployProject(project_id, include, exclude, zone))
    return tuple(projects) if len(projects) == len(items) and zone is not None else None
