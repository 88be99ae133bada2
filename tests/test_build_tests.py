"""Unit-test summaries of finished builds (projects with ``tests: true``) against the simulator on a fake clock:
over 50 cycles the test counters equal the sum of the reports of the builds that finished after first sight,
each report asked once (also across a restart), jobs without reports asked less often, within the history
budget; and every bad answer named in issue 23 skipped with its reason."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import RateLimitConfig, load_config
from exporter.simulator import Fault, World
from exporter.simulator.testreports import profile
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, parse_samples

T0 = 1_750_000_000.0
P1, P2 = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372"
SEED = 11
GAPS = (30, 90, 700, 45, 1500, 60, 240, 400, 20, 900)  # as tests/test_history.py: idle and busy cycles
RESULTS = {"passed": "success", "failed": "failures", "error": "errors", "other": "others"}  # written out here
REPORT_PATH = re.compile(r"/v1/report/([0-9a-f]+)/summary\?build_no=(\d+)")
SKIPPED = "codearts_records_skipped_total"


def write_tests_config(path: Path, url: str, *, state: Path | None = None, budget: int | None = None,
                       api: str = "auto") -> Path:
    """P1 with tests: true, P2 without; the Build rate limit unpaced unless a budget is given."""
    lines = ["endpoints:", f"  repo: {url}", f"  build: {url}", "auth:", f"  token: {SIM_TOKEN}",
             "poll:", "  interval_seconds: 60", "  timeout_seconds: 5", "  concurrency: 4",
             "  rate_limit: {repo: 1000, build: 1000}",
             "build_options:", f"  history_api: {api}",
             "history:", "  buckets: [60, 300]", "  queued_buckets: [10]",
             *([f"  max_requests_per_cycle: {budget}"] if budget is not None else []),
             *([f"state:\n  path: {state}"] if state is not None else []),
             "projects:", f"  - id: {P1}", "    tests: true", f"  - id: {P2}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Rig:
    """A world of two Build projects on a fake clock, its simulator, and an exporter that can be restarted."""

    def __init__(self, tmp_path: Path, simulator_factory, *, state: bool = False, budget: int | None = None,
                 sizes: tuple[int, int] = (16, 6), api: str = "auto") -> None:
        self.now = [T0]
        self.world = World(seed=SEED, clock=lambda: self.now[0], projects={P1: sizes[0], P2: sizes[1]})
        self.sim = simulator_factory(self.world)
        self.config = load_config(write_tests_config(tmp_path / "c.yaml", self.sim.url, budget=budget, api=api,
                                                     state=tmp_path / "state.json" if state else None),
                                  sources=BUILTIN)
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])

    def poll(self) -> None:
        assert self.exporter.poll_once().all_up()

    def cycles(self, cycles: range) -> None:
        for cycle in cycles:
            self.now[0] += GAPS[cycle % len(GAPS)]
            self.poll()

    def drain(self) -> None:
        """Polls with the clock stopped: the reports of the builds counted last are asked for (a job that
        answered without a report is asked one build a cycle)."""
        for _ in range(6):
            self.poll()

    def restart(self) -> None:
        self.exporter.close()
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])

    def samples(self) -> dict:
        return parse_samples(self.exporter.metrics_text().decode())

    def asked(self) -> Counter:
        """(job id, build number) -> report requests the simulator answered."""
        return Counter((match[1], int(match[2])) for record in self.sim.requests
                       if record.route == "build_test_report" and (match := REPORT_PATH.search(record.path)))


@pytest.fixture
def rig_factory(tmp_path, simulator_factory):
    rigs: list[Rig] = []

    def make(**options) -> Rig:
        rig = Rig(tmp_path, simulator_factory, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.exporter.close()


def counted_builds(world: World, project: str, after: float, until: float) -> dict[str, tuple[str, list[int]]]:
    """Job id -> (name, the build numbers finished in (after, until]), as the run history counts them."""
    found: dict[str, tuple[str, list[int]]] = {}
    for job, run in world.finished_build_runs(project, after, until):
        spec = world.build_spec(job["id"])
        assert spec is not None
        found.setdefault(job["id"], (job["job_name"], []))[1].append(run.ordinal - spec.first_index + 1)
    return found


def expected_tests(world: World, after: float, until: float) -> dict:
    """The four test families the ground truth implies for P1's jobs."""
    expected: dict = {}
    for job_id, (name, numbers) in counted_builds(world, P1, after, until).items():
        reports = {number: world.test_report(job_id, number, until) for number in numbers}
        reports = {number: report for number, report in reports.items() if report is not None}
        if not reports:
            continue
        labels = {"project_id": P1, "job_id": job_id, "job": name}
        last = max(reports)
        for result, field in RESULTS.items():
            with_result = frozenset({**labels, "result": result}.items())
            expected[("codearts_build_test_cases_total", with_result)] = sum(r[field] for r in reports.values())
            expected[("codearts_build_last_test_cases", with_result)] = reports[last][field]
        expected[("codearts_build_last_test_report_build_number", frozenset(labels.items()))] = last
        expected[("codearts_build_test_reports_total", frozenset(labels.items()))] = len(reports)
    return expected


def served_tests(samples: dict) -> dict:
    return {key: value for key, value in samples.items() if key[0].startswith(("codearts_build_test_",
                                                                               "codearts_build_last_test_"))}


def expected_asks(numbers: list[int], has_reports: bool) -> int:
    """Requests a job's counted builds cost: every build while reports come; after 5 misses, every 10th."""
    if has_reports:
        return len(numbers)
    return min(len(numbers), 5) + max(0, len(numbers) - 5) // 10


def test_fifty_cycles_count_every_report_exactly_once_and_ask_each_build_once(rig_factory):
    rig = rig_factory()
    rig.poll()
    rig.cycles(range(50))
    rig.drain()
    samples = rig.samples()
    expected = expected_tests(rig.world, T0, rig.now[0])
    assert expected, "the world's reporting jobs finished builds"
    assert served_tests(samples) == expected
    asked = rig.asked()
    assert max(asked.values()) == 1  # never a second request for the same build
    builds = counted_builds(rig.world, P1, T0, rig.now[0])
    for job_id, (_, numbers) in builds.items():
        has_reports = profile(SEED, job_id) == "tests"
        mine = sorted(number for job, number in asked if job == job_id)
        assert len(mine) == expected_asks(numbers, has_reports), (job_id, profile(SEED, job_id))
        if has_reports:
            assert mine == sorted(numbers)
    assert not any(job in counted_builds(rig.world, P2, T0, rig.now[0]) for job, _ in asked)  # tests: false
    lazy = [job for job, (_, numbers) in builds.items() if profile(SEED, job) != "tests" and len(numbers) > 15]
    assert lazy, "some job without reports ran often enough to be asked only every 10th build"


def test_the_test_families_match_the_metrics_table(rig_factory):
    rig = rig_factory(sizes=(16, 0))
    rig.poll()
    rig.cycles(range(4))
    rig.drain()
    table = {spec.name: spec for spec in BUILTIN.specs() if spec.group == "tests"}
    served = {family.name: family for family in text_string_to_metric_families(rig.exporter.metrics_text().decode())}
    assert len(table) == 4
    for name, spec in table.items():
        family = served[name]
        assert family.type == spec.type and family.documentation == spec.help and family.samples
        assert all(set(sample.labels) == set(spec.labels) for sample in family.samples)
    per_job = Counter(dict(key[1])["job_id"] for key in served_tests(rig.samples()))
    assert set(per_job.values()) == {10}  # 4 + 4 + 1 + 1 series per job with a report (docs/metrics.md)


def test_a_restart_with_the_state_file_neither_asks_again_nor_counts_twice(rig_factory, tmp_path):
    rig = rig_factory(state=True)
    rig.poll()
    rig.cycles(range(25))
    before = served_tests(rig.samples())
    rig.now[0] += 1800  # down for half an hour: builds finish meanwhile
    rig.restart()
    assert served_tests(rig.samples()) == before  # restored before the first poll
    rig.poll()
    rig.cycles(range(25, 50))
    rig.drain()
    assert served_tests(rig.samples()) == expected_tests(rig.world, T0, rig.now[0])
    assert max(rig.asked().values()) == 1
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["build_tests"]


def test_report_requests_share_the_history_budget_and_nothing_is_lost(rig_factory):
    rig = rig_factory(budget=4, sizes=(10, 0), api="v1")  # a records request per job that ran: they compete
    rig.poll()
    history_routes = ("build_records", "build_brief", "build_test_report")
    per_cycle, shared, reports_waited = [], 0, False
    for cycle in range(30):
        rig.sim.reset_counts()
        rig.now[0] += GAPS[cycle % len(GAPS)]
        rig.poll()
        per_cycle.append(sum(rig.sim.request_count(route) for route in history_routes))
        reports = rig.sim.request_count("build_test_report")
        shared += per_cycle[-1] == 4 and 0 < reports <= 1  # a full cycle: a quarter kept for the reports
        reports_waited |= rig.exporter.history.part("build").tests.waiting() > 0
    assert max(per_cycle) <= 4  # records and reports together, each cycle
    assert reports_waited, "the budget left reports over for later cycles"
    assert shared, "while records used the budget, reports still had their quarter"
    for _ in range(40):  # the clock stopped: what was left over is fetched
        rig.poll()
    samples = rig.samples()
    assert samples[(SKIPPED, frozenset({"api": "build_history", "reason": "not_listed"}.items()))] == 0
    assert served_tests(samples) == expected_tests(rig.world, T0, rig.now[0])
    assert max(rig.asked().values()) == 1


def reporting_job(rig: Rig) -> tuple[str, str]:
    """(id, name) of a P1 job that reports tests and runs often."""
    jobs = [job for job in rig.world.build_jobs(P1) if profile(SEED, job["id"]) == "tests" and not job["disabled"]
            and job["build_number"] != "0"]
    return jobs[0]["id"], jobs[0]["job_name"]


def skipped(samples: dict, reason: str) -> float:
    return samples[(SKIPPED, frozenset({"api": "build_tests", "reason": reason}.items()))]


def run_until_asked(rig: Rig, job_id: str) -> None:
    """Cycles until the job's builds have been asked for (the target stays up throughout)."""
    rig.poll()
    for cycle in range(12):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        rig.poll()
        if any(job == job_id for job, _ in rig.asked()):
            rig.drain()
            return
    raise AssertionError(f"job {job_id} was never asked for a report")


@pytest.mark.parametrize(("fields", "reason"), [
    ({"success": "40", "failures": "0"}, "malformed"),  # counts as strings (the schema's scrambled examples)
    ({"failures": -1, "success": 41}, "malformed"),  # a negative count
    ({"total": 1000}, "malformed"),  # a total its parts do not add up to
    ({"build_no": 1}, "wrong_build"),  # the report of another build
], ids=["strings", "negative", "total", "wrong_build"])
def test_an_unreadable_summary_is_skipped_with_its_reason_and_never_counted(rig_factory, fields, reason):
    rig = rig_factory(sizes=(16, 0))
    job_id, _ = reporting_job(rig)
    rig.world.test_report_overrides[job_id] = fields
    run_until_asked(rig, job_id)
    samples = rig.samples()
    asked = sum(1 for job, _ in rig.asked() if job == job_id)
    assert skipped(samples, reason) == asked > 0
    assert not any(dict(key[1]).get("job_id") == job_id for key in served_tests(samples))
    assert max(rig.asked().values()) == 1  # remembered: never asked again


@pytest.mark.parametrize("fault", [Fault.NOT_FOUND, Fault.BAD_REQUEST])
def test_a_404_or_a_build_error_means_no_report_not_a_target_failure(rig_factory, fault):
    rig = rig_factory(sizes=(16, 0))
    job_id, _ = reporting_job(rig)
    rig.sim.set_fault(f"build:{job_id}", None)
    rig.poll()
    rig.sim.set_fault("build_test_report", fault)
    for cycle in range(3):
        rig.now[0] += GAPS[cycle]
        rig.poll()  # all_up: the Build targets stay up
    rig.drain()
    samples = rig.samples()
    assert skipped(samples, "no_report") == sum(rig.asked().values()) > 0
    assert served_tests(samples) == {}
    assert samples[("codearts_up", frozenset({"api": "build", "target": P1}.items()))] == 1


def test_jobs_without_a_test_step_or_with_an_empty_summary_count_as_no_report(rig_factory):
    rig = rig_factory(sizes=(16, 0))
    rig.poll()
    rig.cycles(range(10))
    rig.drain()
    samples = rig.samples()
    silent = {job for job, _ in rig.asked() if profile(SEED, job) != "tests"}
    assert {profile(SEED, job) for job in silent} == {"none", "empty"}  # 404 and a null summary
    assert skipped(samples, "no_report") == sum(count for (job, _), count in rig.asked().items() if job in silent)


def test_a_failed_request_is_asked_again_later_and_given_up_after_three(rig_factory):
    rig = rig_factory(sizes=(16, 0))
    job_id, _ = reporting_job(rig)
    rig.poll()
    rig.sim.set_fault("build_test_report", Fault.HTTP_503, times=2)  # two failures: the third attempt answers
    for cycle in range(4):
        rig.now[0] += GAPS[cycle]
        rig.poll()
    rig.drain()
    assert served_tests(rig.samples()) == expected_tests(rig.world, T0, rig.now[0])
    rig.sim.set_fault("build_test_report", Fault.HTTP_500)  # every attempt fails from now on
    rig.sim.reset_counts()
    rig.now[0] += 1500
    for _ in range(20):
        rig.poll()
    asked = rig.asked()
    assert set(asked.values()) == {3}  # each build three times, then given up
    assert skipped(rig.samples(), "failed") == len(asked)
    assert rig.exporter.history.part("build").tests.waiting() == 0


def test_the_demo_shows_unit_test_reports_once_builds_finish(simulator_factory):
    from exporter.demo import demo_config
    from exporter.simulator import DEFAULT_TOKEN

    now = [T0]
    sim = simulator_factory(World.demo(clock=lambda: now[0]), token=DEFAULT_TOKEN)
    config = demo_config(sim.url, BUILTIN)
    unpaced = RateLimitConfig(dict.fromkeys(config.poll.rate_limit.rates(), 1000.0))  # the demo's own pace: 5 s
    exporter = Exporter(dataclasses.replace(config, poll=dataclasses.replace(config.poll, rate_limit=unpaced)),
                        clock=lambda: now[0])
    try:
        assert exporter.poll_once().all_up()
        now[0] += 900  # a quarter of an hour of builds
        for _ in range(2):
            assert exporter.poll_once().all_up()
        served = served_tests(parse_samples(exporter.metrics_text().decode()))
    finally:
        exporter.close()
    assert served and {dict(key[1])["project_id"] for key in served} == {"6ecbc5bac7c8442fb3d2563d53c13582"}


def test_tests_true_without_the_run_history_is_a_configuration_error():
    from exporter.config import ConfigError, parse_config

    data = {"region": "cn-north-4", "auth": {"token": "t"}, "history": {"enabled": False},
            "projects": [{"id": P2}, {"id": P1, "tests": True}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {}, sources=BUILTIN)
    assert caught.value.problems == (
        "projects[1].tests: needs the run history, which history.enabled: false turns off",)
    with pytest.raises(ConfigError) as caught:
        parse_config({**data, "history": {}, "projects": [{"id": P1, "tests": "yes please"}]}, {}, sources=BUILTIN)
    assert caught.value.problems == ('projects[0].tests: expected true or false, got "yes please"',)


def test_check_config_says_which_projects_read_unit_test_reports(tmp_path):
    from .conftest import run_cli

    config = write_tests_config(tmp_path / "c.yaml", "http://127.0.0.1:9")
    result = run_cli("--config.file", str(config), "--check-config")
    assert result.returncode == 0 and "2 build projects (1 with unit-test reports)" in result.stdout


def test_a_bad_entry_of_the_saved_book_is_left_out_and_the_rest_restored(rig_factory, tmp_path, caplog):
    rig = rig_factory(state=True)
    rig.poll()
    rig.cycles(range(10))
    rig.drain()
    before = served_tests(rig.samples())
    saved = json.loads((tmp_path / "state.json").read_text())
    reporting = sorted({dict(key[1])["job_id"] for key in before})
    assert len(reporting) >= 2
    saved["build_tests"][reporting[0]][2] = -1  # misses: no count
    (tmp_path / "state.json").write_text(json.dumps(saved))
    rig.restart()
    restored = served_tests(rig.samples())
    assert restored == {key: value for key, value in before.items() if dict(key[1])["job_id"] != reporting[0]}
    assert f"build_tests.{reporting[0]}[2]" in caplog.text  # named where it is


def test_a_job_renamed_while_its_reports_wait_keeps_one_set_of_series_under_its_new_name(rig_factory):
    rig = rig_factory(sizes=(16, 0))
    job_id, name = reporting_job(rig)
    rig.poll()
    rig.now[0] += 1500
    rig.poll()  # builds counted: their reports wait for the next cycle
    assert rig.exporter.history.part("build").tests.waiting() > 0
    spec = rig.world.build_spec(job_id)
    spec.template["job_name"] = "renamed-build"
    spec.memo = None  # the simulator's cached answer of this job
    rig.drain()
    jobs = {dict(key[1])["job"] for key in served_tests(rig.samples()) if dict(key[1])["job_id"] == job_id}
    assert jobs == {"renamed-build"}, name
