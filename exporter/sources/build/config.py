"""The Build source's configuration: ``projects:``, the CodeArts projects whose build jobs to watch."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.validation import CODEARTS_PROJECT_ID, Checker, is_duplicate, patterns, selected, string

PROJECT_KEYS = ("id", "include", "exclude")


@dataclass(frozen=True, slots=True)
class ProjectTarget:
    """A CodeArts project whose build jobs to watch: those whose name matches an ``include`` regex (any, when
    none are given) and no ``exclude`` regex (``re.search``), as for pipelines and repositories."""

    id: str
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    def watches(self, name: str) -> bool:
        """True if a build job of this name is watched."""
        return selected(name, self.include, self.exclude)


def _projects(check: Checker, raw: object) -> tuple[ProjectTarget, ...] | None:
    items = check.items("projects", raw)
    if items is None:
        return None
    targets: list[ProjectTarget] = []
    first_path: dict[str, str] = {}
    for index, item in enumerate(items):
        path = f"projects[{index}]"
        section = check.section(path, item, PROJECT_KEYS)
        if section is None:
            continue
        project_id = string(
            check,
            f"{path}.id",
            section.get("id"),
            pattern=CODEARTS_PROJECT_ID,
            expected="a CodeArts project id (32 letters and digits)",
        )
        include = patterns(check, f"{path}.include", section.get("include"))
        exclude = patterns(check, f"{path}.exclude", section.get("exclude"))
        if project_id is not None and not is_duplicate(check, f"{path}.id", project_id, first_path) \
                and include is not None and exclude is not None:
            targets.append(ProjectTarget(project_id, include, exclude))
    return tuple(targets) if len(targets) == len(items) else None


def parse_section(check: Checker, top: Mapping[str, object]) -> tuple[ProjectTarget, ...] | None:
    """``projects:`` from the top-level mapping; None if invalid."""
    return _projects(check, top.get("projects"))
