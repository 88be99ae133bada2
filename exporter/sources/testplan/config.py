"""The TestPlan source's configuration: ``testplan_projects:``, the CodeArts projects whose test plans to
watch, which plans (name regexes), in which stages, and how long after their end date."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.validation import (
    Checker,
    describe,
    integer,
    patterns,
    project_list,
    selected,
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

    def read(path: str, entry: Mapping[str, Any], project_id: str | None) -> TestPlanProject | None:
        include = patterns(check, f"{path}.include", entry.get("include"))
        stages = _stages(check, f"{path}.stages", entry.get("stages"))
        max_age = integer(check, f"{path}.max_age_days", entry.get("max_age_days"), 1, MAX_AGE_DAYS,
                          DEFAULT_MAX_AGE_DAYS)
        if project_id is None or include is None or stages is None or max_age is None:
            return None
        return TestPlanProject(project_id, include, stages, max_age)

    return project_list(check, top, "testplan_projects", PROJECT_KEYS, read)
