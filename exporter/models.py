"""Typed records for CodeArts payloads, and the tolerant parsers that build them.

The CodeArts reference pages are loose about types and spellings (the Repo example spells a key
``updated_at"``; timestamps come as ISO 8601 strings or as epoch milliseconds), so every field is read
defensively. A record that cannot be understood at all raises :class:`RecordError`; the caller skips
that one record and keeps the rest of the page.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exporter.limits import MAX_DURATION_SECONDS, MAX_HEALTH_SCORE, MAX_LABEL_CHARS

PIPELINE_STATUSES: tuple[str, ...] = (
    "pending", "running", "success", "failed", "canceled", "skipped", "timedout", "unknown",
)
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

_MAX_INT32 = 2_147_483_647
# Epoch values above this are taken as milliseconds (year 2286 in seconds; 1970-04-26 in ms).
_EPOCH_MS_THRESHOLD = 10_000_000_000
_ISO_FRACTION = re.compile(r"(\.\d+)")


class RecordError(ValueError):
    """A payload record that cannot be turned into a typed record."""


@dataclass(frozen=True, slots=True)
class PipelineJob:
    """One job of a Repo pipeline (``JobWithStageDto``); times are epoch seconds or None."""

    id: int
    name: str
    stage: str
    status: str
    ref: str
    sha: str
    created: float | None
    started: float | None
    finished: float | None
    updated: float | None


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


def parse_timestamp(value: object) -> float | None:
    """Epoch seconds from an ISO 8601 string (offset, ``Z`` or naive UTC) or epoch s/ms number.

    Returns None for missing, empty, zero or unreadable values: "unknown" is better than wrong.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch_number(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.lstrip("-").replace(".", "", 1).isdigit():  # "²".isdigit(), but not a number
        return _epoch_number(float(text))
    return _iso_timestamp(text)


def _epoch_number(number: float) -> float | None:
    if not math.isfinite(number) or number <= 0:
        return None
    if number > _EPOCH_MS_THRESHOLD:
        number /= 1000.0
    return number if number < 1e11 else None


def _iso_timestamp(text: str) -> float | None:
    normalised = text.replace("Z", "+00:00").replace("z", "+00:00")
    # fromisoformat wants 3 or 6 fraction digits; pad or trim whatever came.
    match = _ISO_FRACTION.search(normalised)
    if match:
        digits = match.group(1)[1:]
        fixed = "." + (digits + "000000")[:6]
        normalised = normalised[: match.start()] + fixed + normalised[match.end():]
    try:
        moment = datetime.fromisoformat(normalised)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _field(raw: dict[str, Any], key: str) -> Any:
    """A field by name, also under the misspelt ``key"`` form seen in the Repo docs' example."""
    if key in raw:
        return raw[key]
    return raw.get(key + '"')


def _text(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    text = str(value)
    if not text.isascii():
        # JSON may carry a lone surrogate ("\ud800"), which no UTF-8 exposition can hold: it would fail
        # every render. Such a character becomes "?".
        text = text.encode("utf-8", "replace").decode("utf-8")
    # A label value: a 1 MB job name made a 52 MB exposition out of 10 jobs.
    return text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS] + "..."


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or (isinstance(value, int | float) and value == 1)


def _required_dict(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RecordError(f"expected an object, got {type(raw).__name__}")
    return raw


def parse_pipeline_job(raw: object) -> PipelineJob:
    """Build a :class:`PipelineJob` from one item of the Repo pipeline jobs array."""
    record = _required_dict(raw)
    job_id = record.get("id")
    if isinstance(job_id, str) and job_id.strip().isascii() and job_id.strip().isdigit():
        job_id = int(job_id.strip())
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 1 <= job_id <= _MAX_INT32:
        raise RecordError(f"pipeline job id must be an integer 1..{_MAX_INT32}, got {job_id!r:.40}")
    status = _text(record.get("status")).strip().lower()
    return PipelineJob(
        id=job_id,
        name=_text(record.get("name")) or f"job-{job_id}",
        stage=_text(_field(record, "stage")),
        status=status if status in PIPELINE_STATUSES else "unknown",
        ref=_text(_field(record, "ref")),
        sha=_text(_field(record, "sha")),
        created=parse_timestamp(_field(record, "created_at")),
        started=parse_timestamp(_field(record, "started_at")),
        finished=parse_timestamp(_field(record, "finished_at")),
        updated=parse_timestamp(_field(record, "updated_at")),
    )


def normalise_build_status(colour: object, running_status: object) -> str:
    """Map CodeArts' colour (``blue``, ``red``...) to a status; a missing colour on a running job is running."""
    text = _text(colour).strip().lower()
    if text:
        return BUILD_COLOURS.get(text, "unknown")
    if _text(running_status).strip().lower() == "running":
        return "running"
    return "unknown"


def parse_build_job(raw: object) -> BuildJob:
    """Build a :class:`BuildJob` from one item of the ``jobs`` array of ``/v3/{project_id}/jobs``."""
    record = _required_dict(raw)
    job_id = _text(record.get("id")).strip()
    if not job_id or len(job_id) > 128:
        raise RecordError(f"build job id must be a non-empty string, got {record.get('id')!r:.40}")
    status = normalise_build_status(record.get("last_build_status"), record.get("last_job_running_status"))
    duration_ms = _number(record.get("build_time"))
    return BuildJob(
        id=job_id,
        name=_text(record.get("job_name")) or job_id,
        status=status,
        health_score=_within(_number(record.get("health_score")), MAX_HEALTH_SCORE),
        last_build_time=parse_timestamp(record.get("last_build_time")),
        last_build_duration=_within(duration_ms / 1000.0 if duration_ms is not None else None, MAX_DURATION_SECONDS),
        running=status == "running"
        or _text(record.get("last_job_running_status")).strip().lower() == "running",
        disabled=_flag(record.get("disabled")),
        branch=_text(record.get("code_branch")),
        scm_type=_text(record.get("scm_type")),
        trigger_type=_text(record.get("trigger_type")),
        build_type=_text(record.get("build_type")),
        repo_id=_text(record.get("repo_id")),
        build_number=_text(record.get("build_number")),
        build_project_id=_text(record.get("build_project_id")).strip(),
    )


# Build record statuses (``/v1/record/.../records`` ``status``, ``/v3/jobs/.../history`` ``result``) by
# outcome. The full enumeration is undocumented; SUCCESS, FAILURE and ABORTED are the documented examples.
RUN_STATUSES: tuple[str, ...] = ("success", "failed", "timedout", "aborted")
_RECORD_OUTCOMES: dict[str, str] = {
    "SUCCESS": "success", "SUCCEED": "success", "SUCCEEDED": "success",
    "FAILURE": "failed", "FAILED": "failed", "FAIL": "failed", "ERROR": "failed",
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

    @property
    def finished(self) -> bool:
        """True once the run reached a terminal status."""
        return self.status != ""


def run_status(value: object, finished_at: object = None) -> str:
    """A run status from a record's status text; "" while it runs; "unknown" if finished but unrecognised."""
    text = _text(value).strip().upper()
    if text in _RECORD_OUTCOMES:
        return _RECORD_OUTCOMES[text]
    if text in _UNFINISHED or parse_timestamp(finished_at) is None:
        return ""
    return "unknown"


def _build_no(value: object) -> int:
    number = _number(value)
    if number is None or number != int(number) or not 1 <= number <= 1e15:
        raise RecordError(f"build number must be a positive integer, got {value!r:.40}")
    return int(number)


def _ms_seconds(value: object) -> float | None:
    number = _number(value)
    return _within(number / 1000.0 if number is not None else None, MAX_DURATION_SECONDS)


def _within(number: float | None, high: float) -> float | None:
    """``number`` if in 0..``high``, else unknown: a health of -5 or a 1e305 s duration is no reading."""
    return number if number is not None and 0 <= number <= high else None


def parse_build_record(raw: object) -> BuildRun:
    """A :class:`BuildRun` from one ``BuildRecord`` of ``/v1/record/{build_project_id}/records``.

    ``build_duration`` is the running time and ``pending_duration`` the queue time, both in ms
    (the documented example has ``duration`` = ``build_duration`` + ``pending_duration``).
    """
    record = _required_dict(raw)
    return BuildRun(
        number=_build_no(record.get("build_no")),
        status=run_status(record.get("status"), record.get("finish_time")),
        duration=_ms_seconds(record.get("build_duration")),
        queued=_ms_seconds(record.get("pending_duration")),
    )


def parse_history_record(raw: object) -> BuildRun:
    """A :class:`BuildRun` from one ``HistoryRecord`` of ``/v3/jobs/{job_id}/history`` (no queue time)."""
    record = _required_dict(raw)
    started = parse_timestamp(record.get("start_time"))
    ended = parse_timestamp(record.get("end_time"))
    duration = ended - started if started is not None and ended is not None and ended >= started else None
    return BuildRun(
        number=_build_no(record.get("build_number")),
        status=run_status(record.get("result"), record.get("end_time")),
        duration=duration,
        queued=None,
    )


# -- discovery (CodeArts Repo v4): a project's repositories, merge requests, head pipelines --------------

FINISHED_PIPELINE_STATUSES: tuple[str, ...] = ("success", "failed", "canceled", "skipped", "timedout")


@dataclass(frozen=True, slots=True)
class Repository:
    """One ``BasicRepositoryDto`` of ``/v4/projects/{project_id}/repositories``."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class MergeRequest:
    """One merge request of ``/v4/repositories/{repository_id}/merge-requests``; times epoch seconds or None."""

    iid: int
    state: str
    created: float | None
    updated: float | None

    def recency(self) -> tuple[float, float, int]:
        """Sort key, newest first when sorted in reverse: last update, then creation, then number."""
        return (self.updated or self.created or 0.0, self.created or 0.0, self.iid)


@dataclass(frozen=True, slots=True)
class HeadPipeline:
    """The ``data`` of ``actual-head-pipeline``: a merge request's pipeline and where it stands."""

    id: int
    status: str
    created: float | None
    updated: float | None
    finished: float | None

    @property
    def is_finished(self) -> bool:
        """True once the pipeline reached a terminal status."""
        return self.status in FINISHED_PIPELINE_STATUSES


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_INT32:
        raise RecordError(f"{what} must be an integer 1..{_MAX_INT32}, got {value!r:.40}")
    return value


def parse_repository(raw: object) -> Repository:
    """A :class:`Repository` (``id`` and ``name``) from one item of a project's repository list."""
    record = _required_dict(raw)
    name = _text(record.get("name")).strip()
    if not name:
        raise RecordError("repository without a name")
    return Repository(_positive_int(record.get("id"), "repository id"), name)


def parse_merge_request(raw: object) -> MergeRequest:
    """A :class:`MergeRequest` from one item of a repository's merge request list (``iid`` required)."""
    record = _required_dict(raw)
    return MergeRequest(
        iid=_positive_int(record.get("iid"), "merge request iid"),
        state=_text(record.get("state")).strip().lower(),
        created=parse_timestamp(record.get("created_at")),
        updated=parse_timestamp(record.get("updated_at")),
    )


def parse_head_pipeline(raw: object) -> HeadPipeline | None:
    """The head pipeline from an ``actual-head-pipeline`` body; None when ``is_valid`` is false or there is
    no ``data`` (the merge request's latest commit has no pipeline). Raises :class:`RecordError` if malformed."""
    body = _required_dict(raw)
    data = body.get("data")
    if body.get("is_valid") is False or data is None:
        return None
    record = _required_dict(data)
    status = _text(record.get("status")).strip().lower()
    return HeadPipeline(
        id=_positive_int(record.get("id"), "pipeline id"),
        status=status if status in PIPELINE_STATUSES else "unknown",
        created=parse_timestamp(record.get("created_at")),
        updated=parse_timestamp(record.get("updated_at")),
        finished=parse_timestamp(record.get("finished_at")),
    )
