"""The CodeArts Pipeline requests, through the shared client: a project's pipelines (each with its latest
run) and a pipeline's runs, both ``POST`` with the paging in the JSON body.

Errors can come with HTTP 200 (``{"error_code": "DEVCP.00014031", ...}``): any 2xx body carrying an
``error_code`` is an error here.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import requests

from exporter.client import PAGE_SIZE, CodeArtsClient, ParsedListing
from exporter.errors import AuthError, CodeArtsError, NotFoundError, PayloadError
from exporter.pagination import ITEM_OR_PAGE_READINGS, Page, listing_total
from exporter.payload import RecordError
from exporter.runhistory.numbered import RunPage
from exporter.sources.pipeline.config import PipelineProject
from exporter.sources.pipeline.models import (
    Pipeline,
    PipelineRun,
    RunDetail,
    paging_item,
    parse_detail,
    parse_pipeline,
    parse_run,
)
from exporter.sources.pipeline.targets import API

HISTORY_API = "pipeline_history"  # the skip-counter label of records of the run list
PERMISSION_DENIED = "DEVCP.00014031"  # "Insufficient permissions", sent with HTTP 200
NOT_FOUND = "DEVCP.00012002"  # "record does not exist", sent with HTTP 200
UNKNOWN_ERROR = "DEVCP.00010000"  # "Unknown service error", sent with HTTP 500: transient, worth retrying
LEGACY_WINDOW_DAYS = 30  # list-legacy requires a time range: the last 30 days


def error_in_body(body: Any, url: str, status: int) -> CodeArtsError | None:
    """The error a 2xx body reports with ``error_code`` (None if it reports none)."""
    if not isinstance(body, dict) or not body.get("error_code"):
        return None
    code, message = str(body.get("error_code"))[:64], str(body.get("error_msg") or "")[:200]
    kind, text = ((AuthError, "permission refused") if code == PERMISSION_DENIED else
                  (NotFoundError, "not found") if code == NOT_FOUND else (PayloadError, "error in a 2xx body"))
    return kind(text, url=url, status=status, error_code=code, error_msg=message)


def _object(client: CodeArtsClient, response: requests.Response, url: str, array: str) -> tuple[list[Any], int | None]:
    body = client.decode_json(response)
    error = error_in_body(body, url, response.status_code)
    if error is not None:
        raise error
    if not isinstance(body, dict) or not isinstance(body.get(array) or [], list):
        raise PayloadError(f"expected an object with a {array} array", url=url, status=response.status_code)
    return body.get(array) or [], listing_total(body.get("total"))


def list_pipelines(client: CodeArtsClient, project: PipelineProject) -> ParsedListing[Pipeline]:
    """Every watched pipeline of one CodeArts project, each with its latest run."""
    url = f"{client.base_url(API)}/v5/{project.id}/api/pipelines/list"

    def body(offset: int) -> dict[str, Any]:
        # Oldest first: a pipeline created during the walk lands on the last page, not shifting the others.
        return {"offset": offset, "limit": PAGE_SIZE, "query_new": not project.legacy, "sort_key": "create_time",
                "sort_dir": "asc"}

    def decode(response: requests.Response) -> Page:
        items, total = _object(client, response, url, "pipelines")
        return Page([paging_item(item) for item in items], total)

    listing = client.listing(API, url, body, decode, ITEM_OR_PAGE_READINGS, lambda raw: parse_pipeline(raw, project),
                             method="POST")
    if project.include or project.exclude:
        listing = replace(listing, records=tuple(each for each in listing.records if project.watches(each.name)))
    return listing


def runs_page(client: CodeArtsClient, project: PipelineProject, pipeline_id: str, offset: int,
              limit: int) -> RunPage[PipelineRun]:
    """One page of a pipeline's runs, newest first (``offset`` as the server reads it)."""
    base = f"{client.base_url(API)}/v5/{project.id}/api/pipelines/{pipeline_id}/pipeline-runs"
    body: dict[str, Any] = {"offset": offset, "limit": limit, "sort_key": "start_time", "sort_dir": "desc"}
    if project.legacy:
        url = f"{base}/list-legacy"
        body |= legacy_window(time.time())
    else:
        url = f"{base}/list"
    response = client.post_json(API, url, body)
    items, total = _object(client, response, url, "pipeline_runs")
    runs = client.page_records(HISTORY_API, url, items, lambda raw: parse_run(raw, project))
    return RunPage(runs, len(items), total)


def legacy_window(now: float) -> dict[str, str]:
    """The time range ``list-legacy`` requires: the last LEGACY_WINDOW_DAYS days to ``now``, as epoch ms (the
    docs take "a timestamp or yyyy-MM-dd HH:mm:ss"; a timestamp needs no zone)."""
    return {"start_time": str(int((now - LEGACY_WINDOW_DAYS * 86_400) * 1000)), "end_time": str(int(now * 1000))}


def run_detail(client: CodeArtsClient, project: PipelineProject, pipeline_id: str, run_id: str) -> RunDetail:
    """``GET .../pipeline-runs/detail?pipeline_run_id=``: the stages and jobs of one run."""
    url = f"{client.base_url(API)}/v5/{project.id}/api/pipelines/{pipeline_id}/pipeline-runs/detail"
    response = client.get(API, url, {"pipeline_run_id": run_id})
    body = client.decode_json(response)
    error = error_in_body(body, url, response.status_code)
    if error is not None:
        raise error
    try:
        with client.checking(API, url):
            return parse_detail(body)
    except RecordError as err:
        raise PayloadError(f"unreadable run detail: {err}", url=url, status=response.status_code) from None
