"""The CodeArts TestPlan source against the simulator: plans equal to the simulator's ground truth with both
readings of ``offset``, what a cycle costs, past 1,200 plans, and every bad input named in issue 23."""

from __future__ import annotations

import logging
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from exporter.config import load_config
from exporter.simulator import Fault, World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, parse_samples

T0 = 1_750_000_000.0
P1, P2 = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372"
PLAN_FAMILIES = ("codearts_testplan_case_pass_ratio", "codearts_testplan_executed_cases", "codearts_testplan_defects",
                 "codearts_testplan_overdue_days", "codearts_testplan_info", "codearts_testplan_plans")
SKIPPED = "codearts_records_skipped_total"


def write_testplan_config(path: Path, url: str, projects: dict[str, str]) -> Path:
    """A config polling TestPlan ``projects`` (id -> extra YAML lines of its entry) on the simulator."""
    lines = ["endpoints:", f"  repo: {url}", f"  build: {url}", f"  testplan: {url}",
             "auth:", f"  token: {SIM_TOKEN}",
             "poll:", "  interval_seconds: 60", "  timeout_seconds: 5", "  concurrency: 4",
             "  rate_limit: {testplan: 1000}", "testplan_projects:"]
    for project, extra in projects.items():
        lines += [f"  - id: {project}", *(f"    {line}" for line in extra.splitlines() if line)]
    path.write_text("\n".join(lines) + "\n")
    return path


class Rig:
    """A world of TestPlan projects on a fake clock, its simulator and an exporter."""

    def __init__(self, tmp_path: Path, simulator_factory, projects: dict[str, int], *, paging: str = "item",
                 entries: dict[str, str] | None = None) -> None:
        self.now = [T0]
        self.world = World(seed=11, clock=lambda: self.now[0], testplan_projects=projects, testplan_paging=paging)
        self.service = self.world.testplan_service
        self.sim = simulator_factory(self.world)
        entries = {project: (entries or {}).get(project, "") for project in projects}
        self.config = load_config(write_testplan_config(tmp_path / "c.yaml", self.sim.url, entries), sources=BUILTIN)
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])

    def poll(self):
        return self.exporter.poll_once()

    def samples(self) -> dict:
        return parse_samples(self.exporter.metrics_text().decode())

    def plans(self, project: str) -> dict:
        """The payload of each of a project's plans now, by id."""
        at_ms = math.floor(self.now[0] * 1000)
        return {plan.id: self.service.payload(plan, at_ms) for plan in self.service.plans(project)}

    def close(self) -> None:
        self.exporter.close()


@pytest.fixture
def rig_factory(tmp_path, simulator_factory):
    rigs: list[Rig] = []

    def make(projects: dict[str, int], **options) -> Rig:
        rig = Rig(tmp_path, simulator_factory, projects, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def ratio(text: str) -> float | None:
    """A pass rate string as a ratio, written out here independently of the exporter."""
    try:
        number = float(text.rstrip("%"))
    except ValueError:
        return None
    return number / 100 if 0 <= number <= 100 else None


def truth(rig: Rig, project: str, stages=("execute", "report"), max_age_days=30) -> dict:
    """The samples the simulator's ground truth implies now for one project with default settings."""
    expected: dict = {}
    today = datetime.fromtimestamp(rig.now[0], UTC).date()
    counts = dict.fromkeys(stages, 0)
    for plan_id, plan in rig.plans(project).items():
        if plan["current_stage"] not in stages:
            continue
        if date.fromisoformat(plan["end_date"]) < today - timedelta(days=max_age_days):
            continue
        counts[plan["current_stage"]] += 1
        labels = {"project_id": project, "plan_id": plan_id, "plan": plan["name"], "stage": plan["current_stage"]}

        def put(name, value, labels=labels, **more):
            expected[(name, frozenset({**labels, **more}.items()))] = value

        execute = plan["execute_stage"]
        if ratio(execute["case_pass_rate"]) is not None:
            put("codearts_testplan_case_pass_ratio", ratio(execute["case_pass_rate"]))
        put("codearts_testplan_executed_cases", execute["executed_case_count"])
        put("codearts_testplan_defects", execute["defect_count"] - execute["completed_defect_count"], state="open")
        put("codearts_testplan_defects", execute["completed_defect_count"], state="resolved")
        put("codearts_testplan_overdue_days", max(0, plan["expire_day"]))
        info = {"project_id": project, "plan_id": plan_id, "plan": plan["name"],
                "iteration": plan["iteration"].get("name", "")}
        expected[("codearts_testplan_info", frozenset(info.items()))] = 1
    for stage, count in counts.items():
        expected[("codearts_testplan_plans", frozenset({"project_id": project, "stage": stage}.items()))] = count
    return expected


def served(samples: dict) -> dict:
    return {key: value for key, value in samples.items() if key[0] in PLAN_FAMILIES}


def skipped(samples: dict, reason: str) -> float:
    return samples[(SKIPPED, frozenset({"api": "testplan", "reason": reason}.items()))]


@pytest.mark.parametrize("paging", ["item", "page"])
def test_every_watched_plan_equals_the_simulators_ground_truth(rig_factory, paging):
    rig = rig_factory({P1: 450, P2: 23}, paging=paging)  # 450: three pages of 200
    stages: set[str] = set()
    for step in range(6):
        rig.now[0] = T0 + step * 2.5 * 86_400  # the plans move through their stages over days
        snapshot = rig.poll()
        assert snapshot.all_up()
        samples = rig.samples()
        assert served(samples) == pytest.approx(truth(rig, P1) | truth(rig, P2))
        assert samples[("codearts_up", frozenset({"api": "testplan", "target": P1}.items()))] == 1
        stages |= {plan["current_stage"] for plan in rig.plans(P1).values()}
    assert stages == {"create", "design", "execute", "report"}  # the world covered every stage
    old = [plan for plan in rig.plans(P1).values() if plan["current_stage"] == "report"
           and date.fromisoformat(plan["end_date"]) < datetime.fromtimestamp(rig.now[0], UTC).date() - timedelta(30)]
    assert old, "the world holds plans past max_age_days, which the truth left out"


def test_a_server_whose_offset_counts_pages_is_named_once_by_its_assumption(rig_factory, caplog):
    rig = rig_factory({P1: 450}, paging="page")
    failures = ("codearts_api_assumption_failures_total",
                frozenset({"api": "testplan", "assumption": "paging_style"}.items()))
    assert rig.samples()[failures] == 0  # served at zero before
    with caplog.at_level(logging.WARNING, logger="exporter.assumptions"):
        assert rig.poll().all_up()
        rig.sim.reset_counts()
        assert rig.poll().all_up()
    warnings = [record.getMessage() for record in caplog.records if "offset counts pages" in record.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("assumption paging_style contradicted by the testplan API")
    assert rig.samples()[failures] == 1
    assert rig.sim.request_count("testplan_plans") == 3  # pages 0, 1, 2: no second detection


def test_a_steady_cycle_costs_one_request_per_200_plans(rig_factory):
    rig = rig_factory({P1: 450, P2: 23, "a" * 32: 200})
    assert rig.poll().all_up()
    rig.sim.reset_counts()
    assert rig.poll().all_up()
    # 450: offsets 0, 200, 400; 23: one page; exactly 200: offsets 0 and 200 (the reading is known by now).
    assert rig.sim.request_count("testplan_plans") == 3 + 1 + 2


def test_past_1200_plans_a_project_is_listed_by_stage_and_said_once(rig_factory, caplog):
    rig = rig_factory({P1: 1500})
    with caplog.at_level(logging.WARNING, logger="exporter.sources.testplan.fetch"):
        assert rig.poll().all_up()
        assert served(rig.samples()) == pytest.approx(truth(rig, P1))
        rig.sim.reset_counts()
        assert rig.poll().all_up()
    said = [record for record in caplog.records if "listing them by stage" in record.getMessage()]
    assert len(said) == 1 and P1 in said[0].getMessage()
    paths = [record.path for record in rig.sim.requests]
    assert paths and all("current_stage=execute" in path or "current_stage=report" in path for path in paths)
    assert served(rig.samples()) == pytest.approx(truth(rig, P1))


def test_include_stages_and_max_age_choose_the_plans(rig_factory):
    entries = {P1: "include: ['^release-']\nstages: [design, report]\nmax_age_days: 90"}
    rig = rig_factory({P1: 64}, entries=entries)
    assert rig.poll().all_up()
    expected = truth(rig, P1, stages=("design", "report"), max_age_days=90)
    expected = {key: value for key, value in expected.items()
                if key[0] == "codearts_testplan_plans" or dict(key[1])["plan"].startswith("release-")}
    for stage in ("design", "report"):
        key = ("codearts_testplan_plans", frozenset({"project_id": P1, "stage": stage}.items()))
        expected[key] = sum(1 for other in expected if other[0] == "codearts_testplan_info"
                            and rig.plans(P1)[dict(other[1])["plan_id"]]["current_stage"] == stage)
    assert served(rig.samples()) == pytest.approx(expected)
    assert any(key[0] == "codearts_testplan_info" for key in expected)


def test_a_pass_rate_of_na_or_without_a_percent_sign_and_bad_counts(rig_factory):
    rig = rig_factory({P1: 40})
    watched = [plan_id for plan_id, plan in rig.plans(P1).items() if plan["current_stage"] in ("execute", "report")
               and plan["execute_stage"]["case_pass_rate"] != "N/A"]
    na, bare, strings, negative = watched[:4]
    overrides = rig.service.overrides
    overrides[na] = {"execute_stage": {"case_pass_rate": "N/A", "executed_case_count": 0, "defect_count": 0,
                                       "completed_defect_count": 0}}
    overrides[bare] = {"execute_stage": {"case_pass_rate": "33.3", "executed_case_count": 3, "defect_count": 1,
                                         "completed_defect_count": 0}}
    overrides[strings] = {"execute_stage": {"case_pass_rate": "50%", "executed_case_count": "8",
                                            "defect_count": "2", "completed_defect_count": 1}}
    overrides[negative] = {"execute_stage": {"case_pass_rate": "-5%", "executed_case_count": -1,
                                             "defect_count": 1, "completed_defect_count": 3}}
    assert rig.poll().all_up()
    samples = rig.samples()

    def value(name: str, plan_id: str, **more):
        plan = rig.plans(P1)[plan_id]
        labels = {"project_id": P1, "plan_id": plan_id, "plan": plan["name"], "stage": plan["current_stage"], **more}
        return samples.get((name, frozenset(labels.items())))

    assert value("codearts_testplan_case_pass_ratio", na) is None
    assert value("codearts_testplan_executed_cases", na) == 0
    assert value("codearts_testplan_case_pass_ratio", bare) == pytest.approx(0.333)
    assert value("codearts_testplan_case_pass_ratio", strings) == 0.5
    assert value("codearts_testplan_executed_cases", strings) is None  # a string is no count
    assert value("codearts_testplan_defects", strings, state="open") is None
    assert value("codearts_testplan_case_pass_ratio", negative) is None
    assert value("codearts_testplan_executed_cases", negative) is None
    assert value("codearts_testplan_defects", negative, state="resolved") is None  # 3 completed of 1
    natural = sum(1 for plan_id in watched[4:] if rig.plans(P1)[plan_id]["execute_stage"]["case_pass_rate"] == "N/A")
    assert skipped(samples, "no_pass_rate") == 2 + natural  # N/A and -5%, counted per poll
    rate_format = ("codearts_api_assumption_failures_total",
                   frozenset({"api": "testplan", "assumption": "rate_format"}.items()))
    assert samples[rate_format] == 1  # "-5%" is no percentage; "N/A" is as expected


def test_a_plan_without_an_id_is_skipped_and_counted(rig_factory):
    rig = rig_factory({P1: 24})
    victim = next(plan_id for plan_id, plan in rig.plans(P1).items() if plan["current_stage"] == "execute")
    rig.service.overrides[victim] = {"plan_id": None}
    assert rig.poll().all_up()
    samples = rig.samples()
    assert skipped(samples, "malformed") == 1
    assert not any(dict(key[1]).get("plan_id") == victim for key in served(samples))
    assert served(samples)  # the other plans are there


def test_a_plan_list_that_is_not_an_array_keeps_the_last_plans_and_the_target_up(rig_factory, caplog):
    rig = rig_factory({P1: 30})
    assert rig.poll().all_up()
    before = served(rig.samples())
    rig.service.not_array.add(P1)
    with caplog.at_level(logging.WARNING, logger="exporter.sources.testplan.source"):
        assert rig.poll().all_up()
    samples = rig.samples()
    assert served(samples) == before
    assert skipped(samples, "not_array") == 1
    assert samples[("codearts_up", frozenset({"api": "testplan", "target": P1}.items()))] == 1
    assert any("expected a JSON array of plans" in record.getMessage() for record in caplog.records)


def test_a_refused_project_marks_only_its_target_down(rig_factory):
    rig = rig_factory({P1: 10, P2: 10})
    rig.service.denied.add(P2)
    snapshot = rig.poll()
    up = {state.target.key: state.up for state in snapshot.states}
    assert up == {P1: True, P2: False}
    assert "403" in next(state.error for state in snapshot.states if state.target.key == P2)


def test_a_truncated_answer_fails_the_poll_and_keeps_the_last_plans(rig_factory):
    rig = rig_factory({P1: 30})
    assert rig.poll().all_up()
    before = served(rig.samples())
    rig.sim.set_fault(f"testplan:{P1}", Fault.TRUNCATED_JSON)
    assert not rig.poll().all_up()
    assert served(rig.samples()) == before


def test_the_simulator_answers_201_with_a_bare_array_and_refuses_bad_paging(simulator_factory):
    import requests

    world = World(seed=3, clock=lambda: T0, testplan_projects={P1: 5})
    sim = simulator_factory(world)
    url, headers = f"{sim.url}/v2/projects/{P1}/plans", {"X-Auth-Token": SIM_TOKEN}
    answer = requests.get(url, params={"offset": 0, "limit": 10}, headers=headers, timeout=5)
    assert answer.status_code == 201 and isinstance(answer.json(), list) and len(answer.json()) == 5
    for params in ({"offset": 1000, "limit": 10}, {"offset": 0, "limit": 201}, {"limit": 10}, {"offset": 0},
                   {"offset": 0, "limit": 10, "current_stage": "done"}):
        refused = requests.get(url, params=params, headers=headers, timeout=5)
        assert refused.status_code == 400 and refused.json()["error_code"].startswith("CLOUDTEST."), params


def test_the_demo_polls_a_testplan_project():
    from exporter.demo import start_demo

    simulator, config = start_demo(BUILTIN)
    exporter = Exporter(config)
    try:
        snapshot = exporter.poll_once()
    finally:
        exporter.close()
        simulator.stop()
    (state,) = [state for state in snapshot.states if state.target.api == "testplan"]
    assert state.up and state.records
    assert {plan.stage for plan in state.records} <= {"execute", "report"}
