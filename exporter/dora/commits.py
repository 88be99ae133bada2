"""Commit times from CodeArts Repo ``ShowCommit``, through the shared client (and so the Repo rate limit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.errors import NotFoundError, PayloadError
from exporter.payload import parse_timestamp

if TYPE_CHECKING:
    from exporter.client import CodeArtsClient

REPO_API = "repo"  # the Repo source's name: its base URL and its rate-limit bucket


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
