"""The ``dora:`` section: the services DORA measures, and which deployments are theirs.

A service names the runs of CodeArts Pipeline pipelines and the records of CodeArts Deploy applications that
are its deployments (by regexes on their names, or a 32-hex id). Each ``project_id`` must be one the exporter
watches (``pipeline_projects`` / ``deploy_projects``), else nothing would ever be seen: a config error naming it.
The same id, or the same regex, under two services of one project is a config error naming both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.validation import CODEARTS_PROJECT_ID, Checker, buckets, integer, is_duplicate, patterns, string

KEYS = ("services", "lead_time", "lead_time_buckets", "recovery_buckets", "commit_cache_size")
SERVICE_KEYS = ("name", "environment", "pipelines", "deploy_apps")
PIPELINE_KEYS = ("project_id", "include")
DEPLOY_APP_KEYS = ("project_id", "include", "commits_from_build_job")
LEAD_TIME_MODES = ("head_commit", "all_commits")
DEFAULT_ENVIRONMENT = "production"
_HOUR, _DAY = 3600.0, 86400.0
DEFAULT_LEAD_TIME_BUCKETS = (_HOUR, 4 * _HOUR, _DAY, 3 * _DAY, 7 * _DAY, 30 * _DAY, 180 * _DAY)
DEFAULT_RECOVERY_BUCKETS = (600.0, _HOUR, 4 * _HOUR, _DAY, 7 * _DAY, 30 * _DAY)
DEFAULT_COMMIT_CACHE = 10_000  # commit times kept (about 100 bytes each in the state file)
MAX_COMMIT_CACHE = 1_000_000
_LABEL_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
_BUILD_JOB_ID = re.compile(r"[A-Za-z0-9]{32}")


@dataclass(frozen=True, slots=True)
class Selector:
    """Pipelines (or applications) of one project: those whose name or id an ``include`` regex matches
    (an id only in full)."""

    project_id: str
    include: tuple[re.Pattern[str], ...]
    commits_from_build_job: str | None = None  # Deploy apps only

    def selects(self, object_id: str, name: str) -> bool:
        """True if the pipeline or application ``object_id`` named ``name`` is one of these."""
        return any(pattern.fullmatch(object_id) or pattern.search(name) for pattern in self.include)


@dataclass(frozen=True, slots=True)
class Service:
    """One service DORA measures: its label values and its deployments."""

    name: str
    environment: str
    pipelines: tuple[Selector, ...] = ()
    deploy_apps: tuple[Selector, ...] = ()

    @property
    def labels(self) -> tuple[str, str]:
        """Its ``service`` and ``environment`` label values."""
        return self.name, self.environment


@dataclass(frozen=True, slots=True)
class DoraConfig:
    """The validated ``dora:`` section."""

    services: tuple[Service, ...]
    lead_time: str = "head_commit"
    lead_time_buckets: tuple[float, ...] = DEFAULT_LEAD_TIME_BUCKETS
    recovery_buckets: tuple[float, ...] = DEFAULT_RECOVERY_BUCKETS
    commit_cache_size: int = DEFAULT_COMMIT_CACHE

    def uses_repo(self) -> bool:
        """True if commit times are read from CodeArts Repo (some service has pipelines)."""
        return any(service.pipelines for service in self.services)


def parse_dora(check: Checker, raw: object, pipeline_projects: Iterable[str],
               deploy_projects: Iterable[str] | None) -> DoraConfig | None:
    """``dora:`` (None when absent or invalid, the problems recorded); ``deploy_projects`` None: the exporter
    has no Deploy source."""
    if raw is None:
        return None
    section = check.section("dora", raw, KEYS)
    if section is None:
        return None
    before = len(check.problems)
    services = _services(check, section.get("services"), set(pipeline_projects), deploy_projects)
    got = check.scalar("dora.lead_time", section.get("lead_time", "head_commit"))
    mode = got.value if got is not None else None
    if got is not None and mode not in LEAD_TIME_MODES:
        check.add("dora.lead_time", f"expected one of {', '.join(LEAD_TIME_MODES)}, got {got.shown}")
    lead = buckets(check, "dora.lead_time_buckets", section.get("lead_time_buckets"), DEFAULT_LEAD_TIME_BUCKETS)
    recovery = buckets(check, "dora.recovery_buckets", section.get("recovery_buckets"), DEFAULT_RECOVERY_BUCKETS)
    cache = integer(check, "dora.commit_cache_size", section.get("commit_cache_size"), 1, MAX_COMMIT_CACHE,
                    DEFAULT_COMMIT_CACHE)
    if len(check.problems) != before or services is None or lead is None or recovery is None or cache is None:
        return None
    return DoraConfig(services, str(mode), lead, recovery, cache)


def _services(check: Checker, raw: object, pipeline_projects: set[str],
              deploy_projects: Iterable[str] | None) -> tuple[Service, ...] | None:
    items = check.items("dora.services", raw)
    if not items:
        if items is not None:
            check.add("dora.services", "required: at least one service")
        return None
    services: list[Service] = []
    names: dict[str, str] = {}
    claimed: dict[tuple[str, str, str], str] = {}  # (kind, project, regex) -> the path that has it
    for index, item in enumerate(items):
        path = f"dora.services[{index}]"
        entry = check.section(path, item, SERVICE_KEYS)
        if entry is None:
            continue
        name = _label(check, f"{path}.name", entry.get("name"))
        environment = _label(check, f"{path}.environment", entry.get("environment", DEFAULT_ENVIRONMENT))
        pipelines = _selectors(check, f"{path}.pipelines", entry.get("pipelines"), PIPELINE_KEYS,
                               "pipeline_projects", pipeline_projects, claimed)
        apps = _selectors(check, f"{path}.deploy_apps", entry.get("deploy_apps"), DEPLOY_APP_KEYS,
                          "deploy_projects", set(deploy_projects or ()), claimed)
        if name is not None and environment is not None and is_duplicate(
                check, f"{path}.name", f"{name}/{environment}", names):
            continue
        if pipelines is not None and apps is not None and not pipelines and not apps:
            check.add(path, "names no deployments: give pipelines or deploy_apps")
            continue
        if name is not None and environment is not None and pipelines is not None and apps is not None:
            services.append(Service(name, environment, pipelines, apps))
    return tuple(services) if len(services) == len(items) else None


def _label(check: Checker, path: str, raw: object) -> str | None:
    return string(check, path, raw, pattern=_LABEL_VALUE,
                  expected="a label value (1-64 letters, digits, _ . : / -, starting with a letter or digit)")


def _selectors(check: Checker, path: str, raw: object, keys: tuple[str, ...], watched_key: str,
               watched: set[str], claimed: dict[tuple[str, str, str], str]) -> tuple[Selector, ...] | None:
    items = check.items(path, raw)
    if items is None:
        return None
    selectors: list[Selector] = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        entry = check.section(where, item, keys)
        if entry is None:
            continue
        project = string(check, f"{where}.project_id", entry.get("project_id"), pattern=CODEARTS_PROJECT_ID,
                         expected="a CodeArts project id (32 letters and digits)")
        if project is not None and project not in watched:
            check.add(f"{where}.project_id", f"{project} is not one of {watched_key}")
            project = None
        include = patterns(check, f"{where}.include", entry.get("include"))
        if include is not None and not include:
            check.add(f"{where}.include", "required: at least one regex or id")
            include = None
        raw_job = entry.get("commits_from_build_job")
        build_job = None if raw_job is None else string(
            check, f"{where}.commits_from_build_job", raw_job, pattern=_BUILD_JOB_ID,
            expected="a CodeArts Build job id (32 letters and digits)")
        if project is None or include is None or (raw_job is not None and build_job is None):
            continue
        for pattern in include:
            key = (watched_key, project, pattern.pattern)
            if key in claimed:
                check.add(f"{where}.include", f"{pattern.pattern!r:.60} is also claimed by {claimed[key]}")
            claimed.setdefault(key, where)
        selectors.append(Selector(project, include, build_job))
    return tuple(selectors) if len(selectors) == len(items) else None
