"""Issue 20 B2: a listing's total as a digit string, a float or absent (and Repo without ``X-Total``) no longer
cuts the listing short; each such answer is named once as a contradicted assumption."""

from __future__ import annotations

import logging

import pytest

from exporter.limits import MAX_ITEMS_PER_LISTING
from exporter.sources.build.fetch import list_build_jobs
from exporter.sources.repo.fetch import list_open_merge_requests, list_pipeline_jobs

from .helpers.upstreamclient import PROJECT, client_for
from .hostile import HostileServer, response

JOBS = 1_000


def build_jobs_answering(total: object, count: int = JOBS):
    """A Build job listing of ``count`` jobs, 0-based pages, with ``total`` as given (``...``: no total)."""
    def behaviour(server, conn, request):
        page, size = int(request.query["page_index"][0]), int(request.query["page_size"][0])
        items = [{"id": f"job{n:06d}", "job_name": f"job {n}", "last_build_status": "blue"}
                 for n in range(page * size, min(page * size + size, count))]
        body: dict[str, object] = {"jobs": items}
        if total is not ...:
            body["total"] = total
        conn.sendall(response(200, body))
    return behaviour


@pytest.mark.parametrize(("total", "contradicts"), [
    (JOBS, None), (str(JOBS), "total_is_integer"), (float(JOBS), "total_is_integer"), (..., "total_present"),
    ("a thousand", "total_is_integer"), (-1, "total_is_integer"),
])
def test_a_build_listing_is_walked_to_its_end_whatever_its_total(total, contradicts):
    with HostileServer(build_jobs_answering(total)) as hostile:
        client = client_for(hostile.url)
        listing = list_build_jobs(client, PROJECT)
        client.close()
    assert [job.id for job in listing.records] == [f"job{n:06d}" for n in range(JOBS)]
    assert listing.complete == (contradicts in (None, "total_is_integer") and total not in ("a thousand", -1))
    assert len(hostile.requests) <= JOBS // 100 + 1
    counts = {key: n for key, n in client.stats.assumptions.counts().items() if n}
    expected = {("build", contradicts): 1} if contradicts else {}
    if total in ("a thousand", -1):
        expected[("build", "total_present")] = 1  # unreadable: walked as if there were none
    assert counts == expected


def test_a_repo_listing_without_x_total_is_walked_to_its_end():
    def behaviour(server, conn, request):
        offset, limit = int(request.query["offset"][0]), int(request.query["limit"][0])
        items = [{"id": n, "name": f"job {n}", "status": "success", "stage": "build"}
                 for n in range(offset + 1, min(offset + limit, 750) + 1)]
        conn.sendall(response(200, items))

    with HostileServer(behaviour) as hostile:
        client = client_for(hostile.url)
        listing = list_pipeline_jobs(client, 7, 9)
        client.close()
    assert [job.id for job in listing.records] == list(range(1, 751))
    assert {key: n for key, n in client.stats.assumptions.counts().items() if n} == {("repo", "total_present"): 1}


def test_a_listing_without_total_that_never_ends_stops_at_the_page_limit_marked_incomplete(caplog):
    def endless(server, conn, request):
        page = int(request.query["page_index"][0])
        items = [{"id": f"job{n:08d}", "job_name": "j", "last_build_status": "red"}
                 for n in range(page * 100, page * 100 + 100)]
        conn.sendall(response(200, {"jobs": items}))

    with HostileServer(endless) as hostile, caplog.at_level(logging.WARNING):
        client = client_for(hostile.url)
        listing = list_build_jobs(client, PROJECT)
        client.close()
    assert len(hostile.requests) == MAX_ITEMS_PER_LISTING // 100  # as many full pages as a listing may hold
    assert not listing.complete and len(listing.records) == MAX_ITEMS_PER_LISTING
    assert any("the page limit" in r.getMessage() and "incomplete" in r.getMessage() for r in caplog.records)


def test_a_repo_listing_that_documents_no_total_walks_to_its_end_without_naming_an_assumption():
    def behaviour(server, conn, request):
        offset, limit = int(request.query["offset"][0]), int(request.query["limit"][0])
        numbers = range(offset + 1, min(offset + limit, 230) + 1)
        conn.sendall(response(200, [{"iid": n, "state": "opened"} for n in numbers]))

    with HostileServer(behaviour) as hostile:
        client = client_for(hostile.url)
        listing = list_open_merge_requests(client, 7)
        client.close()
    assert [request.iid for request in listing.records] == list(range(1, 231))
    assert {key: n for key, n in client.stats.assumptions.counts().items() if n} == {}
