"""The TestPlan source's configuration: ``testplan_projects:``, the CodeArts projects whose test plans to
watch, which plans (name regexes), in which stages, and how long after their end date."""

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
    patterns,
    selected,
    string,
)

PROJECT_KEYS = ("id", "include", "stages", "max_age_days")
STAGES = ("create", "design", "execute", "report")  # the API's current_stage values
DEFAULT_STAGES = ("execute", "report")
DEFAULT_MAX_AGE_DAYS = 30
MAX_AGE_DAYS = 3650


@dataclass(frozen=True, slots=True)
class TestPlanProject:
    """A CodeArts project whose test plans to watch: those whose name matches an ``include`` regex (any, when
    none are given), whose ``current_stage`` is one of ``stages``, and whose end date is at most
    ``max_age_days`` days ago (plans without an end date are kept)."""

    __test__ = False  # not a pytest test class, whatever its name

    id: str
    include: tuple[re.Pattern[str], ...] = ()
    stages: tuple[str, ...] = DEFAULT_STAGES
    max_age_days: int = DEFAULT_MAX_AGE_DAYS

    def watches(self, name: str, stage: str) -> bool:
        """True if a plan of this name, in this stage, is watched."""
        return stage in self.stages and selected(name, self.include, ())


def _stages(check: Checker, path: str, raw: object) -> tuple[str, ...] | None:
    """``stages:``, each a ``current_stage`` value (default: execute and report)."""
    if raw is None:
        return DEFAULT_STAGES
    items = check.items(path, raw)
    if items is None:
        return None
    if not items:
        check.add(path, f"expected a non-empty list of stages ({', '.join(STAGES)})")
        return None
    bad = [index for index, item in enumerate(items) if item not in STAGES]
    for index in bad:
        check.add(f"{path}[{index}]", f"expected one of {', '.join(STAGES)}, got {describe(items[index])}")
    return None if bad else tuple(dict.fromkeys(str(item) for item in items))


def parse_section(check: Checker, top: Mapping[str, object]) -> tuple[TestPlanProject, ...] | None:
    """``testplan_projects:`` from the top-level mapping; None if invalid."""
    items = check.items("testplan_projects", top.get("testplan_projects"))
    if items is None:
        return None
    projects: list[TestPlanProject] = []
    first_path: dict[str, str] = {}
    for index, item in enumerate(items):
        path = f"testplan_projects[{index}]"
        entry = check.section(path, item, PROJECT_KEYS)
        if entry is None:
            continue
        before = len(check.problems)
        project_id = string(check, f"{path}.id", entry.get("id"), pattern=CODEARTS_PROJECT_ID,
                            expected="a CodeArts project id (32 letters and digits)")
        include = patterns(check, f"{path}.include", entry.get("include"))
        stages = _stages(check, f"{path}.stages", entry.get("stages"))
        max_age = integer(check, f"{path}.max_age_days", entry.get("max_age_days"), 1, MAX_AGE_DAYS,
                          DEFAULT_MAX_AGE_DAYS)
        if project_id is not None and is_duplicate(check, f"{path}.id", project_id, first_path):
            continue
        if len(check.problems) == before and None not in (project_id, include, stages, max_age):
            projects.append(TestPlanProject(project_id, include, stages, max_age))  # type: ignore[arg-type]
    return tuple(projects) if len(projects) == len(items) else None
