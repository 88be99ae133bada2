"""Typed records of CodeArts Repo payloads (pipeline jobs; repositories, merge requests and head pipelines
for discovery), and their tolerant parsers."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.assumptions import contradicted
from exporter.payload import MAX_INT32, RecordError, field_of, parse_timestamp, required_dict, text_of

PIPELINE_STATUSES: tuple[str, ...] = (
    "pending", "running", "success", "failed", "canceled", "skipped", "timedout", "unknown",
)


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
    target_url: str = ""  # the job's page in CodeArts, as the API gives it (shown on the landing page)


def parse_pipeline_job(raw: object) -> PipelineJob:
    """Build a :class:`PipelineJob` from one item of the Repo pipeline jobs array."""
    record = required_dict(raw)
    job_id = record.get("id")
    if isinstance(job_id, str) and job_id.strip().isascii() and job_id.strip().isdigit():
        job_id = int(job_id.strip())
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 1 <= job_id <= MAX_INT32:
        raise RecordError(f"pipeline job id must be an integer 1..{MAX_INT32}, got {job_id!r:.40}")
    status = text_of(record.get("status")).strip().lower()
    return PipelineJob(
        id=job_id,
        name=text_of(record.get("name")) or f"job-{job_id}",
        stage=text_of(field_of(record, "stage")),
        status=_known_status(status),
        ref=text_of(field_of(record, "ref")),
        sha=text_of(field_of(record, "sha")),
        created=parse_timestamp(field_of(record, "created_at")),
        started=parse_timestamp(field_of(record, "started_at")),
        finished=parse_timestamp(field_of(record, "finished_at")),
        updated=parse_timestamp(field_of(record, "updated_at")),
        target_url=text_of(field_of(record, "target_url")),
    )


def _known_status(status: str) -> str:
    if status in PIPELINE_STATUSES:
        return status
    contradicted("status_vocabulary", f"pipeline job status {status[:32]!r} is not a published one")
    return "unknown"


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
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INT32:
        raise RecordError(f"{what} must be an integer 1..{MAX_INT32}, got {value!r:.40}")
    return value


def parse_repository(raw: object) -> Repository:
    """A :class:`Repository` (``id`` and ``name``) from one item of a project's repository list."""
    record = required_dict(raw)
    name = text_of(record.get("name")).strip()
    if not name:
        raise RecordError("repository without a name")
    return Repository(_positive_int(record.get("id"), "repository id"), name)


def parse_merge_request(raw: object) -> MergeRequest:
    """A :class:`MergeRequest` from one item of a repository's merge request list (``iid`` required)."""
    record = required_dict(raw)
    return MergeRequest(
        iid=_positive_int(record.get("iid"), "merge request iid"),
        state=text_of(record.get("state")).strip().lower(),
        created=parse_timestamp(record.get("created_at")),
        updated=parse_timestamp(record.get("updated_at")),
    )


def parse_head_pipeline(raw: object) -> HeadPipeline | None:
    """The head pipeline from an ``actual-head-pipeline`` body; None when ``is_valid`` is false or there is
    no ``data`` (the merge request's latest commit has no pipeline). Raises :class:`RecordError` if malformed."""
    body = required_dict(raw)
    data = body.get("data")
    if body.get("is_valid") is False or data is None:
        return None
    record = required_dict(data)
    status = text_of(record.get("status")).strip().lower()
    return HeadPipeline(
        id=_positive_int(record.get("id"), "pipeline id"),
        status=_known_status(status),
        created=parse_timestamp(record.get("created_at")),
        updated=parse_timestamp(record.get("updated_at")),
        finished=parse_timestamp(record.get("finished_at")),
    )
