"""Commit times from CodeArts Repo, through the shared client (and so the Repo rate limit): one commit
(``ShowCommit``), or the commits up to a deployed one (``ListCommits`` from its SHA, for ``all_commits``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.errors import NotFoundError, PayloadError
from exporter.payload import parse_timestamp

if TYPE_CHECKING:
    from exporter.client import CodeArtsClient

REPO_API = "repo"  # the Repo source's name: its base URL and its rate-limit bucket
MAX_CHANGES = 100  # commits one all_commits lookup reads (one page of ListCommits, its largest)


def commit_time(client: CodeArtsClient, repository: str, sha: str) -> float | None:
    """The ``committed_date`` of commit ``sha`` of Repo repository ``repository`` (epoch seconds); None if
    Repo does not know it (404, or a repository id that is not a number). Raises
    :class:`exporter.errors.CodeArtsError` for anything else (asked again in a later cycle)."""
    if not repository.isdigit() or not sha.isalnum():
        return None
    url = f"{client.base_url(REPO_API)}/v4/repositories/{int(repository)}/repository/commits"
    try:
        response = client.get(REPO_API, url, {"sha": sha})
    except NotFoundError:
        return None
    body = client.decode_json(response)
    committed = parse_timestamp(body.get("committed_date")) if isinstance(body, dict) else None
    if committed is None:
        raise PayloadError("ShowCommit body without a readable committed_date", url=url, status=response.status_code)
    return committed


def commits_up_to(client: CodeArtsClient, repository: str, sha: str) -> list[tuple[str, float]] | None:
    """(sha, committed_date) of commit ``sha`` and up to :data:`MAX_CHANGES` - 1 of its predecessors, newest
    first, in one request; None if Repo does not know the commit (404, or not a repository id). Commits whose
    date is unreadable are left out. Raises :class:`exporter.errors.CodeArtsError` for anything else."""
    if not repository.isdigit() or not sha.isalnum():
        return None
    url = f"{client.base_url(REPO_API)}/v4/repositories/{int(repository)}/repository/commit-list"
    try:
        response = client.get(REPO_API, url, {"ref_name": sha, "offset": 0, "limit": MAX_CHANGES})
    except NotFoundError:
        return None
    body = client.decode_json(response)
    items = body.get("commits") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise PayloadError("ListCommits body without a commits array", url=url, status=response.status_code)
    found = []
    for item in items[:MAX_CHANGES]:
        committed = parse_timestamp(item.get("committed_date")) if isinstance(item, dict) else None
        if committed is not None and isinstance(item.get("id"), str):
            found.append((item["id"], committed))
    return found
