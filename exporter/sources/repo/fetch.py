"""The CodeArts Repo requests, through the shared client: a pipeline's jobs, and what discovery reads (a
project's repositories, a repository's open merge requests, a merge request's head pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from exporter.client import PAGE_SIZE, CodeArtsClient, ParsedListing
from exporter.errors import PayloadError
from exporter.pagination import ITEM_OR_PAGE_READINGS, Page, listing_total
from exporter.payload import RecordError
from exporter.sources.repo.models import (
    HeadPipeline,
    MergeRequest,
    PipelineJob,
    Repository,
    parse_head_pipeline,
    parse_merge_request,
    parse_pipeline_job,
    parse_repository,
)
from exporter.sources.repo.targets import API


def _offset_params(offset: int) -> dict[str, Any]:
    return {"offset": offset, "limit": PAGE_SIZE}


def total_header(value: str | None) -> int | None:
    """A non-negative item count from a header such as ``X-Total``; None when absent or unreadable."""
    return listing_total(value, header=True)


def array_page(client: CodeArtsClient, url: str, what: str) -> Callable[[requests.Response], Page]:
    """A decoder for a Repo v4 list answered as a JSON array (``X-Total`` read when present)."""
    def decode(response: requests.Response) -> Page:
        body = client.decode_json(response)
        if not isinstance(body, list):
            raise PayloadError(f"expected a JSON array of {what}", url=url, status=response.status_code)
        return Page(body, total_header(response.headers.get("X-Total")))

    return decode


def list_pipeline_jobs(client: CodeArtsClient, repository_id: int, pipeline_id: int) -> ParsedListing[PipelineJob]:
    """Every job of one Repo pipeline."""
    url = f"{client.base_url(API)}/v4/repositories/{repository_id}/pipelines/{pipeline_id}/jobs"
    return client.listing(API, url, _offset_params, array_page(client, url, "jobs"), ITEM_OR_PAGE_READINGS,
                          parse_pipeline_job)


def list_project_repositories(client: CodeArtsClient, project_id: str) -> ParsedListing[Repository]:
    """Every repository of a CodeArts project (``GET /v4/projects/{project_id}/repositories``)."""
    url = f"{client.base_url(API)}/v4/projects/{project_id}/repositories"
    return client.listing(API, url, _offset_params, array_page(client, url, "repositories"), ITEM_OR_PAGE_READINGS,
                          parse_repository, total_documented=False)


def list_open_merge_requests(client: CodeArtsClient, repository_id: int) -> ParsedListing[MergeRequest]:
    """The open merge requests of a repository, asked newest (last updated) first."""
    url = f"{client.base_url(API)}/v4/repositories/{repository_id}/merge-requests"

    def params(offset: int) -> dict[str, Any]:
        return {"offset": offset, "limit": PAGE_SIZE, "state": "opened", "order_by": "updated_at", "sort": "desc"}

    return client.listing(API, url, params, array_page(client, url, "merge requests"), ITEM_OR_PAGE_READINGS,
                          parse_merge_request, total_documented=False)  # the SDK reads X-Total for pipeline jobs only


def head_pipeline(client: CodeArtsClient, repository_id: int, iid: int) -> HeadPipeline | None:
    """The head pipeline of a merge request (``actual-head-pipeline``); None if it has none."""
    url = f"{client.base_url(API)}/v4/repositories/{repository_id}/merge-requests/{iid}/actual-head-pipeline"
    response = client.get(API, url, {})
    try:
        return parse_head_pipeline(client.decode_json(response))
    except RecordError as err:
        raise PayloadError(f"unexpected head pipeline body: {err}", url=url, status=response.status_code) from None
