"""Typed records of CodeArts Pipeline payloads (a pipeline with its latest run, a run of the run list, the
stages of a run) and their tolerant parsers.

Run times are epoch milliseconds; the stage times of ``stage_status_list`` are zone-less strings
(``"2023-01-29 11:19:59"``), read in the configured zone. An end time that is 0, null or before the start
means "not finished".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timezone
from typing import Any

from exporter.assumptions import contradicted, dropped
from exporter.payload import RecordError, number_of, parse_timestamp, required_dict, text_of
from exporter.sources.pipeline.config import PipelineProject
from exporter.timebounds import span

# The latest run's status as exported (codearts_pipeline_last_run_status).
RUN_STATUSES: tuple[str, ...] = ("success", "failed", "canceled", "running", "paused", "skipped", "unknown")
# The statuses a finished run is counted under (codearts_pipeline_runs_total).
TERMINAL_STATUSES: tuple[str, ...] = ("success", "failed", "canceled", "skipped")
STAGE_STATUSES: tuple[str, ...] = ("success", "failed", "canceled", "running", "paused", "skipped", "pending",
                                   "unknown")
TRIGGERS: tuple[str, ...] = ("Manual", "Scheduler", "MR", "Push", "CreateTag", "Issue", "Note")
OTHER_TRIGGER = "other"

_RUN: dict[str, str] = {
    "COMPLETED": "success", "FAILED": "failed", "ASYNC_FAILED": "failed", "CANCELED": "canceled",
    "RUNNING": "running", "ASYNC_RUNNING": "running", "PAUSED": "paused", "SUSPEND": "paused",
    "IGNORED": "skipped",
}
_STAGE: dict[str, str] = {**_RUN, "SKIPPED": "skipped", "UNSELECTED": "skipped", "INIT": "pending",
                          "QUEUED": "pending", "REDISPATCH": "pending"}
_TRIGGERS = {trigger.lower(): trigger for trigger in TRIGGERS}
MAX_NAME = 256
MAX_STAGES = 200  # stages kept from one run, as jobs are from a run detail: bounded series for a huge pipeline


def run_status(value: object) -> str:
    """A run's status in the exported vocabulary (``unknown`` for anything unrecognised)."""
    return _status(value, _RUN, "run")


def stage_status(value: object) -> str:
    """A stage's status in the exported vocabulary."""
    return _status(value, _STAGE, "stage or job")


def _status(value: object, vocabulary: dict[str, str], what: str) -> str:
    text = text_of(value).strip().upper()
    status = vocabulary.get(text)
    if status is None:
        contradicted("status_vocabulary", f"{what} status {text[:32]!r} is not a published one")
        return "unknown"
    return status


def trigger_of(value: object) -> str:
    """A documented trigger type as CodeArts spells it, else ``other`` (a bounded label value)."""
    return _TRIGGERS.get(text_of(value).strip().lower(), OTHER_TRIGGER)


@dataclass(frozen=True, slots=True)
class StageRun:
    """One stage of a run as ``stage_status_list`` shows it; times in epoch seconds or None."""

    name: str
    sequence: int
    status: str
    start: float | None
    end: float | None

    @property
    def duration(self) -> float | None:
        """Seconds the stage ran, once it ended (None out of bounds: exporter.timebounds)."""
        return span(self.start, self.end)


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """One run of a pipeline (the latest run of a listing entry, or one of the run list).

    ``end`` is None until the run finished; ``branch`` is already the bounded label value of the run counters,
    ``ref`` the real branch (or other ref) the run built, for the latest run's one info series."""

    id: str
    number: int
    status: str
    raw_status: str
    trigger: str
    branch: str
    commit: str
    start: float | None
    end: float | None
    stages: tuple[StageRun, ...] = ()
    ref: str = ""
    repository: str = ""  # ``build_params.codehub_id``: the Repo repository of ``commit`` ("" if not given)

    @property
    def finished(self) -> bool:
        """True once the run is in a terminal status, or (an unknown status) has a valid end time."""
        return self.status in TERMINAL_STATUSES or (self.status == "unknown" and self.end is not None)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, once both are known and in bounds (exporter.timebounds)."""
        return span(self.start, self.end)


@dataclass(frozen=True, slots=True)
class JobRun:
    """One job of a finished run, from the run detail; times in epoch seconds or None."""

    stage: str
    name: str
    status: str
    start: float | None
    end: float | None
    queued: float | None  # from its stage's start to its own (waiting for an agent or its dependencies)

    @property
    def duration(self) -> float | None:
        """Seconds the job ran, once it ended (None out of bounds: exporter.timebounds)."""
        return span(self.start, self.end)


@dataclass(frozen=True, slots=True)
class RunDetail:
    """What ``GET .../pipeline-runs/detail`` tells of one run: its jobs, and the first failed job's message."""

    run_id: str
    jobs: tuple[JobRun, ...]
    failed_job: str = ""
    failed_message: str = ""  # for the log and the landing page, never a label
    paused: float = 0.0  # seconds the run spent paused (``pause_time``)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """One pipeline as ``POST /v5/{project_id}/api/pipelines/list`` lists it, with its latest run (None if it
    never ran) and, with the ``detail`` opt-in, that run's detail once it finished."""

    id: str
    name: str
    project_name: str
    group: str
    latest: PipelineRun | None
    detail: RunDetail | None = None
    detail_failures: int = 0  # reads of the latest run's detail that failed in a row
    detail_wait: int = 0  # polls left before its detail is asked for again (backoff after a failure)


def _end_after(start: float | None, end: float | None) -> float | None:
    """The end time if it says the thing finished: 0, null or before the start does not."""
    if end is None or (start is not None and end < start):
        return None
    return end


def distinct_names(names: list[str], what: str) -> list[str]:
    """``names`` made distinct by the documented rule: the first of a name keeps it, the later ones become
    ``name #2``, ``name #3``... in the order given (one series per label set: Prometheus keeps only one of
    two equal series, silently)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name} #{n}"
        seen.add(candidate)
        out.append(candidate)
    if out != names:
        repeated = next(name for name, given in zip(out, names, strict=True) if name != given)
        name = repeated.rsplit(" #", 1)[0].replace("\0", "/")[:60]
        contradicted("unique_stage_names", f"two {what} named {name!r}")
    return out


def _stages(raw: object, zone: timezone) -> tuple[StageRun, ...]:
    stages: list[StageRun] = []
    items = raw if isinstance(raw, list) else []
    dropped("over_cap", len(items) - MAX_STAGES)
    for item in items[:MAX_STAGES]:
        if not isinstance(item, dict):
            continue
        sequence = number_of(item.get("sequence"))
        start = parse_timestamp(item.get("start_time"), zone)
        stages.append(StageRun(
            name=text_of(item.get("name"))[:MAX_NAME] or text_of(item.get("id"))[:MAX_NAME] or "unnamed",
            sequence=int(sequence) if sequence is not None and 0 <= sequence < 1000 else len(stages),
            status=stage_status(item.get("status")),
            start=start,
            end=_end_after(start, parse_timestamp(item.get("end_time"), zone)),
        ))
    stages.sort(key=lambda stage: stage.sequence)
    names = distinct_names([stage.name for stage in stages], "stages of a run")
    return tuple(replace(stage, name=name) if name != stage.name else stage
                 for stage, name in zip(stages, names, strict=True))


def parse_run(raw: object, project: PipelineProject) -> PipelineRun:
    """A :class:`PipelineRun` from a ``latest_run`` or a ``pipeline_runs`` item."""
    record = required_dict(raw)
    number = number_of(record.get("run_number"))
    if number is None or number != int(number) or not 1 <= number <= 1e15:
        raise RecordError(f"run_number must be a positive integer, got {record.get('run_number')!r:.40}")
    params = record.get("build_params")
    params = params if isinstance(params, dict) else {}
    branch = text_of(params.get("target_branch")).strip() or text_of(params.get("source_branch")).strip()
    start = parse_timestamp(record.get("start_time"))
    stages = _stages(record.get("stage_status_list"), project.zone)
    _check_zone(start, stages)
    return PipelineRun(
        id=text_of(record.get("pipeline_run_id")).strip()[:64],
        number=int(number),
        status=run_status(record.get("status")),
        raw_status=text_of(record.get("status")).strip()[:32],
        trigger=trigger_of(record.get("trigger_type") or params.get("event_type")),
        branch=project.branch_label(branch),
        commit=text_of(params.get("commit_id")).strip()[:64],
        start=start,
        end=_end_after(start, parse_timestamp(record.get("end_time"))),
        stages=stages,
        ref=branch[:MAX_NAME],
        repository=text_of(params.get("codehub_id")).strip()[:32],
    )


def _check_zone(start: float | None, stages: tuple[StageRun, ...]) -> None:
    """The first stage starts with its run: its zone-less time read in the project's zone lands within minutes of
    the run's epoch start, unless the zone is wrong (then by whole quarter hours, an hour or more off)."""
    first = stages[0].start if stages else None
    if start is None or first is None:
        return
    off = first - start
    if abs(off) >= 3600 - 120 and abs(off - round(off / 900) * 900) <= 120:
        contradicted("stage_time_zone", f"the first stage starts {off / 3600:+.2f} h from its run: the stage times' "
                                        "zone is not the configured one (pipeline_options.stage_time_zone)")


def parse_pipeline(raw: object, project: PipelineProject) -> Pipeline:
    """A :class:`Pipeline` from one item of ``pipelines`` (its latest run parsed too, or None if it has none)."""
    record = required_dict(raw)
    pipeline_id = text_of(record.get("pipeline_id")).strip()
    if not pipeline_id or len(pipeline_id) > 64:
        raise RecordError(f"pipeline_id must be a non-empty string, got {record.get('pipeline_id')!r:.40}")
    latest = record.get("latest_run")
    return Pipeline(
        id=pipeline_id,
        name=text_of(record.get("name"))[:MAX_NAME] or pipeline_id,
        project_name=text_of(record.get("project_name"))[:MAX_NAME],
        group=text_of(record.get("group_name") or record.get("group_path_name"))[:MAX_NAME],
        latest=parse_run(latest, project) if isinstance(latest, dict) and latest.get("run_number") else None,
    )


def paging_item(item: Any) -> Any:
    """A listing item as the paging walk reads it: its ``pipeline_id`` (or ``pipeline_run_id``) as ``id``, so
    that a page seen twice under a wrong reading of ``offset`` is recognised."""
    if isinstance(item, dict) and "id" not in item:
        key = item.get("pipeline_run_id") or item.get("pipeline_id")
        if isinstance(key, str) and key:
            return {**item, "id": key}
    return item


MAX_JOBS = 200  # jobs kept from one run detail: bounded label values even for a huge pipeline
MAX_MESSAGE = 500


def parse_detail(raw: object) -> RunDetail:
    """A :class:`RunDetail` from a ``ShowPipelineRunDetail`` body (times in epoch ms)."""
    record = required_dict(raw)
    jobs: list[JobRun] = []
    over = 0
    failed_job = failed_message = ""
    stages = record.get("stages")
    for stage in stages if isinstance(stages, list) else []:
        if not isinstance(stage, dict):
            continue
        stage_name = text_of(stage.get("name"))[:MAX_NAME] or "unnamed"
        stage_start = parse_timestamp(stage.get("start_time"))
        stage_jobs = stage.get("jobs")
        for job in stage_jobs if isinstance(stage_jobs, list) else []:
            if not isinstance(job, dict):
                continue
            if len(jobs) >= MAX_JOBS:
                over += 1
                continue
            start = parse_timestamp(job.get("start_time"))
            status = stage_status(job.get("status"))
            queued = start - stage_start if start is not None and stage_start is not None else None
            jobs.append(JobRun(stage_name, text_of(job.get("name"))[:MAX_NAME] or "unnamed", status, start,
                               _end_after(start, parse_timestamp(job.get("end_time"))),
                               queued if queued is not None and queued >= 0 else None))
            if status == "failed" and not failed_job:
                failed_job = f"{stage_name}/{jobs[-1].name}"
                failed_message = " ".join(text_of(job.get("message")).split())[:MAX_MESSAGE]
    dropped("over_cap", over)
    keys = distinct_names([f"{job.stage}\0{job.name}" for job in jobs], "jobs of a stage")
    jobs = [job if key == f"{job.stage}\0{job.name}" else replace(job, name=key.split("\0", 1)[1])
            for job, key in zip(jobs, keys, strict=True)]
    pause_ms = number_of(record.get("pause_time"))
    paused = pause_ms / 1000.0 if pause_ms is not None and pause_ms > 0 else 0.0
    return RunDetail(text_of(record.get("id")).strip()[:64], tuple(jobs), failed_job, failed_message, paused)
