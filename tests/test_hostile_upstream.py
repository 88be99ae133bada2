"""Hostile upstreams on loopback: redirects, drips, endless listings, bodies that cost work, forged log lines.

Each test reproduces an attack of issue 16 against :mod:`tests.hostile` and checks the exporter holds.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from exporter.config import load_config
from exporter.errors import PayloadError, RedirectError, TransportError
from exporter.limits import MAX_ITEMS_PER_LISTING, MAX_PAGES_PER_LISTING, SKIP_WARNINGS_PER_LISTING
from exporter.sources.build.fetch import list_build_jobs
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import run_cli, write_config
from .helpers.upstreamclient import PROJECT, client_for
from .hostile import HostileServer, response

PASSWORD = "hunter2-Pa55w0rd-9f3e"


def jobs(ids: range, total: int) -> dict[str, object]:
    return {"total": total, "jobs": [{"id": f"job{n:08d}", "job_name": f"job {n}", "last_build_status": "blue"}
                                     for n in ids]}


def answer(status: int, body: object = b"", headers: dict[str, str] | None = None):
    return lambda server, conn, request: conn.sendall(response(status, body, headers))


@pytest.fixture
def elsewhere():
    """The "other host" a redirect points to: it must never receive anything."""
    with HostileServer(answer(200, jobs(range(3), 3))) as server:
        yield server


# -- defect 1: redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_codearts_redirect_is_not_followed_and_names_where_it_pointed(elsewhere, status):
    location = f"http://localhost:{elsewhere.port}/v3/{PROJECT}/jobs"
    with HostileServer(answer(status, b"", {"Location": location})) as hostile:
        client = client_for(hostile.url)
        with pytest.raises(RedirectError) as caught:
            list_build_jobs(client, PROJECT)
        client.close()
    assert elsewhere.requests == [] and elsewhere.connections == 0
    assert f"redirected to http://localhost:{elsewhere.port}" in str(caught.value)
    assert "never followed" in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert len(hostile.requests) == 1  # not retried either


def test_a_redirected_target_is_down_with_the_redirect_as_its_error(tmp_path, elsewhere):
    location = f"http://localhost:{elsewhere.port}/elsewhere"
    with HostileServer(answer(302, b"", {"Location": location})) as hostile:
        config = load_config(write_config(tmp_path / "c.yaml", hostile.url, projects=[PROJECT]), sources=BUILTIN)
        exporter = Exporter(config)
        try:
            state, = exporter.poll_once().states
        finally:
            exporter.close()
    assert not state.up and "redirected to http://localhost" in state.error
    assert elsewhere.requests == []


def iam_config(tmp_path: Path, iam_url: str, codearts_url: str) -> Path:
    path = tmp_path / "iam.yaml"
    path.write_text(f"""\
endpoints: {{repo: {codearts_url}, build: {codearts_url}, iam: {iam_url}}}
auth:
  password: {{domain: acme, username: ci, password: {PASSWORD}, project_name: cn-north-4}}
poll: {{interval_seconds: 60, timeout_seconds: 2}}
projects: [{{id: {PROJECT}}}]
""")
    return path


def test_an_iam_307_does_not_send_the_password_anywhere_else(tmp_path, elsewhere, caplog):
    caplog.set_level(logging.DEBUG)
    iam = HostileServer(answer(307, b"", {"Location": f"http://localhost:{elsewhere.port}/v3/auth/tokens"}))
    with iam, HostileServer(answer(200, jobs(range(3), 3))) as codearts:
        exporter = Exporter(load_config(iam_config(tmp_path, iam.url, codearts.url), sources=BUILTIN))
        try:
            state, = exporter.poll_once().states
        finally:
            exporter.close()
    assert elsewhere.requests == [] and elsewhere.connections == 0
    assert len(iam.requests) == 1 and codearts.requests == []
    assert not state.up and "IAM redirected the token request to http://localhost" in state.error
    assert PASSWORD not in caplog.text


# -- defects 2 and 6: listings and bodies that never end or cost too much ------------------------------


def test_a_listing_that_never_ends_stops_at_the_page_limit(tmp_path):
    def endless(server, conn, request):
        page = int(request.query["page_index"][0])
        conn.sendall(response(200, jobs(range(page * 100, page * 100 + 100), 10**12)))

    with HostileServer(endless) as hostile:
        client = client_for(hostile.url)
        with pytest.raises(PayloadError, match="the limit") as caught:
            list_build_jobs(client, PROJECT)
        client.close()
    assert len(hostile.requests) <= MAX_PAGES_PER_LISTING
    assert len(hostile.requests) >= MAX_ITEMS_PER_LISTING // 100  # it did walk, up to a limit
    assert PROJECT in str(caught.value)  # the URL names the target


def test_a_page_of_a_million_malformed_items_logs_a_few_lines(caplog):
    body = json.dumps({"total": 10_000, "jobs": [7] * 10_000})
    with HostileServer(answer(200, body)) as hostile:
        client = client_for(hostile.url)
        listing = list_build_jobs(client, PROJECT)
        client.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "malformed" in r.getMessage()]
    assert listing.records == () and listing.skipped == 10_000
    assert len(warnings) == SKIP_WARNINGS_PER_LISTING + 1
    assert f"{10_000 - SKIP_WARNINGS_PER_LISTING} more" in warnings[-1].getMessage()


def test_a_page_with_more_items_than_a_listing_may_hold_is_refused_before_parsing():
    body = json.dumps({"total": 1, "jobs": [{"id": f"j{n}"} for n in range(MAX_ITEMS_PER_LISTING + 1)]})
    with HostileServer(answer(200, body)) as hostile:
        client = client_for(hostile.url)
        with pytest.raises(PayloadError, match=f"more than a listing may \\({MAX_ITEMS_PER_LISTING}\\)"):
            list_build_jobs(client, PROJECT)
        client.close()


def test_an_iam_body_over_its_cap_is_refused(tmp_path):
    huge = b'{"token": {"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    iam = HostileServer(answer(201, huge, {"X-Subject-Token": "t"}))
    with iam, HostileServer(answer(200, jobs(range(3), 3))) as codearts:
        exporter = Exporter(load_config(iam_config(tmp_path, iam.url, codearts.url), sources=BUILTIN))
        try:
            state, = exporter.poll_once().states
        finally:
            exporter.close()
    assert not state.up and "IAM answer larger than 1048576 bytes" in state.error


# -- defect 3: a response deadline over the status line, headers and body -----------------------------


def test_an_iam_answer_dripped_a_byte_at_a_time_ends_at_the_timeout(tmp_path):
    def drip(server, conn, request):
        server.drip(conn, response(201, {"token": {}}, {"X-Subject-Token": "t"}), every=0.1)

    iam = HostileServer(drip)
    with iam, HostileServer(answer(200, jobs(range(3), 3))) as codearts:
        # timeout_seconds: 2
        exporter = Exporter(load_config(iam_config(tmp_path, iam.url, codearts.url), sources=BUILTIN))
        started = time.monotonic()
        try:
            state, = exporter.poll_once().states
        finally:
            exporter.close()
        took = time.monotonic() - started
    assert not state.up and "IAM unreachable: no complete answer from the server within 2s" in state.error
    assert took < 3.0


@pytest.mark.parametrize("part", ["status line", "headers"])
def test_a_dripped_status_line_or_header_block_ends_at_the_timeout(part):
    whole = response(200, jobs(range(3), 3), {f"X-Pad-{n}": "y" * 20 for n in range(20)})
    split = 0 if part == "status line" else whole.index(b"\r\n") + 2

    def drip(server, conn, request):
        conn.sendall(whole[:split])
        server.drip(conn, whole[split:], every=0.1)  # ten bytes a second: every read well inside the timeout

    with HostileServer(drip) as hostile:
        client = client_for(hostile.url, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(TransportError, match="no complete answer from the server within 1s"):
            list_build_jobs(client, PROJECT)
        took = time.monotonic() - started
        client.close()
    assert 0.9 < took < 1.8


def test_once_against_a_dripping_server_returns_within_three_timeouts_plus_the_retry_budget(tmp_path):
    def drip(server, conn, request):
        server.drip(conn, response(200, jobs(range(3), 3)), every=0.2)

    with HostileServer(drip) as hostile:
        # interval 4: the retry deadline is half of it, 2 s
        path = write_config(tmp_path / "c.yaml", hostile.url, projects=[PROJECT], interval=4)
        path.write_text(path.read_text().replace("timeout_seconds: 5", "timeout_seconds: 1"))
        started = time.monotonic()
        result = run_cli("--once", "--config.file", str(path), timeout=30)
        took = time.monotonic() - started
    assert result.returncode == 1
    assert f'codearts_up{{api="build",target="{PROJECT}"}} 0.0' in result.stdout
    assert "no complete answer from the server within 1s" in result.stderr
    assert took < 3 * 1 + 2 + 1.5, took  # 1.5 s: the interpreter's own start and exit


# -- defect 8: log injection ------------------------------------------------------------------------


FORGED = "bad\nts=2026-01-01 level=ERROR logger=exporter msg=forged\r\x1b[2J\x1b[31mred\u2028x"


def test_control_characters_from_upstream_never_reach_a_log_line(tmp_path):
    body = {"error_code": "CB.0\n0001", "error_msg": FORGED}
    with HostileServer(answer(400, body)) as hostile:
        path = write_config(tmp_path / "c.yaml", hostile.url, projects=[PROJECT])
        result = run_cli("--once", "--log.level", "debug", "--config.file", str(path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any("msg=forged" in line for line in lines)  # the text is there, escaped, inside one line
    assert all(line.startswith("ts=") for line in lines[:-1]), lines
    assert lines[-1].startswith("codearts-exporter --once: "), "the summary, not a log line, ends --once"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u2028]", result.stderr)
    assert "\\x1b[31mred" in result.stderr and "bad\\nts=" in result.stderr
    assert not any(line.startswith("ts=2026-01-01") for line in lines)
