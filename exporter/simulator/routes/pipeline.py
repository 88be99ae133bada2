"""CodeArts Pipeline (v5) routes of the simulator, from the World's :class:`PipelineService`.

``POST /v5/{project_id}/api/pipelines/list`` (ListPipelines: ``offset``/``limit`` in the JSON body, ``offset``
counting items or pages per the service's paging mode; ``{offset, limit, total, pipelines}``, each with its
``latest_run``), ``POST .../pipelines/{pipeline_id}/pipeline-runs/list`` (ListPipelineRuns, newest first, runs
created within the history window) and ``.../list-legacy`` (old-version pipelines: the same runs here),
``GET .../pipeline-runs/detail?pipeline_run_id=`` (ShowPipelineRunDetail, without the id: the latest run)
and ``POST /v5/{project_id}/api/pipelines/status`` (BatchShowPipelinesLatestStatus: a bare array of ids in,
a bare array of latest runs out). A denied project answers HTTP 200 with ``DEVCP.00014031``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from exporter.simulator.cloudpipelines import PipelineService, stage_jobs
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api, RequestContext, Route, Target

# DEVCP.00010000 (500) and DEVCP.00014031 (in a 200) are documented; the other codes are invented.
PIPELINE = Api("pipeline", {
    400: ("DEVCP.00010001", "Invalid request parameter"),
    401: ("DEVCP.00010401", "Authentication failed"),
    404: ("DEVCP.00012002", "Record does not exist"),
    405: ("DEVCP.00010405", "Method not allowed"),
    500: ("DEVCP.00010000", "Unknown service error"),
})
DENIED = {"error_code": "DEVCP.00014031", "error_msg": "Insufficient permissions"}
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_OFFSET = 10_000_000

# Faulted as pipeline:<project_id>.
PIPELINE_TARGET = Target(r"pipeline:[^/]+", lambda match: f"pipeline:{match[1]}")
_ID = r"([^/]+)"


def _service(context: RequestContext) -> PipelineService:
    return context.world.pipeline_service


def _body(context: RequestContext) -> Any:
    if not context.body.strip():
        return {}
    try:
        return json.loads(context.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _paging(body: Any) -> tuple[int, int] | None:
    """(offset, limit) from a request body; None if invalid."""
    if not isinstance(body, dict):
        return None
    offset, limit = body.get("offset", 0), body.get("limit", DEFAULT_LIMIT)
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (offset, limit)):
        return None
    if not 0 <= offset <= MAX_OFFSET or not 1 <= limit <= MAX_LIMIT:
        return None
    return offset, limit


def _list(context: RequestContext) -> Reply:
    service, project_id = _service(context), context.match[1]
    if project_id in service.denied:
        return json_reply(200, DENIED)
    body = _body(context)
    paging = _paging(body)
    if paging is None:
        return PIPELINE.error(400)
    pipelines = service.pipelines(project_id, body.get("query_new", True) is not False)
    if pipelines is None:
        return PIPELINE.error(404)
    offset, limit = paging
    start = service.start(offset, limit)
    at_ms = context.world.now_ms()
    items = [service.list_item(pipeline, at_ms) for pipeline in pipelines[start:start + limit]]
    return json_reply(200, {"offset": offset, "limit": limit, "total": len(pipelines), "pipelines": items})


def _runs(context: RequestContext) -> Reply:
    service, project_id = _service(context), context.match[1]
    if project_id in service.denied:
        return json_reply(200, DENIED)
    body = _body(context)
    paging = _paging(body)
    if paging is None:
        return PIPELINE.error(400)
    if context.match[3] == "list-legacy" and not (body.get("start_time") and body.get("end_time")):
        return PIPELINE.error(400)  # list-legacy requires a time range
    pipeline = service.pipeline(project_id, context.match[2])
    if pipeline is None:
        return PIPELINE.error(404)
    if (context.match[3] == "list-legacy") != (project_id in service.legacy):  # the other version's API
        return json_reply(200, {"error_code": "DEVCP.00012002", "error_msg": "record does not exist"})
    offset, limit = paging
    start = service.start(offset, limit)
    runs = service.runs(pipeline, context.world.now_ms())
    items = [service.run_payload(pipeline, run) for run in runs[start:start + limit]]
    return json_reply(200, {"offset": offset, "limit": limit, "total": len(runs), "pipeline_runs": items})


def _detail(context: RequestContext) -> Reply:
    service = _service(context)
    pipeline = service.pipeline(context.match[1], context.match[2])
    if pipeline is None:
        return PIPELINE.error(404)
    at_ms = context.world.now_ms()
    wanted = (context.query.get("pipeline_run_id") or [""])[0]
    runs = service.runs(pipeline, at_ms)
    run = next((run for run in runs if not wanted or service.run_id(run) == wanted), None)
    if run is None:
        return json_reply(200, {"error_code": "DEVCP.00012002", "error_msg": "record does not exist"})
    payload = service.run_payload(pipeline, run)
    stages = [{"id": stage["id"], "name": stage["name"], "sequence": stage["sequence"], "status": stage["status"],
               "start_time": item.start or 0, "end_time": item.end or 0, "pause_time": 0,
               "jobs": [{"id": f"{stage['id']}-{index}", "name": job.name, "sequence": index, "status": job.status,
                         "start_time": job.start or 0, "end_time": job.end or 0, "message": job.message,
                         "steps": []} for index, job in enumerate(stage_jobs(item))]}
              for stage, item in zip(payload["stage_status_list"], run.stages, strict=True)]
    return json_reply(200, {"id": payload["pipeline_run_id"], "pipeline_id": pipeline.id, "name": pipeline.name,
                            "status": run.status, "run_number": run.number, "trigger_type": run.trigger,
                            "start_time": run.start, "end_time": run.end or 0,
                            "pause_time": service.pause_ms(pipeline, run, at_ms),
                            "project_id": pipeline.project_id, "stages": stages,
                            "current_system_time": at_ms})


def _status(context: RequestContext) -> Reply:
    service, project_id = _service(context), context.match[1]
    ids = _body(context)
    if not isinstance(ids, list) or not all(isinstance(each, str) for each in ids):
        return PIPELINE.error(400)
    at_ms = context.world.now_ms()
    found = []
    for pipeline_id in ids:
        pipeline = service.pipeline(project_id, pipeline_id)
        latest = None if pipeline is None else service.latest(pipeline, at_ms)
        if pipeline is not None and latest is not None:
            found.append(service.run_payload(pipeline, latest))
    return json_reply(200, found)


_PIPELINES = rf"/v5/{_ID}/api/pipelines"
ROUTES: tuple[Route, ...] = (
    Route(PIPELINE, "pipeline_list", re.compile(rf"{_PIPELINES}/list/?"), _list, PIPELINE_TARGET, method="POST"),
    Route(PIPELINE, "pipeline_status", re.compile(rf"{_PIPELINES}/status/?"), _status, PIPELINE_TARGET,
          method="POST"),
    Route(PIPELINE, "pipeline_runs", re.compile(rf"{_PIPELINES}/{_ID}/pipeline-runs/(list|list-legacy)/?"), _runs,
          PIPELINE_TARGET, method="POST"),
    Route(PIPELINE, "pipeline_run_detail", re.compile(rf"{_PIPELINES}/{_ID}/pipeline-runs/detail/?"), _detail,
          PIPELINE_TARGET),
)
