"""The simulated CodeArts Pipeline service (API v5): projects of pipelines whose runs progress over time.

Pure data, no I/O; a pipeline's state is a pure function of (seed, project id, its index, the moment asked
about), as for the other simulated APIs (see :mod:`exporter.simulator.cycle` for the run timeline).

Rules:

- Pipeline ``index`` of a project: id ``hex_id("codearts-sim/cloud-pipeline", project, index)``, name
  ``<component>-pipeline-<index>``; ``index % 8 == 3`` has a manual gate (its runs pause: ``PAUSED``, or
  ``SUSPEND`` for odd run numbers, through the middle third of their running time), ``== 5`` is flaky,
  ``index % 16 == 14`` never ran (no ``latest_run``). Listed oldest first (by creation, then id).
- A run is ``RUNNING`` from its creation (``start_time``) until it finishes, then ``COMPLETED``, ``FAILED``
  (failed or timed out), ``CANCELED`` or ``IGNORED`` (skipped); ``run_number`` counts runs from the first one
  created at or after ORIGIN_MS. ``end_time`` of an unfinished run is ``0`` for even run numbers and ``null``
  for odd ones (the docs do not say which).
- Three stages (Build, Test, Deploy) share the running time after the queue: a failed or canceled run stops
  in stage ``draw % 3`` and later stages stay ``INIT``; a skipped run's stages are ``SKIPPED``. Stage times
  are zone-less ``yyyy-MM-dd HH:mm:ss`` strings in +08:00, to the second; run times are epoch ms.
- ``offset`` in a request body counts items (``paging="item"``) or pages from 0 (``paging="page"``).
- ``legacy`` projects hold old-version pipelines: listed only with ``query_new: false``, their runs only by
  ``list-legacy`` (``list`` answers ``DEVCP.00012002`` in an HTTP 200); other projects' pipelines are
  new-version ones, listed only with ``query_new`` true (the default).
- Each pipeline deploys from its own Repo repository (:func:`repository_of`): a run's ``build_params`` carry
  ``codehub_id`` and the ``commit_id`` of :func:`exporter.simulator.commits.head_commit`, whose time the Repo
  ShowCommit route gives. Bad input on purpose: ``index % 8 == 6`` sends no ``commit_id``, ``index % 16 == 13``
  a ``codehub_id`` that is not the commit's repository (ShowCommit answers 404).
- ``denied`` project ids answer HTTP 200 with ``DEVCP.00014031``; ``overrides`` (pipeline id -> fields) are laid
  over that pipeline's ``latest_run``, to show bad input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.simulator.commits import head_commit
from exporter.simulator.cycle import PIPELINE_TABLES, Cycle, Run, hex_id, key64
from exporter.simulator.names import project_name
from exporter.simulator.records import TZ_OFFSET_MS, hex_of

PIPELINE_PAGING_MODES: tuple[str, ...] = ("item", "page")
ORIGIN_MS = 1_700_000_000_000
STAGE_NAMES: tuple[str, ...] = ("Build", "Test", "Deploy")
COMPONENTS = ("backend", "frontend", "gateway", "billing", "auth", "search", "mobile", "docs")
BRANCHES = ("master", "main", "develop", "release/2.3", "feature/login")
TRIGGERS = ("Manual", "Scheduler", "MR", "Push")
OUTCOMES = {"success": "COMPLETED", "failed": "FAILED", "timedout": "FAILED", "canceled": "CANCELED",
            "skipped": "IGNORED"}
HISTORY_WINDOW_MS = 7 * 86_400_000


def pipeline_kind(index: int) -> str:
    """What the ``index``-th pipeline of a project is: never run, gated (pauses), flaky or normal."""
    if index % 16 == 14:
        return "none"
    return {3: "gate", 5: "flaky"}.get(index % 8, "normal")


def repository_of(pipeline_id: str) -> int:
    """The Repo repository id a pipeline builds and deploys from."""
    return 100_000 + int(pipeline_id[:5], 16)


def commit_params(pipeline: CloudPipeline, run: Run) -> dict[str, str]:
    """A run's ``commit_id`` and ``codehub_id`` (see the module docstring for the bad ones)."""
    repository = repository_of(pipeline.id)
    if pipeline.index % 8 == 6:
        return {"commit_id": "", "codehub_id": str(repository)}
    sha = head_commit(repository, run.created, run.draw).sha
    return {"commit_id": sha, "codehub_id": str(repository + (pipeline.index % 16 == 13))}


def local_time(ms: int) -> str:
    """``2023-01-29 11:19:59``: epoch ms as the Pipeline API writes stage times (+08:00, no zone)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((ms + TZ_OFFSET_MS) // 1000))


@dataclass(frozen=True, slots=True)
class StageTruth:
    """One stage of a run as the simulator shows it; times in epoch ms (None: not started or not ended)."""

    name: str
    status: str
    start: int | None
    end: int | None


@dataclass(frozen=True, slots=True)
class JobTruth:
    """One job of a stage (run detail only): two per stage, the first waiting JOB_WAIT_MS after its stage
    starts, the second starting when the first ends and ending with the stage, showing its outcome."""

    name: str
    status: str
    start: int | None
    end: int | None
    message: str = ""


JOB_WAIT_MS = 2_000
FAILED_MESSAGE = "Step 'run tests' exited with code 1"


def stage_jobs(stage: StageTruth) -> tuple[JobTruth, ...]:
    """The jobs of a stage as the run detail shows them."""
    first, second = f"{stage.name.lower()}-prepare", f"{stage.name.lower()}-main"
    if stage.start is None:
        return JobTruth(first, stage.status, None, None), JobTruth(second, stage.status, None, None)
    begin = stage.start + JOB_WAIT_MS
    if stage.end is None:
        return JobTruth(first, "RUNNING", begin, None), JobTruth(second, "INIT", None, None)
    middle = begin + max(0, stage.end - begin) // 2
    message = FAILED_MESSAGE if stage.status == "FAILED" else ""
    return (JobTruth(first, "COMPLETED", begin, middle),
            JobTruth(second, stage.status, middle, stage.end, message))


@dataclass(frozen=True, slots=True)
class RunTruth:
    """One run of a pipeline at a moment: the CodeArts status, epoch-ms times, stages."""

    number: int
    run: Run
    status: str
    start: int
    end: int | None
    stages: tuple[StageTruth, ...]
    branch: str
    trigger: str


@dataclass(frozen=True, slots=True)
class CloudPipeline:
    """A pipeline: static fields and its cycle (None: never ran)."""

    project_id: str
    index: int
    id: str
    name: str
    created: int
    cycle: Cycle | None
    first_index: int
    gated: bool


@dataclass(slots=True)
class PipelineService:
    """The pipelines of every simulated project, and the quirks the tests switch on."""

    seed: int = 0
    projects: Mapping[str, int] = field(default_factory=dict)
    paging: str = "item"
    history_window_ms: int = HISTORY_WINDOW_MS
    denied: set[str] = field(default_factory=set)
    legacy: set[str] = field(default_factory=set)  # projects whose pipelines are old-version ones
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # project id -> how many times faster its pipelines run (the demo's DORA project deploys every minute or so)
    speedup: Mapping[str, int] = field(default_factory=dict)
    _pipelines: dict[str, tuple[CloudPipeline, ...]] = field(default_factory=dict)
    _by_id: dict[str, CloudPipeline] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.paging not in PIPELINE_PAGING_MODES:
            raise ValueError(f"pipeline paging must be one of {PIPELINE_PAGING_MODES}, got {self.paging!r}")
        for project_id, size in self.projects.items():
            pipelines = tuple(self._plan(project_id, index) for index in range(size))
            self._pipelines[project_id] = pipelines
            self._by_id.update((pipeline.id, pipeline) for pipeline in pipelines)

    def _plan(self, project_id: str, index: int) -> CloudPipeline:
        pipeline_id = hex_id("codearts-sim/cloud-pipeline", project_id, index)
        kind = pipeline_kind(index)
        cycle = None if kind == "none" else Cycle.derive(
            key64("codearts-sim/cloud-pipeline-cycle", self.seed, pipeline_id),
            PIPELINE_TABLES["flaky" if kind == "flaky" else "normal"])
        factor = self.speedup.get(project_id, 1)
        if cycle is not None and factor > 1:
            cycle = replace(cycle, period=cycle.period // factor, phase=cycle.phase // factor,
                            queue=max(1000, cycle.queue // factor), run=cycle.run // factor)
        name = f"{COMPONENTS[index % len(COMPONENTS)]}-pipeline-{index}"
        first = cycle.first_index_from(ORIGIN_MS) if cycle is not None else 0
        return CloudPipeline(project_id, index, pipeline_id, name, ORIGIN_MS - 86_400_000 + index * 1000, cycle,
                             first, kind == "gate")

    # -- what the routes read ------------------------------------------------------------------------

    def start(self, offset: int, limit: int) -> int:
        """The first item index an ``offset`` designates under the paging mode."""
        return offset if self.paging == "item" else offset * limit

    def pipelines(self, project_id: str, query_new: bool | None = None) -> tuple[CloudPipeline, ...] | None:
        """A project's pipelines, oldest first (``query_new``: only new-version ones, or only old-version ones
        when False; None: all); None if the project is unknown."""
        pipelines = self._pipelines.get(project_id)
        if pipelines is None or query_new is None:
            return pipelines
        return pipelines if (project_id in self.legacy) != query_new else ()

    def pipeline(self, project_id: str, pipeline_id: str) -> CloudPipeline | None:
        """One pipeline of a project; None if unknown."""
        found = self._by_id.get(pipeline_id)
        return found if found is not None and found.project_id == project_id else None

    def list_item(self, pipeline: CloudPipeline, at_ms: int) -> dict[str, Any]:
        """The ``pipelines[]`` item of a pipeline at ``at_ms``."""
        truth = self.latest(pipeline, at_ms)
        latest = None
        if truth is not None:
            latest = self.run_payload(pipeline, truth) | self.overrides.get(pipeline.id, {})
        return {"pipeline_id": pipeline.id, "name": pipeline.name, "project_id": pipeline.project_id,
                "project_name": project_name(pipeline.project_id), "component_id": "", "is_publish": False,
                "is_collect": False, "manifest_version": "2.0" if pipeline.project_id in self.legacy else "3.0",
                "create_time": pipeline.created, "latest_run": latest, "convert_sign": 0, "security_level": 0}

    def runs(self, pipeline: CloudPipeline, at_ms: int) -> list[RunTruth]:
        """Every run created by ``at_ms`` within the history window, newest first."""
        cycle = pipeline.cycle
        if cycle is None:
            return []
        newest = cycle.index_at(at_ms)
        oldest = max(pipeline.first_index, cycle.first_index_from(at_ms - self.history_window_ms))
        return [self.truth(pipeline, cycle.run_at(index), at_ms) for index in range(newest, oldest - 1, -1)]

    # -- ground truth ----------------------------------------------------------------------------------

    def latest(self, pipeline: CloudPipeline, at_ms: int) -> RunTruth | None:
        """The latest run of a pipeline at ``at_ms`` (None: it never ran)."""
        cycle = pipeline.cycle
        if cycle is None or cycle.index_at(at_ms) < pipeline.first_index:
            return None
        return self.truth(pipeline, cycle.latest(at_ms), at_ms)

    def finished_runs(self, project_id: str, after_ms: int, until_ms: int) -> list[tuple[CloudPipeline, RunTruth]]:
        """Every run of a project's pipelines that finished in (``after_ms``, ``until_ms``], oldest first."""
        found = []
        for pipeline in self._pipelines.get(project_id, ()):
            cycle = pipeline.cycle
            if cycle is None:
                continue
            index = max(pipeline.first_index, cycle.index_at(after_ms) - 1)
            while index <= cycle.index_at(until_ms):
                run = cycle.run_at(index)
                if after_ms < run.finished <= until_ms:
                    found.append((pipeline, self.truth(pipeline, run, until_ms)))
                index += 1
        return found

    def truth(self, pipeline: CloudPipeline, run: Run, at_ms: int) -> RunTruth:
        """Run ``run`` of ``pipeline`` as it stands at ``at_ms``."""
        number = run.ordinal - pipeline.first_index + 1
        done = at_ms >= run.finished
        if done:
            status = OUTCOMES[run.outcome]
        elif pipeline.gated and self._paused(run, at_ms):
            status = "SUSPEND" if number % 2 else "PAUSED"
        else:
            status = "RUNNING"
        return RunTruth(number, run, status, run.created, run.finished if done else None,
                        self._stages(pipeline, run, at_ms, status), BRANCHES[(run.draw >> 8) % len(BRANCHES)],
                        TRIGGERS[(run.draw >> 16) % len(TRIGGERS)])

    @staticmethod
    def pause_ms(pipeline: CloudPipeline, truth: RunTruth, at_ms: int) -> int:
        """Milliseconds a run of a gated pipeline has spent paused by ``at_ms`` (the run detail's
        ``pause_time``; the listings do not give it)."""
        third = (truth.run.finished - truth.run.started) // 3
        if not pipeline.gated or third <= 0:
            return 0
        return max(0, min(at_ms, truth.run.started + 2 * third) - (truth.run.started + third))

    @staticmethod
    def _paused(run: Run, at_ms: int) -> bool:
        third = (run.finished - run.started) // 3
        return third > 0 and run.started + third <= at_ms < run.started + 2 * third

    def _stages(self, pipeline: CloudPipeline, run: Run, at_ms: int, status: str) -> tuple[StageTruth, ...]:
        if run.outcome == "skipped":
            return tuple(StageTruth(name, "SKIPPED" if at_ms >= run.finished else "INIT", None, None)
                         for name in STAGE_NAMES)
        last = len(STAGE_NAMES) - 1 if run.outcome == "success" else run.draw % len(STAGE_NAMES)
        span = run.finished - run.started
        bounds = [run.started + span * k // (last + 1) for k in range(last + 2)]
        stages = []
        for k, name in enumerate(STAGE_NAMES):
            if k > last or at_ms < bounds[k]:
                stages.append(StageTruth(name, "INIT", None, None))
            elif at_ms >= bounds[k + 1]:
                ended = "COMPLETED" if k < last or run.outcome == "success" else OUTCOMES[run.outcome]
                stages.append(StageTruth(name, ended, bounds[k], bounds[k + 1]))
            else:
                stages.append(StageTruth(name, status, bounds[k], None))
        return tuple(stages)

    # -- payloads --------------------------------------------------------------------------------------

    @staticmethod
    def run_id(truth: RunTruth) -> str:
        """A run's ``pipeline_run_id``."""
        return hex_of(truth.run.draw, 32, salt=7)

    def run_payload(self, pipeline: CloudPipeline, truth: RunTruth) -> dict[str, Any]:
        """A ``latest_run`` / ``pipeline_runs[]`` item."""
        run = truth.run
        run_id = self.run_id(truth)
        stages = [{"id": hex_of(run.draw, 32, salt=10 + k), "name": stage.name, "sequence": k,
                   "status": stage.status,
                   "start_time": local_time(stage.start) if stage.start is not None else "",
                   "end_time": local_time(stage.end) if stage.end is not None else ""}
                  for k, stage in enumerate(truth.stages)]
        end: int | None = truth.end if truth.end is not None else (0 if truth.number % 2 == 0 else None)
        return {
            "pipeline_id": pipeline.id, "pipeline_run_id": run_id, "executor_id": "", "executor_name": "devops-bot",
            "status": truth.status, "run_number": truth.number, "trigger_type": truth.trigger,
            "start_time": truth.start, "end_time": end,
            "build_params": {"action": "", "build_type": "branch", "event_type": truth.trigger, "merge_id": "",
                             "message": "sim commit", "source_branch": truth.branch, "tag": "",
                             "target_branch": truth.branch, "git_url": ""} | commit_params(pipeline, run),
            "artifact_params": {}, "stage_status_list": stages, "modify_url": "",
            "detail_url": f"https://devcloud.example.com/cicd/project/{pipeline.project_id}/pipeline/{pipeline.id}",
        }

