"""The commit a CodeArts Deploy deployment deployed, read from CodeArts Build (``commits_from_build_job``):
the newest successful record of the build job that finished before the deployment started, and that
record's commit and commit time (``record-info``). Requests go through the shared client, so the Build
rate limit; the caller caches what they answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.errors import NotFoundError, PayloadError
from exporter.payload import parse_timestamp
from exporter.sources.build.fetch import build_records_page, list_build_jobs
from exporter.sources.build.targets import API as BUILD_API

if TYPE_CHECKING:
    from exporter.client import CodeArtsClient
    from exporter.dora.ledger import CommitKey

RECORDS_PAGE = 100  # records one page of the Build records list holds (its largest)
MAX_RECORD_PAGES = 5  # a job with no successful record in its last 500 has none before the deployment for us


def build_project_ids(client: CodeArtsClient, project_id: str) -> dict[str, str]:
    """The records key (``build_project_id``, else the job id) of every build job of a project, by job id."""
    return {job.id: job.build_project_id or job.id for job in list_build_jobs(client, project_id).records}


def last_success_before(client: CodeArtsClient, records_key: str, started: float) -> int | None:
    """The build number of the newest successful record of a job that finished before ``started`` (epoch
    seconds); None if its last :data:`MAX_RECORD_PAGES` pages have none."""
    for page in range(1, MAX_RECORD_PAGES + 1):
        found = build_records_page(client, records_key, page, RECORDS_PAGE)
        for run in found.runs:
            if run.status == "success" and run.finished_at is not None and run.finished_at < started:
                return run.number
        if found.size < RECORDS_PAGE:
            return None
    return None


def record_commit(client: CodeArtsClient, job_id: str, build_no: int) -> tuple[CommitKey, float] | None:
    """((repository id, sha), commit time) of one build record (``GET /v1/record/{job_id}/{build_no}/record-info``);
    None if Build does not know the record or it names no commit. Raises
    :class:`exporter.errors.CodeArtsError` for anything else (asked again in a later cycle)."""
    url = f"{client.base_url(BUILD_API)}/v1/record/{job_id}/{build_no}/record-info"
    try:
        response = client.get(BUILD_API, url, {})
    except NotFoundError:
        return None
    body = client.decode_json(response)
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        raise PayloadError("record-info body without a result object", url=url, status=response.status_code)
    sha, repository = result.get("commit"), result.get("repo_id")
    committed = parse_timestamp(result.get("commit_create_time"))
    if not isinstance(sha, str) or not sha or committed is None:
        return None
    return (str(repository or ""), sha), committed
