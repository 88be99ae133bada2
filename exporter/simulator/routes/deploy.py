"""CodeArts Deploy routes of the simulator, from the World's :class:`DeployService`.

``POST /v1/applications/list`` (ListAllApp: ``project_id``, 1-based ``page`` and ``size`` <= 100 in the JSON
body; ``{result, total_num, status: "success"}``, each application with its last deployment) and
``GET /v1/applications/{app_id}/info`` (ShowAppDetailById: the application with each task's ``release_id``) and
``GET /v2/{project_id}/task/{task_id}/history?page=&size=&start_date=&end_date=`` (ListDeployTaskHistoryByDate:
all four parameters required, dates ``yyyy-MM-dd`` at most 30 days apart; newest first). Errors come in the
nested shape the Deploy error-code page shows; a denied project answers as its setting says (module
:mod:`exporter.simulator.deployments`).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from exporter.simulator.deployments import DeployService
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api, RequestContext, Route, Target, error_body

# Deploy.00011154 (403) and Deploy.00011020 (404) are documented; the other codes are invented.
DEPLOY = Api("deploy", {
    400: ("Deploy.00011005", "Invalid request parameter"),
    401: ("Deploy.00010401", "Authentication failed"),
    403: ("Deploy.00011154", "Insufficient permissions"),
    404: ("Deploy.00011020", "The application does not exist or has been deleted"),
    405: ("Deploy.00010405", "Method not allowed"),
    500: ("Deploy.00010000", "Internal server error"),
}, nested=True)
MAX_SIZE = 100
MAX_PAGE = 99_999
MAX_SPAN_DAYS = 30
_PROJECT_ID = re.compile(r"[A-Za-z0-9]{32}")

# The history is faulted as deploy:<project_id>; the list names its project in the body, so only the route is.
DEPLOY_TARGET = Target(r"deploy:[^/]+", lambda match: f"deploy:{match['project']}")


def _service(context: RequestContext) -> DeployService:
    return context.world.deploy_service


def _denied(service: DeployService, project_id: str) -> Reply | None:
    how = service.denied.get(project_id) or ("403" if service.apps(project_id) is None else None)
    if how is None:
        return None
    code, message = DEPLOY.errors[403]
    if how == "200":
        return json_reply(200, error_body(code, message, nested=True))
    return json_reply(403, error_body(code, message, nested=how != "403-flat"))


def _body(context: RequestContext) -> Any:
    try:
        return json.loads(context.body.decode("utf-8")) if context.body.strip() else {}
    except (UnicodeDecodeError, ValueError):
        return None


def _number(value: object, high: int) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high else None


def _list(context: RequestContext) -> Reply:
    service = _service(context)
    body = _body(context)
    if not isinstance(body, dict) or not isinstance(body.get("project_id"), str) \
            or not _PROJECT_ID.fullmatch(body["project_id"]):
        return DEPLOY.error(400)
    page, size = _number(body.get("page"), MAX_PAGE), _number(body.get("size"), MAX_SIZE)
    if page is None or size is None:
        return DEPLOY.error(400)
    refused = _denied(service, body["project_id"])
    if refused is not None:
        return refused
    apps = service.apps(body["project_id"]) or ()
    if body.get("sort_name") == "name":
        apps = tuple(sorted(apps, key=lambda app: app.name, reverse=body.get("sort_by") == "DESC"))
    at_ms = context.world.now_ms()
    items = [service.list_item(app, at_ms) for app in apps[(page - 1) * size:page * size]]
    return json_reply(200, {"result": items, "total_num": len(apps), "status": service.list_status})


def _query_number(context: RequestContext, name: str, high: int) -> int | None:
    text = (context.query.get(name) or [""])[0]
    return _number(int(text), high) if text.isdigit() and len(text) <= 6 else None


def _date(context: RequestContext, name: str) -> date | None:
    text = (context.query.get(name) or [""])[0]
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def _history(context: RequestContext) -> Reply:
    service, project_id = _service(context), context.match["project"]
    page, size = _query_number(context, "page", MAX_PAGE), _query_number(context, "size", MAX_SIZE)
    start, end = _date(context, "start_date"), _date(context, "end_date")
    if page is None or size is None or start is None or end is None or not \
            0 <= (end - start).days <= MAX_SPAN_DAYS:
        return DEPLOY.error(400)
    refused = _denied(service, project_id)
    if refused is not None:
        return refused
    found = service.history(project_id, context.match["task"], start, end, context.world.now_ms(),
                            (page - 1) * size, page * size)
    if found is None:
        return DEPLOY.error(404)
    total, records = found
    return json_reply(200, {"result": [service.record(truth) for truth in records], "total_num": total})


def _info(context: RequestContext) -> Reply:
    service = _service(context)
    found = service.app(context.match["app"])
    if found is None:
        return DEPLOY.error(404)
    refused = _denied(service, found.project_id)
    if refused is not None:
        return refused
    return json_reply(200, {"result": service.detail(found, context.world.now_ms()), "status": "success"})


ROUTES: tuple[Route, ...] = (
    Route(DEPLOY, "deploy_list", re.compile(r"/v1/applications/list/?"), _list, method="POST"),
    Route(DEPLOY, "deploy_app_info", re.compile(r"/v1/applications/(?P<app>[^/]+)/info/?"), _info),
    Route(DEPLOY, "deploy_history", re.compile(r"/v2/(?P<project>[^/]+)/task/(?P<task>[^/]+)/history/?"), _history,
          DEPLOY_TARGET),
)
