"""Issue 20's run-history defects against a scripted Pipeline upstream over real HTTP: each test makes what
the documentation does not rule out and asserts the exact count of finished runs afterwards.

B3 (a run list sorted by start time, walked by run number), B16 (run numbers that go backwards), B17 (one
pipeline id in two projects), B19 (a run stuck RUNNING), B9 (a denied run list), B8 (failing run details).
"""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from exporter.config import load_config
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import parse_samples
from .scripted_pipelines import ScriptedPipelines, counted, scripted_config

P1, P2 = "a1" * 16, "b2" * 16
T0 = 1_750_000_000.0


class Rig:
    """The scripted upstream and an exporter polling it; ``baseline``: what the first poll saw (not counted)."""

    def __init__(self, tmp_path, upstream: ScriptedPipelines, projects: list[str], extra: str = "",
                 detail: bool = False) -> None:
        self.upstream = upstream
        self.now = [T0]
        self.path = scripted_config(tmp_path / "c.yaml", upstream.url, projects, extra, detail)
        self.exporter = Exporter(load_config(self.path, sources=BUILTIN), clock=lambda: self.now[0])
        self.baseline: Counter = Counter()

    def poll(self, cycles: int = 1) -> None:
        for _ in range(cycles):
            self.now[0] += 60
            assert self.exporter.poll_once().all_up()

    def start(self) -> None:
        """The first poll: marks set at each pipeline's latest finished run, nothing back-filled."""
        self.poll()
        self.baseline = self.upstream.truth()

    def counted(self) -> Counter:
        return counted(parse_samples(self.exporter.metrics_text().decode()))

    def expected(self) -> Counter:
        return self.upstream.truth() - self.baseline


def assumption_failures(rig: Rig) -> dict[tuple[str, str], float]:
    return {(dict(labels)["api"], dict(labels)["assumption"]): value for (name, labels), value in
            parse_samples(rig.exporter.metrics_text().decode()).items()
            if name == "codearts_api_assumption_failures_total"}


@pytest.fixture
def upstream():
    with ScriptedPipelines() as scripted:
        yield scripted


@pytest.fixture
def make_rig(tmp_path, upstream):
    rigs: list[Rig] = []

    def make(projects: list[str], extra: str = "", detail: bool = False) -> Rig:
        rig = Rig(tmp_path, upstream, projects, extra, detail)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.exporter.close()


def test_b3_runs_that_started_out_of_number_order_are_each_counted_once(make_rig, upstream, caplog):
    for number in range(1, 6):
        upstream.run(P1, "early", number)
        upstream.run(P1, "late", number)
    rig = make_rig([P1])
    rig.start()
    # "early": #7 started before #5 (queued, then ran beside #6); the newest-first page of two holds #6 and
    # #5, which reaches the mark, and #7 was never asked for again. "late": #6 started first of all.
    upstream.run(P1, "early", 6, start=900)
    upstream.run(P1, "early", 7, "FAILED", start=450)
    upstream.run(P1, "late", 6, start=10)
    upstream.run(P1, "late", 7, start=900)
    with caplog.at_level(logging.WARNING):
        rig.poll(3)
    assert rig.counted() == rig.expected() == Counter({(P1, "early", "success"): 1, (P1, "early", "failed"): 1,
                                                       (P1, "late", "success"): 2})
    assert caplog.text.count("assumption runs_sorted_by_number") == 1  # once per target
    assert assumption_failures(rig)[("pipeline", "runs_sorted_by_number")] == 1
    requests = upstream.run_lists.copy()
    rig.poll(3)  # caught up: nothing is asked again
    assert upstream.run_lists == requests


def test_b16_a_numbering_that_starts_again_is_counted_from_its_first_run(make_rig, upstream, caplog):
    for number in range(1, 11):
        upstream.run(P1, "reborn", number)
    rig = make_rig([P1])
    rig.start()
    upstream.pipeline(P1, "reborn").runs.clear()  # deleted and created again under the same id
    baseline_before = rig.baseline
    for number in range(1, 4):
        upstream.run(P1, "reborn", number, "FAILED" if number == 2 else "COMPLETED", start=2000 + number)
    with caplog.at_level(logging.WARNING):
        rig.poll(2)
    assert rig.counted() == Counter({(P1, "reborn", "success"): 2, (P1, "reborn", "failed"): 1})
    assert baseline_before == Counter({(P1, "reborn", "success"): 10})
    assert "assumption run_numbers_grow" in caplog.text
    assert assumption_failures(rig)[("pipeline", "run_numbers_grow")] == 1
    upstream.run(P1, "reborn", 4, start=3000)
    rig.poll()
    assert rig.counted() == Counter({(P1, "reborn", "success"): 3, (P1, "reborn", "failed"): 1})


def test_b17_one_pipeline_id_in_two_projects_keeps_two_marks(make_rig, upstream):
    for project in (P1, P2):
        upstream.run(project, "twin", 1)
    rig = make_rig([P1, P2])
    rig.start()
    for number in range(2, 12):
        upstream.run(P1, "twin", number)
    for number in range(2, 6):
        upstream.run(P2, "twin", number, "FAILED")
    rig.poll(2)
    assert rig.counted() == rig.expected() == Counter({(P1, "twin", "success"): 10, (P2, "twin", "failed"): 4})


def test_b17_a_state_file_with_marks_keyed_by_pipeline_alone_still_loads(make_rig, upstream, tmp_path):
    for number in range(1, 4):
        upstream.run(P1, "solo", number)
    state = tmp_path / "state.json"
    rig = make_rig([P1], extra=f"state:\n  path: {state}\n")
    rig.start()
    rig.exporter.close()
    saved = json.loads(state.read_text())
    marks = saved["cloud_pipeline_marks"]
    # As a release keyed them before marks were per (project, pipeline).
    saved["cloud_pipeline_marks"] = {key.rpartition("/")[2]: mark for key, mark in marks.items()}
    state.write_text(json.dumps(saved))
    upstream.run(P1, "solo", 4)  # finished while the exporter was down: counted from the loaded mark
    again = make_rig([P1], extra=f"state:\n  path: {state}\n")
    again.poll()
    upstream.run(P1, "solo", 5)
    again.poll()
    assert again.counted() == Counter({(P1, "solo", "success"): 2})


def test_b19_a_run_stuck_running_is_asked_for_less_and_less_and_counted_when_it_ends(make_rig, upstream):
    for number in range(1, 4):
        upstream.run(P1, "stuck", number)
    rig = make_rig([P1])
    rig.start()
    upstream.run(P1, "stuck", 4, "RUNNING")
    upstream.run(P1, "stuck", 5)  # finished beside it: the listing shows #5 done, #4 never ends
    rig.poll(40)
    asked = upstream.run_lists[(P1, "stuck")]
    assert asked <= 8, f"{asked} run-list requests in 40 unchanged cycles"
    assert rig.counted() == Counter({(P1, "stuck", "success"): 1})
    upstream.finish(P1, "stuck", 4, "FAILED")
    rig.poll(33)  # at most the longest backoff later
    assert rig.counted() == rig.expected() == Counter({(P1, "stuck", "success"): 1, (P1, "stuck", "failed"): 1})


def history_up(rig: Rig) -> dict[str, float]:
    return {dict(labels)["target"]: value for (name, labels), value in
            parse_samples(rig.exporter.metrics_text().decode()).items() if name == "codearts_history_up"}


def test_b9_a_denied_run_list_shows_history_down_and_is_asked_less_and_less(make_rig, upstream, caplog):
    for project in (P1, P2):
        upstream.run(project, "guarded", 1)
    rig = make_rig([P1, P2])
    rig.start()
    assert history_up(rig) == {P1: 1.0, P2: 1.0}
    upstream.denied.add("guarded")
    upstream.run(P1, "guarded", 2)
    rig.poll(40)
    assert history_up(rig) == {P1: 0.0, P2: 1.0}  # the listing is up (rig.poll asserts it), its runs are not
    asked = upstream.run_lists[(P1, "guarded")]
    assert asked <= 8, f"{asked} denied run-list requests in 40 cycles"
    upstream.denied.clear()
    rig.poll(33)
    assert history_up(rig) == {P1: 1.0, P2: 1.0}
    assert rig.counted() == rig.expected() == Counter({(P1, "guarded", "success"): 1})


def test_b8_failing_run_details_back_off_and_do_not_starve_the_working_pipelines(make_rig, upstream, caplog):
    failing = [f"bad{n:02d}" for n in range(20)]  # listed first: they used to take the whole detail budget
    working = [f"good{n}" for n in range(5)]
    for pipeline in failing + working:
        upstream.run(P1, pipeline, 1)
    upstream.detail_fails.update(failing)
    rig = make_rig([P1], detail=True)
    with caplog.at_level(logging.WARNING, logger="exporter.sources.pipeline.source"):
        rig.poll(12)
    assert all(upstream.details[(P1, pipeline)] == 1 for pipeline in working), upstream.details
    asked = sum(upstream.details[(P1, pipeline)] for pipeline in failing)
    assert asked <= 20 * 4, f"{asked} failing detail requests in 12 polls"  # 1, 2, 4, 8 polls apart
    assert caplog.text.count("run detail of pipeline") == 20  # once per failing run, not once per poll


def test_b8_run_details_share_the_history_budget_with_the_run_fetches(make_rig, upstream):
    failing = [f"bad{n:02d}" for n in range(20)]
    working = [f"good{n}" for n in range(5)]
    for pipeline in failing + working:
        upstream.run(P1, pipeline, 1)
    upstream.detail_fails.update(failing)
    budget = 4
    rig = make_rig([P1], f"  max_requests_per_cycle: {budget}\n", detail=True)
    spent: list[int] = []

    def poll(cycles: int, churn: bool) -> None:
        for cycle in range(cycles):
            if churn:  # every pipeline runs again: a detail and a run fetch due for each
                for pipeline in failing + working:
                    upstream.run(P1, pipeline, 2 + cycle)
            before = upstream.details.total() + upstream.run_lists.total()
            rig.poll()
            spent.append(upstream.details.total() + upstream.run_lists.total() - before)

    poll(14, churn=False)
    assert all(upstream.details[(P1, pipeline)] == 1 for pipeline in working), upstream.details
    read = Counter(upstream.details)
    poll(16, churn=True)
    assert max(spent) <= budget, spent  # details and run fetches together, every cycle
    assert all(upstream.details[(P1, pipeline)] > read[(P1, pipeline)] for pipeline in working), upstream.details
    assert upstream.run_lists.total() >= 16 * (budget // 2), upstream.run_lists  # the run fetches keep their half


def pipeline_series(rig: Rig) -> dict[tuple[str, str, str], float]:
    """codearts_pipeline_runs_total summed per (pipeline id, pipeline name, status), zeros included."""
    out: Counter = Counter()
    for (name, labels), value in parse_samples(rig.exporter.metrics_text().decode()).items():
        if name == "codearts_pipeline_runs_total":
            found = dict(labels)
            out[(found["pipeline_id"], found["pipeline"], found["status"])] += value
    return dict(out)


def test_b7_a_renamed_pipeline_keeps_one_set_of_series_under_its_current_name(make_rig, upstream, tmp_path):
    upstream.run(P1, "moving", 1)
    upstream.pipeline(P1, "moving").name = "name-0"
    state = tmp_path / "state.json"
    rig = make_rig([P1], extra=f"state:\n  path: {state}\n")
    rig.start()
    for rename in range(1, 31):
        upstream.pipeline(P1, "moving").name = f"name-{rename}"
        upstream.run(P1, "moving", rename + 1, "FAILED" if rename % 3 == 0 else "COMPLETED")
        rig.poll()
    series = pipeline_series(rig)
    assert {name for _, name, _ in series} == {"name-30"}, sorted({name for _, name, _ in series})
    assert series[("moving", "name-30", "success")] == 20 and series[("moving", "name-30", "failed")] == 10
    assert len(json.loads(state.read_text())["cloud_pipeline_runs"]) <= 4 * 1  # one label set's statuses


def test_b7_a_pipeline_gone_from_its_listing_retires_its_series_after_the_grace(make_rig, upstream):
    from exporter.runhistory.numbered import RETIRE_AFTER_CYCLES

    for pipeline in ("stays", "leaves"):
        upstream.run(P1, pipeline, 1)
    rig = make_rig([P1])
    rig.start()
    upstream.run(P1, "leaves", 2)
    rig.poll()
    del upstream.projects[P1]["leaves"]
    rig.poll(RETIRE_AFTER_CYCLES - 1)
    assert {pipeline for pipeline, _, _ in pipeline_series(rig)} == {"stays", "leaves"}  # within the grace
    rig.poll(2)
    assert {pipeline for pipeline, _, _ in pipeline_series(rig)} == {"stays"}


def test_b7_a_rename_while_the_exporter_was_down_retires_the_old_series_after_the_grace(make_rig, upstream,
                                                                                          tmp_path):
    from exporter.runhistory.numbered import RETIRE_AFTER_CYCLES

    upstream.run(P1, "moving", 1)
    upstream.pipeline(P1, "moving").name = "before"
    state = tmp_path / "state.json"
    rig = make_rig([P1], extra=f"state:\n  path: {state}\n")
    rig.start()
    upstream.run(P1, "moving", 2)
    rig.poll()
    rig.exporter.close()
    upstream.pipeline(P1, "moving").name = "after"
    upstream.run(P1, "moving", 3)
    again = make_rig([P1], extra=f"state:\n  path: {state}\n")
    again.poll()
    assert pipeline_series(again)[("moving", "after", "success")] == 1  # counted from the saved mark
    assert pipeline_series(again)[("moving", "before", "success")] == 1
    again.poll(RETIRE_AFTER_CYCLES + 1)
    assert {name for _, name, _ in pipeline_series(again)} == {"after"}
