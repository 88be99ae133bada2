"""Discovery routes of the simulator: a project's repositories, a repository's merge requests, and the
head pipeline of a merge request (CodeArts Repo v4), from the World.

``GET /v4/projects/{project_id}/repositories`` (ListProjectRepositories), ``GET
/v4/repositories/{repository_id}/merge-requests`` (ListRepositoryMergeRequests: ``state`` all|opened|closed|
merged, default all; ``order_by`` created_at|updated_at, default created_at; ``sort`` asc|desc, default
desc) and ``GET /v4/repositories/{repository_id}/merge-requests/{iid}/actual-head-pipeline``
(ShowActualHeadPipeline). Lists page by ``offset``/``limit`` (1..100, default 20) under the simulator's
Repo paging mode and send no ``X-Total`` header (the SDK reads it for pipeline jobs only).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exporter.simulator.server import Reply, Simulator

REPOSITORIES_PATH = re.compile(r"/v4/projects/([^/]+)/repositories/?")
MERGE_REQUESTS_PATH = re.compile(r"/v4/repositories/(\d{1,10})/merge-requests/?")
HEAD_PIPELINE_PATH = re.compile(r"/v4/repositories/(\d{1,10})/merge-requests/(\d{1,10})/actual-head-pipeline/?")
DISCOVERY_ROUTES: tuple[str, ...] = ("repo_repositories", "repo_merge_requests", "repo_head_pipeline")
MR_STATES = ("all", "opened", "closed", "merged")


def dispatch(sim: Simulator, method: str, path: str, query: dict[str, list[str]],
             headers: Any) -> tuple[str, Reply] | None:
    """Answer a discovery route, or None if ``path`` is not one."""
    match = REPOSITORIES_PATH.fullmatch(path)
    if match:
        project = match[1]
        return "repo_repositories", sim._guarded("repo", "repo_repositories", f"repositories:{project}", method,
                                                headers, lambda: _repositories(sim, project, query))
    match = MERGE_REQUESTS_PATH.fullmatch(path)
    if match:
        repo = int(match[1])
        return "repo_merge_requests", sim._guarded("repo", "repo_merge_requests", f"merge_requests:{repo}", method,
                                                  headers, lambda: _merge_requests(sim, repo, query))
    match = HEAD_PIPELINE_PATH.fullmatch(path)
    if match:
        repo, iid = int(match[1]), int(match[2])
        return "repo_head_pipeline", sim._guarded("repo", "repo_head_pipeline", f"merge_requests:{repo}", method,
                                                 headers, lambda: _head_pipeline(sim, repo, iid))
    return None


def _window(sim: Simulator, query: dict[str, list[str]]) -> tuple[int, int] | None:
    from exporter.simulator.server import MAX_PAGE, REPO_DEFAULT_LIMIT, _int_param, repo_start

    offset = _int_param(query, "offset", 0)
    limit = _int_param(query, "limit", REPO_DEFAULT_LIMIT)
    if offset is None or limit is None or not 0 <= offset <= 2_147_483_647 or not 1 <= limit <= MAX_PAGE:
        return None
    start = repo_start(sim.repo_paging, offset, limit)
    return start, start + limit


def _repositories(sim: Simulator, project: str, query: dict[str, list[str]]) -> Reply:
    from exporter.simulator.server import error_reply, json_reply

    window = _window(sim, query)
    if window is None:
        return error_reply("repo", 400)
    page = sim.world.project_repositories_page(project, *window)
    if page is None:
        return error_reply("repo", 404)
    return json_reply(200, page[1])


def _merge_requests(sim: Simulator, repo: int, query: dict[str, list[str]]) -> Reply:
    from exporter.simulator.server import error_reply, json_reply

    window = _window(sim, query)
    state = (query.get("state") or ["all"])[0] or "all"
    order_by = (query.get("order_by") or ["created_at"])[0] or "created_at"
    sort = (query.get("sort") or ["desc"])[0] or "desc"
    if window is None or state not in MR_STATES or order_by not in ("created_at", "updated_at") \
            or sort not in ("asc", "desc"):
        return error_reply("repo", 400)
    page = sim.world.merge_requests_page(repo, state, sort == "desc", order_by == "updated_at", *window)
    if page is None:
        return error_reply("repo", 404)
    return json_reply(200, page)


def _head_pipeline(sim: Simulator, repo: int, iid: int) -> Reply:
    from exporter.simulator.server import error_reply, json_reply

    world = sim.world
    book = world.merge_request_book(repo)
    at_ms = world.now_ms()
    mr = None if book is None else book.by_iid(iid, at_ms)
    if book is None or mr is None:
        return error_reply("repo", 404)
    return json_reply(200, book.head_pipeline_payload(mr, at_ms))
