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
    if text.lstrip("-").replace(".", "", 1).isdigit():
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
    return str(value)


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
    if isinstance(job_id, str) and job_id.strip().isdigit():
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
        health_score=_number(record.get("health_score")),
        last_build_time=parse_timestamp(record.get("last_build_time")),
        last_build_duration=duration_ms / 1000.0 if duration_ms is not None and duration_ms >= 0 else None,
        running=status == "running"
        or _text(record.get("last_job_running_status")).strip().lower() == "running",
        disabled=_flag(record.get("disabled")),
        branch=_text(record.get("code_branch")),
        scm_type=_text(record.get("scm_type")),
        trigger_type=_text(record.get("trigger_type")),
        build_type=_text(record.get("build_type")),
        repo_id=_text(record.get("repo_id")),
        build_number=_text(record.get("build_number")),
    )
