"""CodeArts Build routes of the simulator: a project's jobs and a job's run history, from the World.

``GET /v3/{project_id}/jobs`` (ListProjectJobs: ``page_index`` under the simulator's Build paging mode,
``page_size`` 1..100, default 10; ``{total, jobs}``), ``GET /v1/record/{build_project_id}/records``
(ListRecords: ``page`` from 1, ``limit`` up to 100, ``{status, error, result: {pagination, data:
[BuildRecord]}}``, newest first, ``total: -1`` as in the documented example) and the older ``GET
/v3/jobs/{job_id}/history`` (ShowListHistory: ``offset`` = page number from 0, ``limit``, ``interval``
days; ``{history_records: [HistoryRecord], total}``), and the batch ``POST /v1/record/brief?limit=N``
(ListBriefRecord: a JSON array of ``build_project_id`` s, ``limit`` 0..100, default 10; ``{result:
[{project_id, brief_build_record_dtos: [BriefBuildRecord]}]}``, the last ``limit`` records of each known
id, newest first), ``GET /v1/report/{job_id}/summary?build_no=`` (ShowReportSummary: a finished build's
unit-test counts, see :mod:`exporter.simulator.testreports`) and ``GET /v1/record/{job_id}/{build_no}/record-info``
(ShowJobBuildRecordDetail: the record's ``commit``, a commit of the job's ``repo_id`` that the Repo ShowCommit
route knows, and its ``commit_create_time`` in UTC; a DORA Deploy application's commits come from here). The
history routes list the runs created within the World's history window, so runs older than it are gone, as
upstream. A run's record appears when the run is created (queued), and is final once it finishes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from exporter.simulator import testreports
from exporter.simulator.commits import head_commit
from exporter.simulator.cycle import Run
from exporter.simulator.paging import MAX_PAGE, build_start, int_param
from exporter.simulator.records import iso_time, v1_record, v3_record
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api, RequestContext, Route, Target
from exporter.simulator.world import MAX_ID

# Build 400/404/500 are documented; 401 is invented (no documented code). Build throttles with HTTP 500.
BUILD = Api("build", {
    400: ("CB.00060200", "Invalid parameter"),
    401: ("CB.00060001", "Authentication failed"),
    404: ("CB.00060214", "URL not found"),
    405: ("CB.00060200", "Invalid parameter"),
    500: ("CB.00060101", "Internal error"),
}, throttle_reply=json_reply(500, {"error_code": "CB.00060211", "error_msg": "Too many requests. Try again later."}))
BUILD_DEFAULT_PAGE_SIZE = 10  # page_size is mandatory per the docs; 10 is ListProjectJobs' documented default
RECORDS_DEFAULT_LIMIT = 10
MAX_LIMIT = 100

# A project's jobs and a job's history are both faulted as build:<key> (a project id or a job id).
BUILD_TARGET = Target(r"build:[^/]+", lambda match: f"build:{match[1]}")

Shape = Callable[[dict[str, Any], int, Run, int], dict[str, Any]]


def _jobs(context: RequestContext) -> Reply:
    page_index = int_param(context.query, "page_index", 0)
    page_size = int_param(context.query, "page_size", BUILD_DEFAULT_PAGE_SIZE)
    if page_index is None or page_size is None or not 0 <= page_index <= MAX_ID or not 1 <= page_size <= MAX_PAGE:
        return BUILD.error(400)
    start = build_start(context.build_paging, page_index, page_size)
    if start is None:
        return BUILD.error(400)
    page = context.world.build_jobs_page(context.match[1], start, start + page_size)
    if page is None:
        return BUILD.error(404)
    total, jobs = page
    return json_reply(200, {"total": total, "jobs": jobs})


def _page(context: RequestContext, start: int, limit: int, shape: Shape) -> tuple[int, list[dict[str, Any]]] | None:
    """(total, records[start:start + limit]) of the matched build job now, newest first; None if unknown."""
    world = context.world
    spec = world.build_spec(context.match[1])
    if spec is None:
        return None
    at_ms = world.now_ms()
    total, runs = world.build_runs(spec, at_ms / 1000, start, start + limit)
    return total, [shape(spec.template, number, run, at_ms) for number, run in runs]


def _records(context: RequestContext) -> Reply:
    page = int_param(context.query, "page", 1)
    limit = int_param(context.query, "limit", RECORDS_DEFAULT_LIMIT)
    if page is None or limit is None or not 0 <= page <= 1_000_000 or not 1 <= limit <= MAX_LIMIT:
        return BUILD.error(400)
    found = _page(context, (max(page, 1) - 1) * limit, limit, v1_record)
    if found is None:
        return BUILD.error(404)
    return json_reply(200, {"status": "success", "error": None, "result": {
        "pagination": {"page": max(page, 1), "limit": limit, "total": -1}, "data": found[1]}})


def _history(context: RequestContext) -> Reply:
    offset = int_param(context.query, "offset", 0)
    limit = int_param(context.query, "limit", RECORDS_DEFAULT_LIMIT)
    interval = int_param(context.query, "interval", 7)
    if offset is None or limit is None or interval is None or not 0 <= offset <= 1_000_000 \
            or not 1 <= limit <= MAX_LIMIT or not 1 <= interval <= 30:
        return BUILD.error(400)
    found = _page(context, offset * limit, limit, v3_record)
    if found is None:
        return BUILD.error(404)
    total, records = found
    return json_reply(200, {"history_records": records, "total": total})


# The fields of a BriefBuildRecord (API-def ListBriefRecord.json), taken from the full record.
BRIEF_FIELDS = ("id", "build_no", "status", "create_time", "queued_time", "start_time", "finish_time", "duration",
                "build_duration", "pending_duration", "branch", "revision", "project_id")


def _brief_record(spec_template: dict[str, Any], number: int, run: Run, at_ms: int) -> dict[str, Any]:
    full = v1_record(spec_template, number, run, at_ms)
    brief = {field: full[field] for field in BRIEF_FIELDS}
    brief |= {"daily_build_number": full["daily_build_no"], "schedule_time": full["start_time"],
              "trigger_name": full["trigger_type"]}
    return brief


def _brief(context: RequestContext) -> Reply:
    limit = int_param(context.query, "limit", RECORDS_DEFAULT_LIMIT)
    try:
        ids = json.loads(context.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        ids = None
    if limit is None or not 0 <= limit <= MAX_LIMIT or not isinstance(ids, list) \
            or not all(isinstance(key, str) for key in ids):
        return BUILD.error(400)
    world = context.world
    at_ms = world.now_ms()
    result = []
    for key in dict.fromkeys(ids):  # each id once, in the order asked
        spec = world.build_spec(key)
        if spec is None or spec.template["build_project_id"] != key or key in world.brief_leaves_out:
            continue
        _, runs = world.build_runs(spec, at_ms / 1000, 0, limit)
        result.append({"project_id": key, "brief_build_record_dtos": [
            _brief_record(spec.template, number, run, at_ms) for number, run in runs]})
    return json_reply(200, {"status": "success", "error": None, "result": result})


def _record_info(context: RequestContext) -> Reply:
    world = context.world
    spec = world.build_spec(context.match[1])
    number = int(context.match[2])
    at_ms = world.now_ms()
    runs = dict(world.build_runs(spec, at_ms / 1000)[1]) if spec is not None else {}
    run = runs.get(number)
    if spec is None or run is None:
        return BUILD.error(404)
    template = spec.template
    commit = head_commit(int(template["repo_id"]), run.created, run.draw)
    done = run.phase_at(at_ms) == "done"
    return json_reply(200, {"status": "success", "error": None, "result": {
        "commit": commit.sha, "commit_message": f"sim change {commit.index}",
        "commit_create_time": time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(commit.committed)),
        "branch": template["code_branch"], "repo_id": template["repo_id"],
        "repo_name": f"repo-{template['repo_id']}", "finish_time": iso_time(run.finished) if done else "",
        "duration": float(run.duration if done else 0)}})


def _test_report(context: RequestContext) -> Reply:
    """ShowReportSummary of a build: 404 for a job without a test step or a build without a report yet."""
    world, job_id = context.world, context.match[1]
    number = int_param(context.query, "build_no", 0)
    if number is None or number < 1:
        return BUILD.error(400)
    spec = world.build_spec(job_id)
    if spec is None or spec.template["id"] != job_id:
        return BUILD.error(404)
    kind = testreports.profile(world.seed, job_id)
    run = world.build_run(spec, number)
    if kind == "none" or run is None or run.finished > world.now_ms():
        return BUILD.error(404)
    if kind == "empty":
        return json_reply(200, {"status": "success", "error": None, "result": {"summary": None, "sub_summarys": []}})
    return json_reply(200, testreports.report_body(world.seed, job_id, number, run,
                                                   world.test_report_overrides.get(job_id)))


ROUTES: tuple[Route, ...] = (
    Route(BUILD, "build_jobs", re.compile(r"/v3/([^/]+)/jobs/?"), _jobs, BUILD_TARGET),
    Route(BUILD, "build_records", re.compile(r"/v1/record/([^/]+)/records/?"), _records, BUILD_TARGET),
    Route(BUILD, "build_history", re.compile(r"/v3/jobs/([^/]+)/history/?"), _history, BUILD_TARGET),
    Route(BUILD, "build_brief", re.compile(r"/v1/record/brief/?"), _brief, method="POST"),
    Route(BUILD, "build_test_report", re.compile(r"/v1/report/([^/]+)/summary/?"), _test_report, BUILD_TARGET),
    Route(BUILD, "build_record_info", re.compile(r"/v1/record/([^/]+)/(\d{1,9})/record-info/?"), _record_info,
          BUILD_TARGET),
)
