"""CodeArts Repo routes of the simulator: pipeline jobs, and the discovery lists, from the World.

``GET /v4/repositories/{repository_id}/pipelines/{pipeline_id}/jobs`` (``offset``/``limit``, the total in
``X-Total``), ``GET /v4/projects/{project_id}/repositories`` (ListProjectRepositories), ``GET
/v4/repositories/{repository_id}/merge-requests`` (ListRepositoryMergeRequests: ``state`` all|opened|closed|
merged, default all; ``order_by`` created_at|updated_at, default created_at; ``sort`` asc|desc, default
desc), ``GET /v4/repositories/{repository_id}/merge-requests/{iid}/actual-head-pipeline``
(ShowActualHeadPipeline), ``GET /v4/repositories/{repository_id}`` (ShowRepository: its ``id`` and
``name``, the fields the exporter reads, beside a few others of the SDK's ``RepositoryDto``),
``GET /v4/repositories/{repository_id}/repository/commits?sha=`` (ShowCommit: one commit as a bare object, 404
for a SHA the repository does not have; see :mod:`exporter.simulator.commits`) and ``GET
/v4/repositories/{repository_id}/repository/commit-list?ref_name=`` (ListCommits from a SHA, newest first,
``offset``/``limit`` 1..100, default 20; ``{commits: [...], date_title: []}``). Lists page by
``offset``/``limit`` (1..100, default 20) under the simulator's Repo paging mode; only pipeline jobs send
``X-Total`` (the SDK reads it for them only).
"""

from __future__ import annotations

import re

from exporter.simulator.commits import commit_by_sha, commit_payload, commits_from
from exporter.simulator.paging import MAX_PAGE, int_param, repo_start
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api, RequestContext, Route, Target
from exporter.simulator.world import MAX_ID

# Repo 401/404 are documented; 400/500 come from the Repo error-code table.
REPO = Api("repo", {
    400: ("CH.010001", "Invalid parameter value format"),
    401: ("CH.00000002", "Recognize authentication information failed."),
    404: ("CH.00402000", "The repository does not exist. Check and try again."),
    405: ("CH.080403", "Access denied"),
    500: ("CH.000001", "Unknown error"),
})
REPO_DEFAULT_LIMIT = 20
MR_STATES = ("all", "opened", "closed", "merged")

PIPELINE = Target(r"repo:\d+/\d+", lambda match: f"repo:{int(match[1])}/{int(match[2])}")
PROJECT_REPOSITORIES = Target(r"repositories:[^/]+", lambda match: f"repositories:{match[1]}")
COMMITS = Target(r"commits:\d+", lambda match: f"commits:{int(match[1])}")
MERGE_REQUESTS = Target(r"merge_requests:\d+", lambda match: f"merge_requests:{int(match[1])}")
REPOSITORY = Target(r"repository:\d+", lambda match: f"repository:{int(match[1])}")


def _window(context: RequestContext) -> tuple[int, int] | None:
    """The item range ``offset``/``limit`` designate under the Repo paging mode; None if invalid."""
    offset = int_param(context.query, "offset", 0)
    limit = int_param(context.query, "limit", REPO_DEFAULT_LIMIT)
    if offset is None or limit is None or not 0 <= offset <= MAX_ID or not 1 <= limit <= MAX_PAGE:
        return None
    start = repo_start(context.repo_paging, offset, limit)
    return start, start + limit


def _pipeline_jobs(context: RequestContext) -> Reply:
    window = _window(context)
    if window is None:
        return REPO.error(400)
    page = context.world.pipeline_jobs_page(int(context.match[1]), int(context.match[2]), *window)
    if page is None:
        return REPO.error(404)
    total, jobs = page
    return json_reply(200, jobs, (("X-Total", str(total)),))


def _repositories(context: RequestContext) -> Reply:
    window = _window(context)
    if window is None:
        return REPO.error(400)
    page = context.world.project_repositories_page(context.match[1], *window)
    if page is None:
        return REPO.error(404)
    return json_reply(200, page[1])


def _repository(context: RequestContext) -> Reply:
    known = context.world.repository(int(context.match[1]))
    if known is None:
        return REPO.error(404)
    repository_id, name = known
    return json_reply(200, {"id": repository_id, "name": name, "namespace": "sim", "path": name,
                            "name_with_namespace": f"sim / {name}", "develop_mode": "normal",
                            "visibility": "private", "archived": False, "status": 0,
                            "web_url": f"https://devcloud.example.com/codehub/{repository_id}/home"})


def _merge_requests(context: RequestContext) -> Reply:
    query = context.query
    window = _window(context)
    state = (query.get("state") or ["all"])[0] or "all"
    order_by = (query.get("order_by") or ["created_at"])[0] or "created_at"
    sort = (query.get("sort") or ["desc"])[0] or "desc"
    if window is None or state not in MR_STATES or order_by not in ("created_at", "updated_at") \
            or sort not in ("asc", "desc"):
        return REPO.error(400)
    page = context.world.merge_requests_page(int(context.match[1]), state, sort == "desc",
                                             order_by == "updated_at", *window)
    if page is None:
        return REPO.error(404)
    return json_reply(200, page)


def _head_pipeline(context: RequestContext) -> Reply:
    world = context.world
    book = world.merge_request_book(int(context.match[1]))
    at_ms = world.now_ms()
    mr = None if book is None else book.by_iid(int(context.match[2]), at_ms)
    if book is None or mr is None:
        return REPO.error(404)
    return json_reply(200, book.head_pipeline_payload(mr, at_ms))


def _commit(context: RequestContext) -> Reply:
    sha = (context.query.get("sha") or [""])[0]
    if not sha:
        return REPO.error(400)
    commit = commit_by_sha(int(context.match[1]), sha)
    if commit is None:
        return REPO.error(404)
    return json_reply(200, commit_payload(commit))


def _commit_list(context: RequestContext) -> Reply:
    ref = (context.query.get("ref_name") or [""])[0]
    offset = int_param(context.query, "offset", 0)
    limit = int_param(context.query, "limit", REPO_DEFAULT_LIMIT)
    if not ref or offset is None or limit is None or not 0 <= offset <= MAX_ID or not 1 <= limit <= MAX_PAGE:
        return REPO.error(400)
    commit = commit_by_sha(int(context.match[1]), ref)
    if commit is None:
        return REPO.error(404)
    return json_reply(200, {"commits": [commit_payload(each) for each in commits_from(commit, offset, limit)],
                            "date_title": []})


ROUTES: tuple[Route, ...] = (
    Route(REPO, "repo_jobs", re.compile(r"/v4/repositories/(\d{1,10})/pipelines/(\d{1,10})/jobs/?"),
          _pipeline_jobs, PIPELINE),
    Route(REPO, "repo_repositories", re.compile(r"/v4/projects/([^/]+)/repositories/?"),
          _repositories, PROJECT_REPOSITORIES),
    Route(REPO, "repo_repository", re.compile(r"/v4/repositories/(\d{1,10})/?"), _repository, REPOSITORY),
    Route(REPO, "repo_merge_requests", re.compile(r"/v4/repositories/(\d{1,10})/merge-requests/?"),
          _merge_requests, MERGE_REQUESTS),
    Route(REPO, "repo_head_pipeline",
          re.compile(r"/v4/repositories/(\d{1,10})/merge-requests/(\d{1,10})/actual-head-pipeline/?"),
          _head_pipeline, MERGE_REQUESTS),
    Route(REPO, "repo_commit", re.compile(r"/v4/repositories/(\d{1,10})/repository/commits/?"), _commit, COMMITS),
    Route(REPO, "repo_commit_list", re.compile(r"/v4/repositories/(\d{1,10})/repository/commit-list/?"),
          _commit_list, COMMITS),
)
