"""The Build source's configuration: ``projects:``, the CodeArts projects whose build jobs to watch (and, with
``tests: true``, the unit-test reports of their builds), and ``build_options:``, how Build is read (which
records API counts runs).

``build_options.history_api`` was ``history.api`` before the core's ``history:`` section kept only what every
source shares; that old key still works and means the same, with a deprecation warning once per load.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from exporter.validation import (
    Checker,
    boolean,
    patterns,
    project_list,
    selected,
)

log = logging.getLogger(__name__)

PROJECT_KEYS = ("id", "include", "exclude", "tests")
OPTION_KEYS = ("history_api",)
# auto: the batch records API (POST /v1/record/brief) where the account answers it, else v1; brief: that batch
# API only; v1: GET /v1/record/{build_project_id}/records; v3: GET /v3/jobs/{job_id}/history.
HISTORY_APIS = ("auto", "brief", "v1", "v3")
LEGACY_HISTORY_API = "history.api"


@dataclass(frozen=True, slots=True)
class BuildSection:
    """The Build section: the projects to watch, and which records API counts their runs."""

    projects: tuple[ProjectTarget, ...] = ()
    history_api: str = "auto"


@dataclass(frozen=True, slots=True)
class ProjectTarget:
    """A CodeArts project whose build jobs to watch: those whose name matches an ``include`` regex (any, when
    none are given) and no ``exclude`` regex (``re.search``), as for pipelines and repositories; ``tests``:
    read the unit-test summary of each of their newly finished builds."""

    id: str
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    tests: bool = False

    def watches(self, name: str) -> bool:
        """True if a build job of this name is watched."""
        return selected(name, self.include, self.exclude)


def _read_project(check: Checker, path: str, entry: Mapping[str, Any], project_id: str | None) -> ProjectTarget | None:
    include = patterns(check, f"{path}.include", entry.get("include"))
    exclude = patterns(check, f"{path}.exclude", entry.get("exclude"))
    tests = boolean(check, f"{path}.tests", entry.get("tests"), False)
    if project_id is None or include is None or exclude is None:
        return None
    return ProjectTarget(project_id, include, exclude, tests)


def parse_section(check: Checker, top: Mapping[str, object]) -> BuildSection | None:
    """``projects:`` and ``build_options:`` (or the deprecated ``history.api``) from the top-level mapping; None
    if invalid."""
    projects = project_list(check, top, "projects", PROJECT_KEYS, partial(_read_project, check))
    history_api = _history_api(check, top)
    if projects is None or history_api is None or not _tests_have_history(check, top, projects):
        return None
    return BuildSection(projects, history_api)


def _history_api(check: Checker, top: Mapping[str, object]) -> str | None:
    options = check.section("build_options", top.get("build_options"), OPTION_KEYS)
    if options is None:
        return None
    history = top.get("history")
    legacy = history.get("api") if isinstance(history, Mapping) else None  # the core checks the section's shape
    if legacy is not None and "history_api" in options:
        check.add(LEGACY_HISTORY_API, "give build_options.history_api only (history.api is its deprecated name)")
        return None
    if legacy is None:
        return _api_name(check, "build_options.history_api", options.get("history_api"))
    log.warning("history.api is deprecated: write build_options.history_api (same values, same meaning)")
    return _api_name(check, LEGACY_HISTORY_API, legacy)


def _api_name(check: Checker, path: str, raw: object) -> str | None:
    if raw is None:
        return "auto"
    got = check.scalar(path, raw)
    if got is None:
        return None
    if got.value not in HISTORY_APIS:
        check.add(path, f"expected one of {', '.join(HISTORY_APIS)}, got {got.shown}")
        return None
    return str(got.value)


def _tests_have_history(check: Checker, top: Mapping[str, object], projects: tuple[ProjectTarget, ...]) -> bool:
    """``tests: true`` needs the run history (it finds the builds whose reports are read)."""
    history = top.get("history")
    if isinstance(history, Mapping) and history.get("enabled") is False:
        for index, project in enumerate(projects):
            if project.tests:
                check.add(f"projects[{index}].tests", "needs the run history, which history.enabled: false turns off")
                return False
    return True
