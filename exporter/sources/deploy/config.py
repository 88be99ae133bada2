"""The Deploy source's configuration: ``deploy_projects:`` (the CodeArts projects whose applications to watch)
and ``deploy_options:`` (the zone of the API's zone-less times)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from exporter.validation import Checker, patterns, project_list, selected
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

    def read(path: str, entry: Mapping[str, Any], project_id: str | None) -> DeployProject | None:
        include = patterns(check, f"{path}.include", entry.get("include"))
        exclude = patterns(check, f"{path}.exclude", entry.get("exclude"))
        if project_id is None or include is None or exclude is None or zone is None:
            return None
        return DeployProject(project_id, include, exclude, zone)

    projects = project_list(check, top, "deploy_projects", PROJECT_KEYS, read)
    return projects if zone is not None else None
