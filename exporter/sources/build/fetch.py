"""The CodeArts Build requests, through the shared client: a project's job listing and a job's runs."""

from __future__ import annotations

import requests

from exporter.client import PAGE_SIZE, CodeArtsClient, ParsedListing
from exporter.errors import PayloadError
from exporter.pagination import PAGE_NUMBER_READINGS, Page, listing_total
from exporter.runhistory.numbered import RunPage
from exporter.sources.build.models import BuildJob, BuildRun, parse_build_job, parse_build_record, parse_history_record
from exporter.sources.build.targets import API

HISTORY_INTERVAL_DAYS = 30  # /v3/jobs/{job_id}/history looks back at most 30 days


def list_build_jobs(client: CodeArtsClient, project_id: str) -> ParsedListing[BuildJob]:
    """Every build job of one CodeArts project."""
    url = f"{client.base_url(API)}/v3/{project_id}/jobs"

    def decode(response: requests.Response) -> Page:
        body = client.decode_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("jobs", []), list):
            raise PayloadError("expected an object with a jobs array", url=url, status=response.status_code)
        return Page(body.get("jobs") or [], listing_total(body.get("total")))

    return client.listing(API, url, lambda index: {"page_index": index, "page_size": PAGE_SIZE}, decode,
                          PAGE_NUMBER_READINGS, parse_build_job)


def build_records_page(client: CodeArtsClient, build_project_id: str, page: int, limit: int) -> RunPage[BuildRun]:
    """One page (1-based, newest first) of ``GET /v1/record/{build_project_id}/records``."""
    url = f"{client.base_url(API)}/v1/record/{build_project_id}/records"
    response = client.get(API, url, {"page": page, "limit": limit})
    body = client.decode_json(response)
    result = body.get("result") if isinstance(body, dict) else None
    items = result.get("data") if isinstance(result, dict) else None
    if not isinstance(items, list):
        raise PayloadError("expected an object with result.data", url=url, status=response.status_code)
    return RunPage(client.page_records("build_history", url, items, parse_build_record), len(items))


def build_history_page(client: CodeArtsClient, job_id: str, offset: int, limit: int) -> RunPage[BuildRun]:
    """One page (``offset`` = page number from 0, newest first) of the older ``GET /v3/jobs/{job_id}/history``."""
    url = f"{client.base_url(API)}/v3/jobs/{job_id}/history"
    response = client.get(API, url, {"offset": offset, "limit": limit, "interval": HISTORY_INTERVAL_DAYS})
    body = client.decode_json(response)
    items = body.get("history_records") if isinstance(body, dict) else None
    if isinstance(items, dict):  # the API Explorer's published example has one record as an object, not an array
        items = [items]
    if not isinstance(items, list):
        raise PayloadError("expected an object with history_records", url=url, status=response.status_code)
    return RunPage(client.page_records("build_history", url, items, parse_history_record), len(items))


def build_brief_records(client: CodeArtsClient, build_project_ids: list[str],
                        limit: int) -> dict[str, RunPage[BuildRun]]:
    """The last ``limit`` runs (newest first) of each build job of ``build_project_ids``, by its build_project_id,
    from one ``POST /v1/record/brief?limit=N`` (a JSON array of ids in the body; queue times included). An id
    the answer leaves out has no entry."""
    url = f"{client.base_url(API)}/v1/record/brief"
    response = client.post_json(API, url, build_project_ids, {"limit": limit})
    body = client.decode_json(response)
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, list):
        raise PayloadError("expected an object with a result array", url=url, status=response.status_code)
    pages: dict[str, RunPage[BuildRun]] = {}
    for entry in result:
        items = entry.get("brief_build_record_dtos") if isinstance(entry, dict) else None
        key = entry.get("project_id") if isinstance(entry, dict) else None
        if not isinstance(items, list) or not isinstance(key, str):
            client.stats.count_skipped("build_history", "malformed")
            continue
        pages[key] = RunPage(client.page_records("build_history", url, items, parse_build_record), len(items))
    return pages
