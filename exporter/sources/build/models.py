"""Typed records of CodeArts Build payloads (build jobs, and the runs of the records and history APIs), and
their tolerant parsers."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.assumptions import contradicted
from exporter.limits import MAX_DURATION_SECONDS, MAX_HEALTH_SCORE
from exporter.payload import RecordError, flag_of, number_of, parse_timestamp, required_dict, text_of, within
from exporter.timebounds import span

BUILD_STATUSES: tuple[str, ...] = (
    "success", "failed", "timedout", "aborted", "running", "none", "unknown",
)

# CodeArts Build reports a job's last result as a Jenkins-style colour.
BUILD_COLOURS: dict[str, str] = {
    "blue": "success",
    "red": "failed",
    "timeout": "timedout",
    "aborted": "aborted",
    "building": "running",
    "none": "none",
}


@dataclass(frozen=True, slots=True)
class BuildJob:
    """One CodeArts Build job as listed by ``/v3/{project_id}/jobs``; durations in seconds."""

    id: str
    name: str
    status: str
    health_score: float | None
    last_build_time: float | None
    last_build_duration: float | None
    running: bool
    disabled: bool
    branch: str
    scm_type: str
    trigger_type: str
    build_type: str
    repo_id: str
    build_number: str
    build_project_id: str = ""  # the key of the v1 build-record APIs (a UUID)


def normalise_build_status(colour: object, running_status: object) -> str:
    """Map CodeArts' colour (``blue``, ``red``...) to a status; a missing colour on a running job is running."""
    text = text_of(colour).strip().lower()
    if text:
        status = BUILD_COLOURS.get(text)
        if status is None:
            contradicted("status_vocabulary", f"last_build_status {text[:32]!r} is not a published colour")
            return "unknown"
        return status
    if text_of(running_status).strip().lower() == "running":
        return "running"
    return "unknown"


def parse_build_job(raw: object) -> BuildJob:
    """Build a :class:`BuildJob` from one item of the ``jobs`` array of ``/v3/{project_id}/jobs``."""
    record = required_dict(raw)
    job_id = text_of(record.get("id")).strip()
    if not job_id or len(job_id) > 128:
        raise RecordError(f"build job id must be a non-empty string, got {record.get('id')!r:.40}")
    status = normalise_build_status(record.get("last_build_status"), record.get("last_job_running_status"))
    duration_ms = number_of(record.get("build_time"))
    return BuildJob(
        id=job_id,
        name=text_of(record.get("job_name")) or job_id,
        status=status,
        health_score=within(number_of(record.get("health_score")), MAX_HEALTH_SCORE),
        last_build_time=parse_timestamp(record.get("last_build_time")),
        last_build_duration=within(duration_ms / 1000.0 if duration_ms is not None else None, MAX_DURATION_SECONDS),
        running=status == "running"
        or text_of(record.get("last_job_running_status")).strip().lower() == "running",
        disabled=flag_of(record.get("disabled")),
        branch=text_of(record.get("code_branch")),
        scm_type=text_of(record.get("scm_type")),
        trigger_type=text_of(record.get("trigger_type")),
        build_type=text_of(record.get("build_type")),
        repo_id=text_of(record.get("repo_id")),
        build_number=text_of(record.get("build_number")),
        build_project_id=text_of(record.get("build_project_id")).strip(),
    )

# Build record statuses (``/v1/record/.../records`` and ``/v1/record/brief`` ``status``, ``/v3/jobs/.../history``
# ``result``) by outcome. The full enumeration is undocumented; the published examples (docs and the API Explorer
# definitions) are SUCCESS, FAILURE, ABORTED and SCHEDULE_FAILURE (a build that could not be scheduled: failed).
RUN_STATUSES: tuple[str, ...] = ("success", "failed", "timedout", "aborted")


_RECORD_OUTCOMES: dict[str, str] = {
    "SUCCESS": "success", "SUCCEED": "success", "SUCCEEDED": "success",
    "FAILURE": "failed", "FAILED": "failed", "FAIL": "failed", "ERROR": "failed", "SCHEDULE_FAILURE": "failed",
    "TIMEOUT": "timedout", "TIMEDOUT": "timedout", "TIMED_OUT": "timedout",
    "ABORTED": "aborted", "ABORT": "aborted", "CANCELED": "aborted", "CANCELLED": "aborted", "STOPPED": "aborted",
}


_UNFINISHED = frozenset(("RUNNING", "BUILDING", "QUEUED", "PENDING", "WAITING", "INIT", "SCHEDULING", ""))


@dataclass(frozen=True, slots=True)
class BuildRun:
    """One run of a build job from a records API; ``status`` is a RUN_STATUSES value, or "" while unfinished,
    or "unknown" for a finished run with an unrecognised status. Durations in seconds or None."""

    number: int
    status: str
    duration: float | None
    queued: float | None
    finished_at: float | None = None  # epoch seconds, where the API gives the finish time

    @property
    def finished(self) -> bool:
        """True once the run reached a terminal status."""
        return self.status != ""


def run_status(value: object, finished_at: object = None) -> str:
    """A run status from a record's status text; "" while it runs; "unknown" if finished but unrecognised."""
    text = text_of(value).strip().upper()
    if text in _RECORD_OUTCOMES:
        return _RECORD_OUTCOMES[text]
    if text in _UNFINISHED or parse_timestamp(finished_at) is None:
        return ""
    contradicted("status_vocabulary", f"finished run status {text[:32]!r} is not a published one")
    return "unknown"


def build_number_of(value: object) -> int | None:
    """A build number as a listing or a record gives it: ``12``, ``"12"``, and the forms no documentation rules
    out, ``12.0``, ``"12.0"`` and ``"#12"``; None if it is none of them (or not a positive integer)."""
    text = value.strip().removeprefix("#") if isinstance(value, str) else value
    number = number_of(text)
    if number is None or number != int(number) or not 1 <= number <= 1e15:
        return None
    return int(number)


def _build_no(value: object) -> int:
    number = build_number_of(value)
    if number is None:
        raise RecordError(f"build number must be a positive integer, got {value!r:.40}")
    return number


def _ms_seconds(value: object) -> float | None:
    number = number_of(value)
    return within(number / 1000.0 if number is not None else None, MAX_DURATION_SECONDS)


def parse_build_record(raw: object) -> BuildRun:
    """A :class:`BuildRun` from one ``BuildRecord`` of ``/v1/record/{build_project_id}/records``.

    ``build_duration`` is the running time and ``pending_duration`` the queue time, both in ms
    (the documented example has ``duration`` = ``build_duration`` + ``pending_duration``).
    """
    record = required_dict(raw)
    return BuildRun(
        number=_build_no(record.get("build_no")),
        status=run_status(record.get("status"), record.get("finish_time")),
        duration=_ms_seconds(record.get("build_duration")),
        queued=_ms_seconds(record.get("pending_duration")),
        finished_at=parse_timestamp(record.get("finish_time")),
    )


def parse_history_record(raw: object) -> BuildRun:
    """A :class:`BuildRun` from one ``HistoryRecord`` of ``/v3/jobs/{job_id}/history`` (no queue time)."""
    record = required_dict(raw)
    started = parse_timestamp(record.get("start_time"))
    ended = parse_timestamp(record.get("end_time"))
    duration = span(started, ended)
    return BuildRun(
        number=_build_no(record.get("build_number")),
        status=run_status(record.get("result"), record.get("end_time")),
        duration=duration,
        queued=None,
        finished_at=ended,
    )


# -- discovery (CodeArts Repo v4): a project's repositories, merge requests, head pipelines --------------
