"""Issue 20 B12, B13, B14: names upstream may repeat or mangle, and stage lists without end, over real HTTP.

B12: 50 stages named "Build" gave 97 duplicate lines (Prometheus keeps one silently). B13: one invalid UTF-8
byte in one job name took the whole project down. B14: 5,000 stages gave 10,000 series for one pipeline.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter.config import load_config
from exporter.sources.builtin import BUILTIN
from exporter.sources.pipeline.models import MAX_STAGES
from exporter.wiring import Exporter

from .conftest import write_config
from .helpers.upstreamclient import PROJECT
from .hostile import HostileServer, response

PIPELINE_ID = "6d7fcc4192b14d928dd86dcc0ab5a88f"
T_MS = 1_674_962_399_000


def pipeline_project(stages: list[dict[str, object]]):
    """A Pipeline project with one pipeline whose latest run has ``stages``; run lists answer empty."""
    def behaviour(server, conn, request):
        if request.path.endswith("/api/pipelines/list"):
            run = {"pipeline_run_id": "6fd46591ad9f46dda269af2868e27f41", "run_number": 11, "status": "FAILED",
                   "start_time": T_MS, "end_time": T_MS + 24_000, "stage_status_list": stages}
            body = {"offset": 0, "limit": 100, "total": 1,
                    "pipelines": [{"pipeline_id": PIPELINE_ID, "name": "p", "latest_run": run}]}
            conn.sendall(response(200, body))
        else:
            conn.sendall(response(200, {"offset": 0, "limit": 10, "total": 0, "pipeline_runs": []}))
    return behaviour


def stage(n: int, name: str) -> dict[str, object]:
    return {"id": f"s{n}", "name": name, "sequence": n, "status": "COMPLETED",
            "start_time": "2023-01-29 11:19:59", "end_time": "2023-01-29 11:20:09"}


def poll_pipeline_project(tmp_path: Path, stages: list[dict[str, object]]) -> tuple[Exporter, str]:
    with HostileServer(pipeline_project(stages)) as hostile:
        config = load_config(write_config(tmp_path / "c.yaml", hostile.url, pipeline_projects=[PROJECT]),
                             sources=BUILTIN)
        exporter = Exporter(config)
        try:
            state, = exporter.poll_once().states
            assert state.up, state.error
            return exporter, exporter.metrics_text().decode()
        finally:
            exporter.close()


def samples(text: str, name: str) -> list[dict[str, str]]:
    return [sample.labels for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name]


def test_fifty_stages_named_alike_give_one_series_each_by_the_documented_rule(tmp_path):
    stages = [stage(n, "Build") for n in range(50)] + [stage(50, "Deploy")]
    exporter, text = poll_pipeline_project(tmp_path, stages)
    names = [labels["stage"] for labels in samples(text, "codearts_pipeline_last_run_stage_status")]
    assert sorted(names) == sorted(["Build", *(f"Build #{n}" for n in range(2, 51)), "Deploy"])
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(set(lines))  # no duplicate series anywhere
    counts = exporter.stats.assumptions.counts()
    assert counts[("pipeline", "unique_stage_names")] == 1
    series = {labels["family"]: float(value) for labels, value in
              ((s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "codearts_exporter_series")}
    assert series["codearts_pipeline_last_run_stage_status"] == 51


def test_a_run_with_five_thousand_stages_keeps_the_first_two_hundred_and_counts_the_rest(tmp_path):
    stages = [stage(n, f"stage {n}") for n in range(5_000)]
    exporter, text = poll_pipeline_project(tmp_path, stages)
    names = [labels["stage"] for labels in samples(text, "codearts_pipeline_last_run_stage_status")]
    assert names == [f"stage {n}" for n in range(MAX_STAGES)]
    assert exporter.stats.skipped()[("pipeline", "over_cap")] == 5_000 - MAX_STAGES


def test_an_invalid_utf8_byte_in_one_name_is_replaced_and_the_project_stays_up(tmp_path):
    jobs = [{"id": f"job{n}", "job_name": f"job {n}", "last_build_status": "blue"} for n in range(3)]
    body = json.dumps({"total": 3, "jobs": jobs}).encode().replace(b"job 1", b"job \xff1")

    def behaviour(server, conn, request):
        conn.sendall(response(200, body))

    with HostileServer(behaviour) as hostile:
        config = load_config(write_config(tmp_path / "c.yaml", hostile.url, projects=[PROJECT]), sources=BUILTIN)
        exporter = Exporter(config)
        try:
            state, = exporter.poll_once().states
            text = exporter.metrics_text().decode()
        finally:
            exporter.close()
    assert state.up, state.error
    assert [job.name for job in state.records] == ["job 0", "job \ufffd1", "job 2"]
    statuses = Counter(labels["job"] for labels in samples(text, "codearts_build_job_status"))
    assert set(statuses) == {"job 0", "job \ufffd1", "job 2"}
    assert exporter.stats.assumptions.counts()[("build", "utf8_bodies")] == 1


# -- B15: one set of time bounds for every source ----------------------------------------------------------


def pipeline_with_runs(latest: list[int], runs: dict[int, dict[str, object]]):
    """A pipeline whose latest run is ``latest[i]`` at the i-th listing (the last one after), and whose run list
    holds ``runs`` newest first."""
    listings = [0]

    def run(number: int) -> dict[str, object]:
        return {"pipeline_run_id": f"{number:032x}", "run_number": number, "status": "COMPLETED",
                "start_time": T_MS, "end_time": T_MS + 60_000, **runs.get(number, {})}

    def behaviour(server, conn, request):
        if request.path.endswith("/api/pipelines/list"):
            number = latest[min(listings[0], len(latest) - 1)]
            listings[0] += 1
            body = {"offset": 0, "limit": 100, "total": 1,
                    "pipelines": [{"pipeline_id": PIPELINE_ID, "name": "p", "latest_run": run(number)}]}
        else:
            numbers = sorted(set(runs) | set(latest), reverse=True)
            body = {"offset": 0, "limit": 10, "total": len(numbers), "pipeline_runs": [run(n) for n in numbers]}
        conn.sendall(response(200, body))
    return behaviour


def test_runs_with_no_start_or_a_far_future_end_are_counted_but_not_observed(tmp_path):
    far_future_ms = T_MS + int(2.25e12)  # 2.25e9 s after the start
    runs = {11: {"start_time": None, "end_time": T_MS}, 12: {"status": "FAILED", "end_time": far_future_ms},
            13: {}}
    with HostileServer(pipeline_with_runs([10, 13], runs)) as hostile:
        config = load_config(write_config(tmp_path / "c.yaml", hostile.url, pipeline_projects=[PROJECT]),
                             sources=BUILTIN)
        exporter = Exporter(config)
        try:
            exporter.poll_once()
            exporter.poll_once()
            text = exporter.metrics_text().decode()
        finally:
            exporter.close()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    runs_by_status = Counter({s.labels["status"]: s.value for s in families["codearts_pipeline_runs"].samples})
    assert +runs_by_status == Counter({"success": 2, "failed": 1})  # every run counted
    duration = families["codearts_pipeline_run_duration_seconds"].samples
    assert sum(s.value for s in duration if s.name.endswith("_count")) == 1  # only run 13 observed
    assert sum(s.value for s in duration if s.name.endswith("_sum")) == 60.0
    assert exporter.stats.assumptions.counts()[("pipeline", "times_in_range")] == 1


def test_stage_times_in_another_zone_are_named_with_the_offset_seen(tmp_path):
    # The run started 2023-01-29 03:19:59 UTC; its stage says 03:19:59 with no zone, read as +08:00 (8 h early).
    stages = [{**stage(0, "Build"), "start_time": "2023-01-29 03:19:59", "end_time": "2023-01-29 03:20:09"}]
    exporter, text = poll_pipeline_project(tmp_path, stages)
    assert exporter.stats.assumptions.counts()[("pipeline", "stage_time_zone")] == 1
    first, = [each for each in exporter.stats.assumptions.contradictions() if each.assumption == "stage_time_zone"]
    assert "-8.00 h" in first.detail
    durations = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                 if s.name == "codearts_pipeline_last_run_stage_duration_seconds"]
    assert durations == [10.0]
