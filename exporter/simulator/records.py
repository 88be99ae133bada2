"""Job specifications and the API dicts they turn into at a given moment.

A spec holds what never changes about a job (ids, names, its :class:`Cycle`); ``*_record(spec, at_ms)``
lays the run that is current at ``at_ms`` over a copy of the spec's static fields, in exactly the
shape the CodeArts API returns. ``v1_record`` and ``v3_record`` shape one run of a Build job as its
run history lists it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from exporter.simulator.cycle import Cycle, Run, hex_id

TZ_OFFSET_MS = 8 * 3600 * 1000  # CodeArts reports times in China Standard Time (+08:00)
DAY_MS = 86_400_000
HEALTH_WINDOW = 5

BUILD_COLOURS = {"success": "blue", "failed": "red", "timedout": "timeout", "canceled": "aborted"}
# Documented Build trigger types, each with a weight out of 10.
TRIGGERS: tuple[tuple[str, int], ...] = (
    ("CODEHUB_TRIGGER", 5), ("PIPELINE_TRIGGER", 2), ("TIMED_EXECUTION", 2), ("MANUAL", 1),
)
USERS: tuple[str, ...] = ("alice", "bob", "chen.wei", "devops-bot")
USER_IDS: dict[str, str] = {user: hex_id("codearts-sim/user", user) for user in USERS}


FOREVER = 1 << 62  # an epoch-ms bound no clock reaches


@dataclass(slots=True, eq=False)
class BuildSpec:
    """A CodeArts Build job: static fields, its cycle (None: never run) and, if disabled, when time stopped."""

    template: dict[str, Any]
    cycle: Cycle | None
    first_index: int  # the run index that got build number 1
    frozen_at: int | None  # epoch ms; a disabled job shows what it showed then
    memo: tuple[int, int, dict[str, Any]] | None = None  # (from, until, record): the last answer and its validity


@dataclass(slots=True, eq=False)
class PipelineJobSpec:
    """A CodeArts Repo pipeline job: static fields and its cycle."""

    template: dict[str, Any]
    cycle: Cycle
    url_prefix: str
    memo: tuple[int, int, dict[str, Any]] | None = None


Spec = BuildSpec | PipelineJobSpec


def record_at(spec: Spec, at_ms: int) -> dict[str, Any]:
    """The API dict of a job at ``at_ms`` (a fresh copy), memoised while the job's state does not change."""
    memo = spec.memo
    if memo is None or not memo[0] <= at_ms < memo[1]:
        # A record is a pure function of (spec, at_ms), so a racing thread can only store an equal memo.
        record, valid_from, valid_until = (
            build_record(spec, at_ms) if isinstance(spec, BuildSpec) else pipeline_record(spec, at_ms)
        )
        memo = spec.memo = (valid_from, valid_until, record)
    return dict(memo[2])


_DATES: dict[int, str] = {}


def _date(local_seconds: int) -> str:
    """``YYYY-MM-DD`` of a local epoch second (cached per day: strftime is slow)."""
    day = local_seconds // 86_400
    text = _DATES.get(day)
    if text is None:
        if len(_DATES) > 4096:
            _DATES.clear()
        text = _DATES[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    return text


def iso_time(ms: int) -> str:
    """``2025-05-17T11:02:25.000+08:00`` for epoch milliseconds."""
    local = ms + TZ_OFFSET_MS
    seconds = local // 1000
    of_day = seconds % 86_400
    return (f"{_date(seconds)}T{of_day // 3600:02d}:{of_day // 60 % 60:02d}:{of_day % 60:02d}"
            f".{local % 1000:03d}+08:00")


_HEX_MULTIPLIER = 0xD6E8FEB86659FD93BF58476D1CE4E5B994D049BB133111EB  # odd, 192 bits
_MASK192 = (1 << 192) - 1


def hex_of(draw: int, chars: int, salt: int = 0) -> str:
    """Up to 48 hex digits spun out of a 64-bit draw and a salt (cosmetic ids: commits, build ids)."""
    spread = ((draw ^ (salt * 0x9E3779B97F4A7C15)) * _HEX_MULTIPLIER) & _MASK192
    return f"{spread:048x}"[-chars:]


def uuid_of(hex32: str) -> str:
    """A 32-hex string in UUID form (8-4-4-4-12)."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def validity(run: Run, phase: str, period: int) -> tuple[int, int]:
    """The span of epoch ms over which a job stays in ``phase`` of ``run`` (its record does not change)."""
    if phase == "pending":
        return run.created, run.started
    if phase == "running":
        return run.started, run.finished
    return run.finished, run.created + period


def build_record(spec: BuildSpec, at_ms: int) -> tuple[dict[str, Any], int, int]:
    """The ``/v3/{project_id}/jobs`` item of a build job at ``at_ms``, and the span it holds over."""
    record = dict(spec.template)
    cycle = spec.cycle
    if cycle is None:
        return record, -FOREVER, FOREVER
    effective = at_ms if spec.frozen_at is None else min(at_ms, spec.frozen_at)
    run = cycle.latest(effective)
    number = run.ordinal - spec.first_index + 1
    if number < 1:
        return record, -FOREVER, cycle.run_at(spec.first_index).created
    phase = run.phase_at(effective)
    valid_from, valid_until = validity(run, phase, cycle.period)
    if spec.frozen_at is not None and valid_until > spec.frozen_at:
        valid_until = FOREVER  # the state a disabled job was left in
    building = phase != "done"
    trigger, user = trigger_and_user(run.draw)
    commit = hex_of(run.draw, 40)
    record.update(
        last_build_time=run.created,
        health_score=health_score(cycle, run.ordinal - 1 if building else run.ordinal, spec.first_index),
        last_build_status="building" if building else BUILD_COLOURS[run.outcome],
        is_finished=not building,
        task_id=task_id(cycle, run),
        last_build_user=user,
        commit_id=commit,
        trigger_type=trigger,
        build_time=0 if building else run.duration,
        commit_detail_url=f"{record['scm_web_url'][:-len('home')]}{commit}/commitdetail",
        build_number=str(number),
        last_job_running_status="Running" if building else "Finished",
        last_build_user_id=USER_IDS[user],
    )
    return record, valid_from, valid_until


def health_score(cycle: Cycle, last: int, first: int) -> int:
    """Percentage (floored) of successes among the finished runs ``last-4 .. last`` numbered 1 or more."""
    indices = range(max(first, last - HEALTH_WINDOW + 1), last + 1)
    if not indices:
        return 0
    return 100 * cycle.count("success", indices.start, last) // len(indices)


def task_id(cycle: Cycle, run: Run) -> str:
    """``#YYYYMMDD.n``: the run's local (+08:00) date and its ordinal among that day's runs of the job."""
    local = run.created + TZ_OFFSET_MS
    day_start = local - local % DAY_MS - TZ_OFFSET_MS
    ordinal = run.ordinal - cycle.first_index_from(day_start) + 1
    return f"#{_date(local // 1000).replace('-', '')}.{ordinal}"


def trigger_and_user(draw: int) -> tuple[str, str]:
    """Trigger type and user of a run (schedules and pipelines run as ``devops-bot``)."""
    ticket = (draw >> 24) % 10
    trigger = TRIGGERS[-1][0]
    for name, weight in TRIGGERS:
        if ticket < weight:
            trigger = name
            break
        ticket -= weight
    user = USERS[(draw >> 32) % len(USERS)]
    if trigger in ("TIMED_EXECUTION", "PIPELINE_TRIGGER"):
        user = "devops-bot"
    return trigger, user


def pipeline_record(spec: PipelineJobSpec, at_ms: int) -> tuple[dict[str, Any], int, int]:
    """The ``JobWithStageDto`` of a pipeline job at ``at_ms``, and the span it holds over."""
    run = spec.cycle.latest(at_ms)
    phase = run.phase_at(at_ms)
    record = dict(spec.template)
    draw = run.draw
    started = run.outcome != "skipped" and phase != "pending"
    updated = run.finished if phase == "done" else run.started if phase == "running" else run.created
    record.update(
        sha=hex_of(draw, 40, salt=1),
        status=run.outcome if phase == "done" else phase,
        target_url=spec.url_prefix + hex_of(draw, 32, salt=2),
        created_at=iso_time(run.created),
        started_at=iso_time(run.started) if started else "",
        finished_at=iso_time(run.finished) if phase == "done" else "",
        updated_at=iso_time(updated),
        third_build_id=hex_of(draw, 32, salt=3),
    )
    return record, *validity(run, phase, spec.cycle.period)


# World outcomes in the records vocabulary (v1 and v3 spell a failure differently here on purpose: the
# full enumeration is undocumented, the exporter must accept both).
V1_STATUS = {"success": "SUCCESS", "failed": "FAILED", "timedout": "TIMEOUT", "canceled": "ABORTED"}
V3_RESULT = {"success": "SUCCESS", "failed": "FAILURE", "timedout": "TIMEOUT", "canceled": "ABORTED"}


def v1_status(run: Run) -> str:
    """A finished run's v1 status: one failure in four is ``SCHEDULE_FAILURE`` (the build could not be scheduled),
    the status of the API Explorer's published ListBriefRecord example."""
    if run.outcome == "failed" and (run.draw >> 44) % 4 == 0:
        return "SCHEDULE_FAILURE"
    return V1_STATUS[run.outcome]


def is_rerun(run: Run) -> bool:
    """One run in eight re-runs an earlier build: it still gets a build number of its own."""
    return (run.draw >> 52) % 8 == 0


def v1_record(spec_template: dict[str, Any], number: int, run: Run, at_ms: int) -> dict[str, Any]:
    """The ``BuildRecord`` of a run at ``at_ms``."""
    phase = run.phase_at(at_ms)
    done = phase == "done"
    trigger, user = trigger_and_user(run.draw)
    queued = run.started - run.created
    built = run.duration if done else 0
    return {
        "id": uuid_of(hex_of(run.draw, 32, salt=7)), "build_no": str(number),
        "daily_build_no": "", "status": v1_status(run) if done else phase.upper(),
        "create_time": iso_time(run.created), "queued_time": iso_time(run.created),
        "start_time": iso_time(run.started) if phase != "pending" else "",
        "finish_time": iso_time(run.finished) if done else "",
        "duration": queued + built if done else 0, "build_duration": built,
        "pending_duration": queued if phase != "pending" else 0,
        "branch": spec_template["code_branch"], "revision": hex_of(run.draw, 40),
        "trigger_type": trigger, "user_id": user,
        "build_record_type": {"record_type": "JOB", "rerun": is_rerun(run), "is_rerun": is_rerun(run)},
        "project_id": spec_template["build_project_id"],
    }


def v3_record(spec_template: dict[str, Any], number: int, run: Run, at_ms: int) -> dict[str, Any]:
    """The ``HistoryRecord`` of a run at ``at_ms`` (no queue time in this API)."""
    done = run.phase_at(at_ms) == "done"
    return {
        "record_id": hex_of(run.draw, 32, salt=8), "job_id": spec_template["id"], "build_number": number,
        "start_time": iso_time(run.started), "end_time": iso_time(run.finished) if done else "",
        "result": V3_RESULT[run.outcome] if done else "",
    }
