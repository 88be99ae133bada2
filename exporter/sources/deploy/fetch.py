"""The CodeArts Deploy requests, through the shared client: a project's applications (``POST``, the 1-based
``page`` in the JSON body) and one deployment task's history (``GET``, a date window of at most 30 days).

Deploy documents two error bodies, ``{"error_code", "error_msg"}`` and
``{"error": {"code", "message"}, "status": "failed"}``, and its success bodies carry ``"status": "success"``:
a 2xx body with either error shape, or with a ``status`` other than ``success``, is an error here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import requests

from exporter.auth.signing import AkSkSigner
from exporter.client import PAGE_SIZE, CodeArtsClient, ParsedListing
from exporter.errors import AuthError, CodeArtsError, NotFoundError, PayloadError
from exporter.pagination import Page, listing_total, page_from_one
from exporter.payload import RecordError
from exporter.sources.deploy.config import DeployProject
from exporter.sources.deploy.models import (
    Application,
    Deployment,
    DeployTask,
    parse_application,
    parse_detail_tasks,
    parse_record,
)
from exporter.sources.deploy.targets import API

HISTORY_API = "deploy_history"  # the skip-counter label of records of a task's history
PERMISSION_DENIED = "Deploy.00011154"  # "insufficient permissions" (HTTP 403): asking again does not help
APP_NOT_FOUND = "Deploy.00011020"  # "the application does not exist or was deleted"
SUCCESS = "success"
AKSK_REFUSED = ("credentials refused: CodeArts Deploy documents X-Auth-Token only and may not accept AK/SK "
                "signatures; use auth.password (an IAM token) or auth.token for Deploy projects")


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a task's history: the records that parsed, how many items the page held, and its total."""

    records: tuple[Deployment, ...]
    size: int
    total: int | None


def _error_fields(body: dict[str, Any]) -> tuple[str, str] | None:
    """(code, message) of an error a 2xx body reports in either shape or by its ``status``; None if none."""
    nested = body.get("error")
    if isinstance(nested, dict) and (nested.get("code") or nested.get("message")):
        return str(nested.get("code") or ""), str(nested.get("message") or "")
    if body.get("error_code"):
        return str(body.get("error_code")), str(body.get("error_msg") or "")
    status = body.get("status")
    if status is not None and status != SUCCESS:
        return "", f"status {str(status)[:40]!r} instead of {SUCCESS!r}"
    return None


def error_in_body(body: Any, url: str, status: int) -> CodeArtsError | None:
    """The error a 2xx body reports (None if it reports none)."""
    fields = _error_fields(body) if isinstance(body, dict) else None
    if fields is None:
        return None
    code, message = fields[0][:64], fields[1][:200]
    if not code:  # a status other than success: the message is the whole story
        return PayloadError(f"error in a 2xx body: {message}", url=url, status=status)
    kind, text = ((AuthError, "permission refused") if code == PERMISSION_DENIED else
                  (NotFoundError, "not found") if code == APP_NOT_FOUND else (PayloadError, "error in a 2xx body"))
    return kind(text, url=url, status=status, error_code=code, error_msg=message)


def _result(client: CodeArtsClient, response: requests.Response, url: str) -> tuple[list[Any], int | None]:
    body = client.decode_json(response)
    error = error_in_body(body, url, response.status_code)
    if error is not None:
        raise error
    if not isinstance(body, dict) or not isinstance(body.get("result") or [], list):
        raise PayloadError("expected an object with a result array", url=url, status=response.status_code)
    return body.get("result") or [], listing_total(body.get("total_num"))


def _named(client: CodeArtsClient, err: AuthError) -> AuthError:
    """A refusal of an AK/SK-signed request that is not Deploy's own "no permission", worded for what it may be."""
    if isinstance(client.auth, AkSkSigner) and err.error_code != PERMISSION_DENIED:
        return AuthError(AKSK_REFUSED, url=err.url, status=err.status, error_code=err.error_code,
                         error_msg=err.error_msg)
    return err


def list_applications(client: CodeArtsClient, project: DeployProject) -> ParsedListing[Application]:
    """Every watched application of one CodeArts project, each with its last deployment."""
    url = f"{client.base_url(API)}/v1/applications/list"

    def body(page: int) -> dict[str, Any]:
        # By name: a deployment moves an application in startTime order, which would shift it between pages.
        return {"project_id": project.id, "page": page, "size": PAGE_SIZE, "sort_name": "name", "sort_by": "ASC"}

    def decode(response: requests.Response) -> Page:
        items, total = _result(client, response, url)
        return Page(items, total)

    try:
        listing = client.listing(API, url, body, decode, (page_from_one,),
                                 lambda raw: parse_application(raw, project), method="POST")
    except AuthError as err:
        raise _named(client, err) from None
    if project.include or project.exclude:
        listing = replace(listing, records=tuple(app for app in listing.records if project.watches(app.name)))
    return listing


def application_tasks(client: CodeArtsClient, app_id: str) -> tuple[DeployTask, ...]:
    """``GET /v1/applications/{app_id}/info``: an application's tasks, each with its latest ``release_id``
    (what the application list does not say of an application with several tasks)."""
    url = f"{client.base_url(API)}/v1/applications/{app_id}/info"
    try:
        response = client.get(API, url, {})
    except AuthError as err:
        raise _named(client, err) from None
    body = client.decode_json(response)
    error = error_in_body(body, url, response.status_code)
    if error is not None:
        raise error
    try:
        with client.checking(API, url):
            return parse_detail_tasks(body)
    except RecordError as err:
        raise PayloadError(f"unreadable application detail: {err}", url=url, status=response.status_code) from None


def history_dates(today: date, span_days: int) -> dict[str, str]:
    """``start_date``/``end_date`` covering ``span_days`` days back from ``today`` plus a day ahead (zone skew)."""
    return {"start_date": date.fromordinal(today.toordinal() - span_days).isoformat(),
            "end_date": date.fromordinal(today.toordinal() + 1).isoformat()}


def history_page(client: CodeArtsClient, project: DeployProject, task_id: str, page: int, size: int,
                 dates: dict[str, str]) -> HistoryPage:
    """Page ``page`` (1-based) of ``size`` (at most 100) of one task's deployment records within ``dates``."""
    url = f"{client.base_url(API)}/v2/{project.id}/task/{task_id}/history"
    try:
        response = client.get(API, url, {"page": page, "size": min(size, PAGE_SIZE), **dates})
    except AuthError as err:
        raise _named(client, err) from None
    items, total = _result(client, response, url)
    records = client.page_records(HISTORY_API, url, items, lambda raw: parse_record(raw, project.zone))
    return HistoryPage(records, len(items), total)
