"""Typed records of CodeArts Deploy payloads (an application with its last deployment, a record of a
deployment task's history) and their tolerant parsers.

Every time is a zone-less ``yyyy-MM-dd HH:mm:ss`` string, sometimes with a fraction (``.0``), read in the
project's configured zone. An end time that is empty, missing or before the start means "not finished".
Durations are ``HH:mm:ss`` strings whose hours may pass 24 (``"27:14:09"``), or ``"1 day 03:14:09"``; they
are used only when a start or end time is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from exporter.assumptions import contradicted
from exporter.payload import RecordError, number_of, parse_timestamp, required_dict, text_of
from exporter.sources.deploy.config import DeployProject

# An application's last deployment as exported (codearts_deploy_app_last_status); never: not deployed yet.
NEVER = "never"
LAST_STATUSES: tuple[str, ...] = ("success", "failed", "timedout", "aborted", "canceled", "running", "pending",
                                  NEVER, "unknown")
# The statuses a finished deployment is counted under (codearts_deploy_runs_total).
TERMINAL_STATUSES: tuple[str, ...] = ("success", "failed", "timedout", "aborted", "canceled")
# Deploy's own words (the ``states`` filter of ListAllApp; codearts-deploy-dora-tests-api.md §1.6).
_STATES: dict[str, str] = {
    "succeeded": "success", "failed": "failed", "timeout": "timedout", "abort": "aborted",
    "not_started": "canceled", "running": "running", "pending": "pending", "not_executed": NEVER,
    "draft": NEVER,  # a task never deployed, as ShowAppDetailById's example shows it ("Draft", release_id 0)
}
_DURATION = re.compile(r"(?:(\d{1,5})\s*days?,?\s+)?(\d{1,7}):(\d{1,2}):(\d{1,2})(?:\.\d+)?")
MAX_NAME = 256
MAX_ID = 64


def deploy_status(value: object) -> str:
    """A Deploy state word in the exported vocabulary (``unknown`` for anything unrecognised, which contradicts
    the ``status_vocabulary`` assumption: named, with the word, once per target)."""
    text = text_of(value).strip().lower()
    status = _STATES.get(text)
    if status is None:
        contradicted("status_vocabulary", f"deployment state {text[:32]!r} is not a published one")
        return "unknown"
    return status


def parse_duration(value: object) -> float | None:
    """Seconds from ``HH:mm:ss`` (hours past 24 allowed) or ``D day(s) HH:mm:ss``; None if unreadable."""
    match = _DURATION.fullmatch(text_of(value).strip())
    if match is None or int(match[3]) >= 60 or int(match[4]) >= 60:
        return None
    return float(int(match[1] or 0) * 86_400 + int(match[2]) * 3600 + int(match[3]) * 60 + int(match[4]))


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deployment: an application's last one (from the application list) or a record of a task's history.

    Times are epoch seconds; ``end`` is None until it finished; ``reported`` is the API's own duration."""

    release_id: int | None  # the record's sequence number within its task
    execution_id: str
    status: str
    raw_state: str
    start: float | None
    end: float | None
    reported: float | None = None
    kind: str = ""  # the history's ``type`` (``install`` in the example; no vocabulary is published)

    @property
    def key(self) -> str:
        """Its identity within its task: the ``release_id``, else (missing) the ``execution_id``."""
        return str(self.release_id) if self.release_id is not None else f"execution:{self.execution_id}"

    @property
    def number(self) -> int:
        """Its ``release_id`` (0 when it has none), the number the run history counts by."""
        return self.release_id or 0

    @property
    def finished(self) -> bool:
        """True once in a terminal state, or (a state nobody knows) with a valid end time."""
        return self.status in TERMINAL_STATUSES or (self.status == "unknown" and self.end is not None)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end once both are known, else the duration Deploy reported for a finished one."""
        if self.start is not None and self.end is not None:
            return self.end - self.start
        return self.reported if self.finished else None


@dataclass(frozen=True, slots=True)
class FinishedDeployment:
    """A finished deployment as the run history counts it, once: the record deployment-based delivery metrics
    (DORA, issue 22) build on. Times in epoch seconds (None where Deploy gave none)."""

    project_id: str
    app_id: str
    app: str
    task_id: str
    release_id: int
    execution_id: str
    status: str  # one of TERMINAL_STATUSES
    start: float | None
    end: float | None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, once both are known."""
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass(frozen=True, slots=True)
class DeployTask:
    """One deployment task of an application (``arrange_infos[]``): its id, the state word of its latest
    deployment and that deployment's ``release_id`` (None where the listing does not give it)."""

    id: str
    state: str
    release_id: int | None = None

    @property
    def status(self) -> str:
        """Its latest deployment's exported status."""
        return deploy_status(self.state)


@dataclass(frozen=True, slots=True)
class Application:
    """One application as ``POST /v1/applications/list`` lists it: its deployment tasks and its last deployment
    (None: never deployed)."""

    id: str
    name: str
    deploy_system: str
    disabled: bool
    tasks: tuple[DeployTask, ...]  # ``arrange_infos[]``: the ids the history API takes
    last: Deployment | None

    @property
    def status(self) -> str:
        """The exported status of its last deployment (``never`` when there is none)."""
        return self.last.status if self.last is not None else NEVER

    @property
    def marker(self) -> tuple[Any, ...]:
        """What changes in the listing when the application deploys: ``(release_id, execution_state)``."""
        return (None, NEVER) if self.last is None else (self.last.release_id, self.last.raw_state)

    @property
    def task_releases_known(self) -> bool:
        """True if each task's latest ``release_id`` is known (a single task's is the application's)."""
        return all(task.release_id is not None for task in self.tasks) or self.last is None


def _release_id(value: object, lowest: int = 1) -> int | None:
    number = number_of(value)
    return int(number) if number is not None and number == int(number) and lowest <= number < 2**63 else None


def _end_after(start: float | None, end: float | None) -> float | None:
    """The end time if it says the deployment finished: empty, missing or before the start does not."""
    return None if end is None or (start is not None and end < start) else end


def _deployment(release_id: object, execution_id: object, state: object, start: object, end: object,
                duration: object, zone: timezone, kind: object = "") -> Deployment:
    started = parse_timestamp(start, zone)
    return Deployment(
        release_id=_release_id(release_id),
        execution_id=text_of(execution_id).strip()[:MAX_ID],
        status=deploy_status(state),
        raw_state=text_of(state).strip()[:32],
        start=started,
        end=_end_after(started, parse_timestamp(end, zone)),
        reported=parse_duration(duration),
        kind=text_of(kind).strip()[:32],
    )


def parse_application(raw: object, project: DeployProject) -> Application:
    """An :class:`Application` from one ``result`` item of the application list."""
    record = required_dict(raw)
    app_id = text_of(record.get("id")).strip()
    if not app_id or len(app_id) > MAX_ID:
        raise RecordError(f"id must be a non-empty string, got {record.get('id')!r:.40}")
    raw_tasks = record.get("arrange_infos")
    items = [task for task in (raw_tasks if isinstance(raw_tasks, list) else ()) if isinstance(task, dict)]
    # The published example gives deploy_system only per task, the schema also per application.
    system = record.get("deploy_system") or next((task.get("deploy_system") for task in items), "")
    last = _deployment(record.get("release_id"), "", record.get("execution_state"), record.get("execution_time"),
                       record.get("end_time"), record.get("duration"), project.zone)
    deployed = last.status != NEVER and (last.raw_state or last.release_id is not None)
    tasks = parse_tasks(items)
    if len(tasks) == 1 and deployed:  # the application's last deployment is its one task's
        tasks = (DeployTask(tasks[0].id, last.raw_state, last.release_id),)
    return Application(
        id=app_id,
        name=text_of(record.get("name"))[:MAX_NAME] or app_id,
        deploy_system=text_of(system).strip()[:32],
        disabled=record.get("is_disable") is True,
        tasks=tasks,
        last=last if deployed else None,
    )


def parse_tasks(items: list[Any]) -> tuple[DeployTask, ...]:
    """The tasks of ``arrange_infos`` (each id once), with the ``release_id`` where an item carries one
    (ShowAppDetailById's do, 0 for a task never deployed; ListAllApp's, by the schema, do not)."""
    tasks: dict[str, DeployTask] = {}
    for item in items:
        task_id = text_of(item.get("id")).strip()[:MAX_ID] if isinstance(item, dict) else ""
        if task_id and task_id not in tasks:
            tasks[task_id] = DeployTask(task_id, text_of(item.get("state")).strip()[:32],
                                        _release_id(item.get("release_id"), lowest=0))
    return tuple(tasks.values())


def parse_detail_tasks(raw: object) -> tuple[DeployTask, ...]:
    """The tasks of a ``GET /v1/applications/{app_id}/info`` body, each with its latest ``release_id``."""
    result = required_dict(required_dict(raw).get("result"))
    items = result.get("arrange_infos")
    return parse_tasks(items if isinstance(items, list) else [])


def parse_record(raw: object, zone: timezone) -> Deployment:
    """A :class:`Deployment` from one ``result`` item of a task's history. It needs a ``release_id``: the run
    history counts a task's deployments by that number (every published example and the schema carry it);
    one without is malformed."""
    record = required_dict(raw)
    deployment = _deployment(record.get("release_id"), record.get("execution_id"), record.get("state"),
                             record.get("start_time"), record.get("end_time"), record.get("duration"), zone,
                             record.get("type"))
    if deployment.release_id is None:
        raise RecordError(f"release_id must be a positive integer, got {record.get('release_id')!r:.40}")
    return deployment
