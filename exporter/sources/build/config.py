"""The Build source's configuration: ``projects:``, the CodeArts projects whose build jobs to watch (and, with
``tests: true``, the unit-test reports of their builds)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exporter.validation import CODEARTS_PROJECT_ID, Checker, boolean, is_duplicate, string

PROJECT_KEYS = ("id", "tests")


@dataclass(frozen=True, slots=True)
class ProjectTarget:
    """A CodeArts project whose build jobs to watch; ``tests``: read the unit-test summary of each of their newly
    finished builds."""

    id: str
    tests: bool = False


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
        tests = boolean(check, f"{path}.tests", section.get("tests"), False)
        if project_id is not None and not is_duplicate(check, f"{path}.id", project_id, first_path):
            targets.append(ProjectTarget(project_id, tests))
    return tuple(targets) if len(targets) == len(items) else None


def parse_section(check: Checker, top: Mapping[str, object]) -> tuple[ProjectTarget, ...] | None:
    """``projects:`` from the top-level mapping; None if invalid. ``tests: true`` needs the run history (it
    finds the builds whose reports are read)."""
    projects = _projects(check, top.get("projects"))
    history = top.get("history")
    if projects and isinstance(history, Mapping) and history.get("enabled") is False:
        for index, project in enumerate(projects):
            if project.tests:
                check.add(f"projects[{index}].tests", "needs the run history, which history.enabled: false turns off")
                return None
    return projects
