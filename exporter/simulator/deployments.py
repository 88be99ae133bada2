"""The simulated CodeArts Deploy service: projects of applications whose deployment tasks deploy over time.

Pure data, no I/O; what an application shows is a pure function of (seed, project id, its index, the
moment asked about), as for the other simulated APIs (see :mod:`exporter.simulator.cycle` for the timeline).

Rules:

- Application ``index`` of a project: id ``hex_id("codearts-sim/deploy-app", project, index)``, name
  ``<component>-deploy-<index>``, ``deploy_system`` deployTemplate, ansible or shell in turn. ``index % 16 == 14``
  was never deployed (``not_executed``, no release); ``index % 8 == 5`` is flaky; ``index % 8 == 6`` has two
  deployment tasks (``arrange_infos``), each deploying on its own cycle: the application shows the latest
  deployment of either. Listed by creation (``index``), or by name with ``sort_name: name``.
- Each task deploys on the cycle of :mod:`exporter.simulator.cycle` (every 2 to 10 minutes: a busy world for
  tests), stretched ``period_scale`` times (a bench's tenant deploys every few hours).
- A deployment is ``pending`` from its creation (``start_time``, the ``execution_time`` of the list), ``running``
  from the end of its queue, then ``succeeded``, ``failed``, ``timeout``, ``abort`` or ``not_started``
  (cancelled before it ran). ``release_id`` counts a task's deployments from the first one created at or after
  ORIGIN_MS, or after the application was re-created (``recreated``: app id -> epoch ms; its earlier
  deployments are gone). ``execution_id`` is 32 hex characters per deployment.
- Times are zone-less ``yyyy-MM-dd HH:mm:ss`` in +08:00, with a ``.0`` fraction for release ids divisible by 3;
  ``duration`` is ``HH:mm:ss``. An unfinished deployment's ``end_time`` is ``""`` for even release ids and
  missing for odd ones (the docs do not say which).
- The history of a task lists its deployments whose start date (in +08:00) lies within
  [``start_date``, ``end_date``], newest first; all four query parameters are required, a span over 30 days is
  refused.
- ``denied`` (project id -> how) refuse the project: ``403`` answers HTTP 403 with the nested error body,
  ``403-flat`` with ``{error_code, error_msg}``, ``200`` an HTTP 200 whose ``status`` is ``failed``; an unknown
  project is refused as ``403``. ``overrides`` (app id -> fields) are laid over that application's list item;
  ``history_overrides`` (task id -> fields) over every record of that task; ``blank_history`` tasks answer an
  empty history; ``list_status`` replaces the list's ``"status": "success"``, to show bad input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from exporter.simulator.cycle import Cycle, Run, hex_id, key64, outcome_table
from exporter.simulator.records import TZ_OFFSET_MS, hex_of

ORIGIN_MS = 1_700_000_000_000
DAY_MS = 86_400_000
COMPONENTS = ("checkout", "payments", "gateway", "billing", "auth", "search", "mobile", "docs")
SYSTEMS = ("deployTemplate", "ansible", "shell")
DEPLOY_PROFILES: dict[str, tuple[tuple[str, int], ...]] = {
    "normal": (("success", 214), ("failed", 22), ("timedout", 8), ("canceled", 7), ("skipped", 5)),
    "flaky": (("success", 120), ("failed", 80), ("timedout", 24), ("canceled", 20), ("skipped", 12)),
}
DEPLOY_TABLES = {name: outcome_table(weights) for name, weights in DEPLOY_PROFILES.items()}
STATES = {"success": "succeeded", "failed": "failed", "timedout": "timeout", "canceled": "abort",
          "skipped": "not_started"}
DENIALS = ("403", "403-flat", "200")


def app_kind(index: int) -> str:
    """What the ``index``-th application of a project is: never deployed, flaky, two tasks, or normal."""
    if index % 16 == 14:
        return "never"
    return {5: "flaky", 6: "two-tasks"}.get(index % 8, "normal")


def local_time(ms: int, fraction: bool = False) -> str:
    """``2023-08-18 09:40:16`` (``.0`` appended with ``fraction``): epoch ms as Deploy writes times."""
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((ms + TZ_OFFSET_MS) // 1000))
    return text + ".0" if fraction else text


def local_date(ms: int) -> str:
    """``2023-08-18``: the +08:00 date of epoch ms."""
    return time.strftime("%Y-%m-%d", time.gmtime((ms + TZ_OFFSET_MS) // 1000))


def _local_midnight_ms(day: date) -> int:
    """Epoch ms of 00:00 +08:00 on ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000) - TZ_OFFSET_MS


def hms(ms: int) -> str:
    """``HH:mm:ss`` of a duration, hours past 24 as they are."""
    seconds = ms // 1000
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True, slots=True)
class DeployTask:
    """One deployment task of an application, and the cycle it deploys on."""

    id: str
    cycle: Cycle


@dataclass(frozen=True, slots=True)
class DeployApp:
    """An application: static fields and its tasks (none: never deployed)."""

    project_id: str
    index: int
    id: str
    name: str
    deploy_system: str
    created: int
    tasks: tuple[DeployTask, ...]


@dataclass(frozen=True, slots=True)
class DeploymentTruth:
    """One deployment of a task at a moment: Deploy's state word, epoch-ms times (end None until finished)."""

    task_id: str
    release_id: int
    run: Run
    state: str
    start: int
    end: int | None

    @property
    def execution_id(self) -> str:
        """The record's ``execution_id``."""
        return hex_of(self.run.draw, 32, salt=21)


@dataclass(slots=True)
class DeployService:
    """The applications of every simulated project, and the quirks the tests switch on."""

    seed: int = 0
    projects: Mapping[str, int] = field(default_factory=dict)
    denied: dict[str, str] = field(default_factory=dict)
    recreated: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    history_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    blank_history: set[str] = field(default_factory=set)
    list_status: str = "success"  # the ``status`` of application list bodies
    period_scale: int = 1  # deployments this many times further apart (and as long) as the CI cycle's 2-10 min
    _apps: dict[str, tuple[DeployApp, ...]] = field(default_factory=dict)
    _tasks: dict[str, tuple[DeployApp, DeployTask]] = field(default_factory=dict)
    _by_id: dict[str, DeployApp] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for project_id, size in self.projects.items():
            apps = tuple(self._plan(project_id, index) for index in range(size))
            self._apps[project_id] = apps
            self._tasks.update((task.id, (app, task)) for app in apps for task in app.tasks)
            self._by_id.update((app.id, app) for app in apps)

    def _plan(self, project_id: str, index: int) -> DeployApp:
        app_id = hex_id("codearts-sim/deploy-app", project_id, index)
        kind = app_kind(index)
        count = 0 if kind == "never" else 2 if kind == "two-tasks" else 1
        tasks = tuple(DeployTask(hex_id("codearts-sim/deploy-task", app_id, k), self._cycle(app_id, k, kind))
                      for k in range(count))
        name = f"{COMPONENTS[index % len(COMPONENTS)]}-deploy-{index}"
        return DeployApp(project_id, index, app_id, name, SYSTEMS[index % len(SYSTEMS)],
                         ORIGIN_MS - DAY_MS + index * 1000, tasks)

    def _cycle(self, app_id: str, k: int, kind: str) -> Cycle:
        cycle = Cycle.derive(key64("codearts-sim/deploy-cycle", self.seed, app_id, k),
                             DEPLOY_TABLES["flaky" if kind == "flaky" else "normal"])
        scale = self.period_scale
        return cycle if scale == 1 else Cycle(cycle.key, cycle.period * scale, cycle.phase * scale,
                                              cycle.queue * scale, cycle.run * scale, cycle.table)

    # -- what the routes read ------------------------------------------------------------------------

    def apps(self, project_id: str) -> tuple[DeployApp, ...] | None:
        """A project's applications by creation; None if the project is unknown."""
        return self._apps.get(project_id)

    def app(self, app_id: str) -> DeployApp | None:
        """An application by id; None if unknown."""
        return self._by_id.get(app_id)

    def task(self, project_id: str, task_id: str) -> tuple[DeployApp, DeployTask] | None:
        """A task of a project's application, with the application; None if unknown."""
        found = self._tasks.get(task_id)
        return found if found is not None and found[0].project_id == project_id else None

    def list_item(self, app: DeployApp, at_ms: int) -> dict[str, Any]:
        """The ``result[]`` item of an application at ``at_ms``."""
        last = self.last(app, at_ms)
        item: dict[str, Any] = {
            "id": app.id, "name": app.name, "project_id": app.project_id, "project_name": f"sim-{app.project_id[:6]}",
            "deploy_system": app.deploy_system, "is_disable": False, "is_care": False,
            "create_time": local_time(app.created, fraction=True), "update_time": local_time(app.created, True),
            "create_user_id": hex_id("codearts-sim/user", "devops-bot"), "create_tenant_id": hex_id("sim-tenant"),
            "can_view": True, "can_execute": True, "can_modify": True, "can_delete": True, "can_copy": True,
            "can_disable": False, "can_manage": False, "can_create_env": False,
            "arrange_infos": [{"id": task.id, "state": self._task_state(app, task, at_ms),
                               "deploy_system": app.deploy_system} for task in app.tasks],
            "execution_state": "not_executed", "release_id": None, "execution_time": "", "end_time": "",
            "duration": "", "executor_id": "", "executor_nick_name": "",
        }
        if last is not None:
            item |= {"execution_state": last.state, "release_id": last.release_id,
                     "execution_time": local_time(last.start, last.release_id % 3 == 0),
                     "duration": hms((last.end if last.end is not None else at_ms) - last.start),
                     "executor_id": hex_id("codearts-sim/user", "devops-bot"), "executor_nick_name": "devops-bot"}
            self._put_end(item, last)
        return item | self.overrides.get(app.id, {})

    def detail(self, app: DeployApp, at_ms: int) -> dict[str, Any]:
        """The ``result`` of ShowAppDetailById: the application with each task's latest ``release_id`` and
        state (0 and ``Draft`` for a task that never deployed)."""
        tasks = []
        for index, task in enumerate(app.tasks):
            latest = self.latest(app, task, at_ms)
            tasks.append({"id": task.id, "app_id": app.id, "name": f"{app.name}-task-{index}",
                          "project_id": app.project_id, "deploy_system": app.deploy_system,
                          "state": "Draft" if latest is None else latest.state,
                          "release_id": 0 if latest is None else latest.release_id,
                          "create_time": local_time(app.created), "update_time": local_time(app.created)})
        return {"id": app.id, "name": app.name, "project_id": app.project_id, "create_type": "template",
                "create_time": local_time(app.created, True), "update_time": local_time(app.created, True),
                "arrange_infos": tasks, "region": "sim-region-1", "permission_level": "instance"}

    def history(self, project_id: str, task_id: str, start_date: date, end_date: date, at_ms: int,
                start: int, stop: int) -> tuple[int, list[DeploymentTruth]] | None:
        """(how many, [``start``:``stop``] of) a task's deployments created by ``at_ms`` whose start date (+08:00)
        lies within the dates, newest first; None if the task is unknown."""
        found = self.task(project_id, task_id)
        if found is None:
            return None
        app, task = found
        if task_id in self.blank_history:
            return 0, []
        low = _local_midnight_ms(start_date)
        high = _local_midnight_ms(end_date) + DAY_MS - 1
        first = self._first(app, task)
        newest = task.cycle.index_at(min(high, at_ms))
        oldest = max(first, task.cycle.first_index_from(low))
        total = max(0, newest - oldest + 1)
        indices = range(newest, oldest - 1, -1)[start:stop]
        return total, [self.truth(task, task.cycle.run_at(index), first, at_ms) for index in indices]

    def record(self, truth: DeploymentTruth) -> dict[str, Any]:
        """A history ``result[]`` item."""
        item: dict[str, Any] = {
            "execution_id": truth.execution_id, "release_id": truth.release_id, "state": truth.state,
            "type": "install", "start_time": local_time(truth.start, truth.release_id % 3 == 0),
            "duration": hms(truth.end - truth.start) if truth.end is not None else "",
            "operator": "devops-bot", "nickname": "devops-bot",
        }
        self._put_end(item, truth)
        return item | self.history_overrides.get(truth.task_id, {})

    @staticmethod
    def _put_end(item: dict[str, Any], truth: DeploymentTruth) -> None:
        if truth.end is not None:
            item["end_time"] = local_time(truth.end)
        elif truth.release_id % 2 == 0:
            item["end_time"] = ""
        else:
            item.pop("end_time", None)

    # -- ground truth ----------------------------------------------------------------------------------

    def _first(self, app: DeployApp, task: DeployTask) -> int:
        """The index of a task's release 1: the first deployment created at or after ORIGIN_MS or the app's
        re-creation."""
        return task.cycle.first_index_from(max(ORIGIN_MS, self.recreated.get(app.id, 0)))

    def latest(self, app: DeployApp, task: DeployTask, at_ms: int) -> DeploymentTruth | None:
        """A task's latest deployment at ``at_ms`` (None: none yet)."""
        index = task.cycle.index_at(at_ms)
        first = self._first(app, task)
        return None if index < first else self.truth(task, task.cycle.run_at(index), first, at_ms)

    def last(self, app: DeployApp, at_ms: int) -> DeploymentTruth | None:
        """An application's last deployment: the latest created of its tasks' (None: never deployed)."""
        latest = [truth for task in app.tasks if (truth := self.latest(app, task, at_ms)) is not None]
        return max(latest, key=lambda truth: (truth.start, truth.task_id), default=None)

    def finished(self, project_id: str, after_ms: int, until_ms: int) -> list[tuple[DeployApp, DeploymentTruth]]:
        """Every deployment of a project's applications that finished in (``after_ms``, ``until_ms``]."""
        found = []
        for app in self._apps.get(project_id, ()):
            for task in app.tasks:
                first = self._first(app, task)
                index = max(first, task.cycle.index_at(after_ms) - 1)
                while index <= task.cycle.index_at(until_ms):
                    run = task.cycle.run_at(index)
                    if after_ms < run.finished <= until_ms:
                        found.append((app, self.truth(task, run, first, until_ms)))
                    index += 1
        return found

    @staticmethod
    def truth(task: DeployTask, run: Run, first: int, at_ms: int) -> DeploymentTruth:
        """Deployment ``run`` of ``task`` as it stands at ``at_ms``."""
        phase = run.phase_at(at_ms)
        state = STATES[run.outcome] if phase == "done" else phase
        return DeploymentTruth(task.id, run.ordinal - first + 1, run, state, run.created,
                               run.finished if phase == "done" else None)

    def _task_state(self, app: DeployApp, task: DeployTask, at_ms: int) -> str:
        latest = self.latest(app, task, at_ms)
        return "not_executed" if latest is None else latest.state
