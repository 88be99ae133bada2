"""The Pipeline source's configuration: ``pipeline_projects:`` (the CodeArts projects whose pipelines to
watch) and ``pipeline_options:`` (how to read the API's times)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from exporter.validation import Checker, boolean, patterns, project_list, selected
from exporter.zones import CHINA_STANDARD_TIME, zone_setting

PROJECT_KEYS = ("id", "include", "exclude", "branches", "legacy", "detail")
OPTION_KEYS = ("stage_time_zone",)
OTHER_BRANCH = "other"  # the branch label of a run whose branch no ``branches`` regex matches


@dataclass(frozen=True, slots=True)
class PipelineProject:
    """A CodeArts project whose pipelines to watch: those whose name matches an ``include`` regex (any, when
    none are given) and no ``exclude`` regex; a run's branch is a label value only if a ``branches`` regex
    matches it (else ``other``); ``legacy``: old-version pipelines (``query_new: false``); ``detail``: read each
    newly finished latest run's detail (job durations, the failed job's message)."""

    id: str
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    branches: tuple[re.Pattern[str], ...] = ()
    legacy: bool = False
    zone: timezone = field(default=CHINA_STANDARD_TIME, compare=False)
    detail: bool = False

    def watches(self, name: str) -> bool:
        """True if a pipeline of this name is watched."""
        return selected(name, self.include, self.exclude)

    def branch_label(self, branch: str) -> str:
        """The label value of a run's branch: itself if a ``branches`` regex matches it, else ``other``."""
        return branch if branch and any(pattern.search(branch) for pattern in self.branches) else OTHER_BRANCH


def parse_section(check: Checker, top: Mapping[str, object]) -> tuple[PipelineProject, ...] | None:
    """``pipeline_projects:`` (with ``pipeline_options:``) from the top-level mapping; None if invalid."""
    zone = zone_setting(check, top, "pipeline_options", OPTION_KEYS, "stage_time_zone")

    def read(path: str, entry: Mapping[str, Any], project_id: str | None) -> PipelineProject | None:
        include = patterns(check, f"{path}.include", entry.get("include"))
        exclude = patterns(check, f"{path}.exclude", entry.get("exclude"))
        branches = patterns(check, f"{path}.branches", entry.get("branches"))
        legacy = boolean(check, f"{path}.legacy", entry.get("legacy"), False)
        detail = boolean(check, f"{path}.detail", entry.get("detail"), False)
        if project_id is None or include is None or exclude is None or branches is None or zone is None:
            return None
        return PipelineProject(project_id, include, exclude, branches, legacy, zone, detail)

    projects = project_list(check, top, "pipeline_projects", PROJECT_KEYS, read)
    return projects if zone is not None else None
