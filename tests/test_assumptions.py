"""Issue 20 A: an assumption a live answer contradicts is said once by name (log, landing page, counter), and the
exporter falls back to what still works."""

from __future__ import annotations

import logging
from pathlib import Path

from exporter.assumptions import KNOWN, AssumptionLog, checking, contradicted
from exporter.config import load_config
from exporter.landing import render_landing
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import write_config
from .helpers.upstreamclient import PROJECT
from .hostile import HostileServer, response


def digit_string_total(server, conn, request):
    page = int(request.query["page_index"][0])
    items = [{"id": f"job{n:04d}", "job_name": f"job {n}", "last_build_status": "red"}
             for n in range(page * 100, min(page * 100 + 100, 250))]
    conn.sendall(response(200, {"total": "250", "jobs": items}))


def metric_lines(exporter: Exporter, name: str) -> list[str]:
    return [line for line in exporter.metrics_text().decode().splitlines() if line.startswith(name + "{")]


def test_a_contradicted_assumption_is_logged_once_shown_and_counted_and_the_listing_kept(tmp_path: Path, caplog):
    with HostileServer(digit_string_total) as hostile, caplog.at_level(logging.WARNING):
        exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", hostile.url, projects=[PROJECT]),
                                        sources=BUILTIN))
        try:
            first = exporter.poll_once()
            second = exporter.poll_once()
            counters = metric_lines(exporter, "codearts_api_assumption_failures_total")
            page = render_landing(second, exporter.landing_info(), 0.0)
        finally:
            exporter.close()
    for snapshot in (first, second):
        state, = snapshot.states
        assert state.up and len(state.records) == 250  # fell back: the digit string read as 250
    said = [r.getMessage() for r in caplog.records if "assumption total_is_integer" in r.getMessage()]
    assert len(said) == 1  # once, not every cycle
    assert "build API" in said[0] and f"/v3/{PROJECT}/jobs" in said[0] and "'250'" in said[0]
    assert 'codearts_api_assumption_failures_total{api="build",assumption="total_is_integer"} 1.0' in counters
    zero = {f'codearts_api_assumption_failures_total{{api="build",assumption="{each.name}"}} 0.0'
            for each in KNOWN if "build" in each.apis and each.name != "total_is_integer"}
    assert zero <= set(counters)  # the known ones start at zero
    section = page.split("<h2>Assumptions contradicted</h2>", 1)[1].split("<h2>", 1)[0]
    assert "total_is_integer" in section and f"/v3/{PROJECT}/jobs" in section and "digit string" in section


def test_a_page_without_contradictions_says_so():
    log = AssumptionLog(["build"])
    assert log.contradictions() == ()
    assert set(log.counts().values()) == {0}


def test_each_target_counts_once_and_the_log_falls_silent_after_ten(caplog):
    log = AssumptionLog(["pipeline"])
    with caplog.at_level(logging.WARNING):
        for round_ in range(3):
            for target in range(25):
                with checking(log, "pipeline", f"t{target}"):
                    contradicted("status_vocabulary", f"status 'WEIRD' (round {round_})")
    assert log.counts()[("pipeline", "status_vocabulary")] == 25
    assert len(caplog.records) == 11 and "no more are logged" in caplog.records[-1].getMessage()
    first, = log.contradictions()
    assert (first.target, first.targets) == ("t0", 25)


def test_a_parser_outside_a_checking_scope_reports_nothing():
    contradicted("status_vocabulary", "no scope")  # a unit test calling a parser directly: no error, no effect


def test_every_known_assumption_is_in_the_reliability_docs():
    text = (Path(__file__).parent.parent / "docs" / "reliability.md").read_text()
    missing = [each.name for each in KNOWN if f"`{each.name}`" not in text]
    assert missing == []
