"""Build run history routes of the simulator, consistent with the World's job listings.

``GET /v1/record/{build_project_id}/records`` (ListRecords: ``page`` from 1, ``limit`` up to 100,
``{status, error, result: {pagination, data: [BuildRecord]}}``, newest first, ``total: -1`` as in the
documented example) and the older ``GET /v3/jobs/{job_id}/history`` (ShowListHistory: ``offset`` = page
number from 0, ``limit``, ``interval`` days; ``{history_records: [HistoryRecord], total}``). Both list
the runs created within the World's history window, so runs older than it are gone, as upstream.
A run's record appears when the run is created (queued), and is final once it finishes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from exporter.simulator.cycle import Run
from exporter.simulator.records import hex_of, iso_time, trigger_and_user, uuid_of

if TYPE_CHECKING:
    from exporter.simulator.server import Reply, Simulator

RECORDS_PATH = re.compile(r"/v1/record/([^/]+)/records/?")
V3_HISTORY_PATH = re.compile(r"/v3/jobs/([^/]+)/history/?")
HISTORY_ROUTES: tuple[str, ...] = ("build_records", "build_history")
RECORDS_DEFAULT_LIMIT = 10
MAX_LIMIT = 100

# World outcomes in the records vocabulary (v1 and v3 spell a failure differently here on purpose: the
# full enumeration is undocumented, the exporter must accept both).
V1_STATUS = {"success": "SUCCESS", "failed": "FAILED", "timedout": "TIMEOUT", "canceled": "ABORTED"}
V3_RESULT = {"success": "SUCCESS", "failed": "FAILURE", "timedout": "TIMEOUT", "canceled": "ABORTED"}


def is_rerun(run: Run) -> bool:
    """One run in eight re-runs an earlier build: it still gets a build number of its own."""
    return (run.draw >> 52) % 8 == 0


def v1_record(spec_template: dict[str, Any], number: int, run: Run, at_ms: int) -> dict[str, Any]:
    """The ``BuildRecord`` of a run at ``at_ms``."""
    phase = run.phase_at(at_ms)
    done = phase == "done"
    trigger, user = trigger_and_user(run.draw)
    queued = run.started - run.created
    built = run.duration if done else 0
    return {
        "id": uuid_of(hex_of(run.draw, 32, salt=7)), "build_no": str(number),
        "daily_build_no": "", "status": V1_STATUS[run.outcome] if done else phase.upper(),
        "create_time": iso_time(run.created), "queued_time": iso_time(run.created),
        "start_time": iso_time(run.started) if phase != "pending" else "",
        "finish_time": iso_time(run.finished) if done else "",
        "duration": queued + built if done else 0, "build_duration": built,
        "pending_duration": queued if phase != "pending" else 0,
        "branch": spec_template["code_branch"], "revision": hex_of(run.draw, 40),
        "trigger_type": trigger, "user_id": user,
        "build_record_type": {"record_type": "JOB", "rerun": is_rerun(run), "is_rerun": is_rerun(run)},
        "project_id": spec_template["build_project_id"],
    }


def v3_record(spec_template: dict[str, Any], number: int, run: Run, at_ms: int) -> dict[str, Any]:
    """The ``HistoryRecord`` of a run at ``at_ms`` (no queue time in this API)."""
    done = run.phase_at(at_ms) == "done"
    return {
        "record_id": hex_of(run.draw, 32, salt=8), "job_id": spec_template["id"], "build_number": number,
        "start_time": iso_time(run.started), "end_time": iso_time(run.finished) if done else "",
        "result": V3_RESULT[run.outcome] if done else "",
    }


def dispatch(sim: Simulator, method: str, path: str, query: dict[str, list[str]],
             headers: Any) -> tuple[str, Reply] | None:
    """Answer a history route, or None if ``path`` is not one."""
    match = RECORDS_PATH.fullmatch(path)
    if match:
        key = match[1]
        return "build_records", sim._guarded("build", "build_records", f"build:{key}", method, headers,
                                            lambda: _records(sim, key, query))
    match = V3_HISTORY_PATH.fullmatch(path)
    if match:
        key = match[1]
        return "build_history", sim._guarded("build", "build_history", f"build:{key}", method, headers,
                                            lambda: _history(sim, key, query))
    return None


def _page(sim: Simulator, key: str, start: int, limit: int,
          shape: Callable[[dict[str, Any], int, Run, int], dict[str, Any]]) -> tuple[int, list[dict[str, Any]]] | None:
    """(total, records[start:start + limit]) of a build job now, newest first; None if unknown."""
    world = sim.world
    spec = world.build_spec(key)
    if spec is None:
        return None
    at_ms = world.now_ms()
    total, runs = world.build_runs(spec, at_ms / 1000, start, start + limit)
    return total, [shape(spec.template, number, run, at_ms) for number, run in runs]


def _records(sim: Simulator, key: str, query: dict[str, list[str]]) -> Reply:
    from exporter.simulator.server import _int_param, error_reply, json_reply  # server imports this module

    page = _int_param(query, "page", 1)
    limit = _int_param(query, "limit", RECORDS_DEFAULT_LIMIT)
    if page is None or limit is None or not 0 <= page <= 1_000_000 or not 1 <= limit <= MAX_LIMIT:
        return error_reply("build", 400)
    found = _page(sim, key, (max(page, 1) - 1) * limit, limit, v1_record)
    if found is None:
        return error_reply("build", 404)
    return json_reply(200, {"status": "success", "error": None, "result": {
        "pagination": {"page": max(page, 1), "limit": limit, "total": -1}, "data": found[1]}})


def _history(sim: Simulator, key: str, query: dict[str, list[str]]) -> Reply:
    from exporter.simulator.server import _int_param, error_reply, json_reply  # server imports this module

    offset = _int_param(query, "offset", 0)
    limit = _int_param(query, "limit", RECORDS_DEFAULT_LIMIT)
    interval = _int_param(query, "interval", 7)
    if offset is None or limit is None or interval is None or not 0 <= offset <= 1_000_000 \
            or not 1 <= limit <= MAX_LIMIT or not 1 <= interval <= 30:
        return error_reply("build", 400)
    found = _page(sim, key, offset * limit, limit, v3_record)
    if found is None:
        return error_reply("build", 404)
    total, records = found
    return json_reply(200, {"history_records": records, "total": total})
