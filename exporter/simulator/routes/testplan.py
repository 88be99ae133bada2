"""CodeArts TestPlan routes of the simulator, from the World's :class:`TestPlanService`.

``GET /v2/projects/{project_id}/plans`` (ShowPlanList): ``offset`` (0-999) and ``limit`` (1-200) required,
``offset`` counting items or pages per the service's paging mode; optional ``current_stage`` and ``name``
(a substring) filters. Answered with HTTP **201** and a bare array of ``TestPlanDetail``, no total, as the
API Explorer definition says.
"""

from __future__ import annotations

import re

from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api, RequestContext, Route, Target
from exporter.simulator.testplans import STAGES, TestPlanService

# The API-def documents the {error_code, error_msg} shape with "CLOUDTEST.000XXXXX"; the codes are invented.
TESTPLAN = Api("testplan", {
    400: ("CLOUDTEST.00000400", "Invalid request parameter"),
    401: ("CLOUDTEST.00000401", "Authentication failed"),
    403: ("CLOUDTEST.00000403", "No permission for this project"),
    404: ("CLOUDTEST.00000404", "Project does not exist"),
    405: ("CLOUDTEST.00000405", "Method not allowed"),
    500: ("CLOUDTEST.00000500", "Internal server error"),
})
MAX_OFFSET = 999
MAX_LIMIT = 200

# Faulted as testplan:<project_id>.
TESTPLAN_TARGET = Target(r"testplan:[^/]+", lambda match: f"testplan:{match[1]}")


def _integer(context: RequestContext, name: str, low: int, high: int) -> int | None:
    values = context.query.get(name)
    if not values or not values[0].isdigit():
        return None
    value = int(values[0])
    return value if low <= value <= high else None


def _plans(context: RequestContext) -> Reply:
    service: TestPlanService = context.world.testplan_service
    project_id = context.match[1]
    if project_id in service.denied:
        return TESTPLAN.error(403)
    offset = _integer(context, "offset", 0, MAX_OFFSET)
    limit = _integer(context, "limit", 1, MAX_LIMIT)
    stage = (context.query.get("current_stage") or [""])[0]
    if offset is None or limit is None or (stage and stage not in STAGES):
        return TESTPLAN.error(400)
    plans = service.plans(project_id)
    if plans is None:
        return TESTPLAN.error(404)
    at_ms = context.world.now_ms()
    name = (context.query.get("name") or [""])[0]
    chosen = [plan for plan in plans if name in plan.name
              and (not stage or service.truth(plan, at_ms).stage == stage)]
    start = service.start(offset, limit)
    page = [service.payload(plan, at_ms) for plan in chosen[start:start + limit]]
    if project_id in service.not_array:
        return json_reply(201, {"plans": page})
    return json_reply(201, page)


ROUTES: tuple[Route, ...] = (
    Route(TESTPLAN, "testplan_plans", re.compile(r"/v2/projects/([^/]+)/plans/?"), _plans, TESTPLAN_TARGET),
)
