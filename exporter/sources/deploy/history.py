"""Deploy run history: every finished deployment counted exactly once, from each task's history.

The numbered-run skeleton (:mod:`exporter.runhistory.numbered`) does the counting; a job here is a deployment
*task* (the history API takes a task id, and ``release_id`` numbers the deployments of one task), counted
under its application's labels. This part says what the application list tells of a task (its latest
``release_id`` and state; for an application of several tasks, as the application's detail gave them) and how
a task's records are fetched: ``GET /v2/{project_id}/task/{task_id}/history``, 1-based pages, newest first,
within a date window of at most 30 days.

The window ends a day after the start date of the newest deployment the application list shows (a day of slack
for zone skew) and spans 29 days: every deployment the listing implies lies inside it, however long the exporter
was down, back to 28 days; older ones are counted as gone (``not_listed``). A task whose ``release_id`` went
back below its mark (the application was re-created) is handled by the skeleton: its deployments are fetched and
counted again from #1, and the ``run_numbers_grow`` assumption names it. A deployment up to the newest finished
one the list shows that the history does not return (outside the window, or a window that answers nothing) is
counted as gone, and the task waits for its listing entry to change: it is never asked for again every cycle.

First sight sets the mark to the latest finished deployment without back-filling; marks persist in the
state file under ``deploy_marks`` (task id -> [high, counted above it, listing marker]).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter.runhistory.counts import RunKind
from exporter.runhistory.numbered import Listed, NumberedHistory, Pending, RunPage
from exporter.snapshot import Target
from exporter.sources.deploy.config import DeployProject
from exporter.sources.deploy.fetch import HISTORY_API, history_dates, history_page
from exporter.sources.deploy.models import (
    TERMINAL_STATUSES,
    Application,
    Deployment,
    DeployTask,
    FinishedDeployment,
)
from exporter.sources.deploy.targets import API

log = logging.getLogger(__name__)

KIND = RunKind(API, "deploy", TERMINAL_STATUSES, label_count=3)
MARKS = "deploy_marks"
WINDOW_DAYS = 28  # days back from the newest deployment's date (plus one ahead): a span of 29, at most 30


@dataclass(frozen=True, slots=True)
class TaskJob:
    """A deployment task as the history fetches it: its project, its id, and where its window ends."""

    project: DeployProject
    task_id: str
    newest_start: float | None  # the start of the newest deployment the listing shows (None: unknown)


class DeployHistory(NumberedHistory[TaskJob, Deployment]):
    """Counts the finished deployments of every task of every watched application, each exactly once."""

    kind = KIND
    marks_key = MARKS
    noun = "deployment task"
    skip_api = HISTORY_API
    log = log
    unlisted_are_gone = True  # the history answers a date window: what it does not list is gone, not late

    def listed(self, target: Target, records: Iterable[Any]) -> Iterator[Listed[TaskJob]]:
        """Each task of each application, with its latest ``release_id`` where known (an application of several
        tasks whose detail was not read yet is left for a later poll)."""
        project = target.options if isinstance(target.options, DeployProject) else DeployProject(target.key)
        for app in records:
            labels = (project.id, app.id, app.name)
            newest = app.last.start if app.last is not None else None
            for task in app.tasks:
                listed = _listed(project, app, task, labels, newest)
                if listed is not None:
                    yield listed

    def fetch_page(self, entry: Pending[TaskJob], index: int, limit: int,
                   lowest: int | None) -> RunPage[Deployment]:
        """Page ``index`` (from 0) of ``limit`` records of the task, newest first, in the window."""
        job = entry.job
        moment = job.newest_start if job.newest_start is not None else time.time()
        dates = history_dates(datetime.fromtimestamp(moment, job.project.zone).date(), WINDOW_DAYS)
        page = history_page(self.client, job.project, job.task_id, index + 1, limit, dates)
        return RunPage(page.records, page.size, page.total)

    @staticmethod
    def finished_deployment(entry: Pending[TaskJob], run: Deployment) -> FinishedDeployment:
        """The record of a deployment the skeleton counts (``_count``: once, under the counts' lock)."""
        project_id, app_id, app = entry.labels
        return FinishedDeployment(project_id, app_id, app, entry.job.task_id, run.number, run.execution_id,
                                  run.status, run.start, run.end)


def _listed(project: DeployProject, app: Application, task: DeployTask, labels: tuple[str, ...],
            newest: float | None) -> Listed[TaskJob] | None:
    """What the listing tells of one task; None when its latest release is not known yet."""
    job = TaskJob(project, task.id, newest)
    if app.last is None or task.release_id == 0:  # never deployed: its first deployments are counted
        return Listed(task.id, labels, job, None, False, None, labels)
    if task.release_id is None:
        return None
    # One task: the application's last deployment is its; several: only each task's state word is known.
    running = not app.last.finished if len(app.tasks) == 1 else task.status not in TERMINAL_STATUSES
    return Listed(task.id, labels, job, task.release_id, running, (task.release_id, task.state), labels)
