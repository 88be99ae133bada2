"""The requests of the names source, through the shared client: ProjectMan's project list, and the Repo
requests that name repositories (the Repo source's own, reused)."""

from __future__ import annotations

from typing import Any

import requests

from exporter.client import PAGE_SIZE, CodeArtsClient, ParsedListing
from exporter.errors import PayloadError
from exporter.pagination import ITEM_OR_PAGE_READINGS, Page
from exporter.payload import RecordError
from exporter.sources.projectman.models import REPOSITORY, Name, parse_project
from exporter.sources.projectman.targets import API
from exporter.sources.repo import targets as repo_targets
from exporter.sources.repo.models import parse_repository


def _paging_item(item: Any) -> Any:
    """A project as the paging walk reads it: its ``project_id`` as ``id``, so a page seen twice is known."""
    if isinstance(item, dict) and "id" not in item and isinstance(item.get("project_id"), str):
        return {**item, "id": item["project_id"]}
    return item


def list_projects(client: CodeArtsClient) -> ParsedListing[Name]:
    """The CodeArts projects the user takes part in (``GET /v4/projects``, ListProjectsV4), with their names.

    ``offset`` is read as an item offset first (the docs: "offset, from 0"); the paging walk checks that at
    run time and falls back to page numbers, as for Repo's lists."""
    url = f"{client.base_url(API)}/v4/projects"

    def decode(response: requests.Response) -> Page:
        body = client.decode_json(response)
        projects = body.get("projects") if isinstance(body, dict) else None
        if not isinstance(projects, list):
            raise PayloadError("expected an object with a projects array", url=url, status=response.status_code)
        total = body.get("total")
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        return Page([_paging_item(item) for item in projects], total)

    return client.listing(API, url, lambda offset: {"offset": offset, "limit": PAGE_SIZE}, decode,
                          ITEM_OR_PAGE_READINGS, parse_project)


def repository_name(client: CodeArtsClient, repository_id: int) -> Name:
    """A repository's name from its own API (``GET /v4/repositories/{repository_id}``, ShowRepository); the
    body is assumed to carry ``id`` and ``name`` as the repository lists do (a body without is a PayloadError)."""
    url = f"{client.base_url(repo_targets.API)}/v4/repositories/{repository_id}"
    response = client.get(repo_targets.API, url, {})
    try:
        repository = parse_repository(client.decode_json(response))
    except RecordError as err:
        raise PayloadError(f"unexpected repository body: {err}", url=url, status=response.status_code) from None
    return Name(str(repository.id), repository.name, REPOSITORY)
