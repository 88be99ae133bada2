"""CodeArts ProjectMan routes of the simulator: the project list, for the names of CodeArts projects.

``GET /v4/projects`` (ListProjectsV4): ``offset`` (0..10000) and ``limit`` (1..1000) are required; the answer
is ``{"projects": [{project_id, project_name, project_num_id, description, created_time, updated_time,
project_type, creator}], "total": N}``, as the API Explorer's example. A world with ``projectman_denied``
answers 403, as for a user without the permission to list projects.
"""

from __future__ import annotations

import re
from typing import Any

from exporter.simulator.paging import int_param
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api, RequestContext, Route

# PM.00000001 (400) and DEV.00000003 (401) are the API Explorer's examples; the others are invented.
PROJECTMAN = Api("projectman", {
    400: ("PM.00000001", "Invalid parameter"),
    401: ("DEV.00000003", "Authentication information expired"),
    403: ("PM.02003101", "No permission to query the project list"),
    404: ("PM.00000404", "Not found"),
    405: ("PM.00000405", "Method not allowed"),
    500: ("PM.00000500", "Internal error"),
})
MAX_OFFSET, MAX_LIMIT = 10_000, 1000


def _project(project_id: str, name: str, number: int) -> dict[str, Any]:
    return {"project_num_id": 3_183_800 + number, "project_id": project_id, "project_name": name,
            "description": "", "created_time": 1_576_114_296_000, "updated_time": 1_576_114_296_000,
            "project_type": "scrum", "creator": {"user_num_id": 4097, "user_id": "c4bd39f0573a436589714bedbcca8536",
                                                "user_name": "sim", "domain_id": "", "domain_name": "sim",
                                                "nick_name": "sim"}}


def _projects(context: RequestContext) -> Reply:
    if context.world.projectman_denied:
        return PROJECTMAN.error(403)
    offset = int_param(context.query, "offset", -1)  # both required: absent is invalid
    limit = int_param(context.query, "limit", -1)
    if offset is None or limit is None or not 0 <= offset <= MAX_OFFSET or not 1 <= limit <= MAX_LIMIT:
        return PROJECTMAN.error(400)
    projects = context.world.projects_by_name()
    page = [_project(project_id, name, number) for number, (project_id, name) in enumerate(projects)]
    return json_reply(200, {"projects": page[offset:offset + limit], "total": len(projects)})


ROUTES: tuple[Route, ...] = (
    Route(PROJECTMAN, "projectman_projects", re.compile(r"/v4/projects/?"), _projects),
)
