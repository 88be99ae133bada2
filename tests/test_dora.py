"""DORA's four keys against the simulator on a fake clock: 50 cycles of random deployments with a restart through
``state.path`` in the middle, every count equal to ground truth worked out here from the simulator's runs; each
commit asked for once; bad input (no commit, an unknown commit) counted, never blocking the deployment count."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import ConfigError, load_config
from exporter.dora.metrics import SPECS as DORA_SPECS
from exporter.simulator import World
from exporter.simulator.cloudpipelines import repository_of
from exporter.simulator.commits import head_commit
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import parse_samples, write_config

T0 = 1_750_000_000.0
P1 = "6ecbc5bac7c8442fb3d2563d53c13582"
GAPS = (30, 90, 700, 45, 1500, 60, 240, 400, 20, 900)
# Written out here, independently of the exporter: a Pipeline run's CodeArts status -> deployment status.
DEPLOYED = {"COMPLETED": "success", "FAILED": "failed", "CANCELED": "canceled"}
# service -> the one pipeline (by index) whose runs are its deployments; 5 and 13 are flaky (streaks), 6 sends
# no commit, 13 a repository id that is not its commit's.
SERVICES = {"backend": 0, "search": 5, "mobile": 6, "broken-repo": 13}
NAMES = ("backend", "frontend", "gateway", "billing", "auth", "search", "mobile", "docs")


def dora_section(services: dict[str, int] = SERVICES) -> str:
    lines = ["dora:", "  services:"]
    for name, index in services.items():
        lines += [f"    - name: {name}", "      pipelines:", f"        - project_id: {P1}",
                  f"          include: ['^{NAMES[index % 8]}-pipeline-{index}$']"]
    return "\n".join(lines) + "\n"


class Rig:
    """A world of one Pipeline project on a fake clock, its simulator and an exporter with DORA services
    (``extra``: more of the ``dora:`` section, or other top-level sections)."""

    def __init__(self, tmp_path: Path, simulator_factory, extra: str = "") -> None:
        self.now = [T0]
        self.world = World(seed=7, clock=lambda: self.now[0], pipeline_projects={P1: 14})
        self.service = self.world.pipeline_service
        self.sim = simulator_factory(self.world)
        self.state = tmp_path / "state.json"
        self.config = load_config(write_config(
            tmp_path / "c.yaml", self.sim.url, pipeline_projects=[P1],
            extra=f"state:\n  path: {self.state}\n" + dora_section() + extra), sources=BUILTIN)
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])

    def poll(self) -> None:
        assert self.exporter.poll_once().all_up()

    def restart(self) -> None:
        self.exporter.close()
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])

    def samples(self) -> dict:
        return parse_samples(self.exporter.metrics_text().decode())


@pytest.fixture
def rig(tmp_path, simulator_factory):
    made = Rig(tmp_path, simulator_factory)
    yield made
    made.exporter.close()


def truth(rig: Rig, after: float, until: float) -> dict[str, dict]:
    """Per service: deployments per status, lead times of successes with a known commit, closed streaks."""
    by_service: dict[str, dict] = {}
    pipelines = {pipeline.index: pipeline for pipeline in rig.service.pipelines(P1) or ()}
    runs = sorted(rig.service.finished_runs(P1, int(after * 1000), int(until * 1000)), key=lambda item: item[1].end)
    for name, index in SERVICES.items():
        statuses: Counter = Counter()
        leads: list[float] = []
        recoveries: list[float] = []
        streak = None
        last = None
        for pipeline, run in runs:
            if pipeline is not pipelines[index] or run.status not in DEPLOYED:
                continue
            status, end = DEPLOYED[run.status], run.end / 1000
            statuses[status] += 1
            if status == "failed":
                streak = end if streak is None else streak
            elif status == "success":
                if streak is not None:
                    recoveries.append(end - streak)
                    streak = None
                last = end
                if index not in (6, 13):
                    leads.append(end - head_commit(repository_of(pipeline.id), run.run.created, run.run.draw).committed)
        by_service[name] = {"statuses": statuses, "leads": leads, "recoveries": recoveries, "last": last}
    return by_service


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def assert_equal_to_truth(rig: Rig) -> dict[str, dict]:
    expected = truth(rig, T0, rig.now[0])
    found = rig.samples()
    for name, want in expected.items():
        where = {"service": name, "environment": "production"}
        for status in ("success", "failed", "timedout", "aborted", "canceled"):
            assert value(found, "codearts_dora_deployments_total", **where, status=status) == \
                want["statuses"][status], (name, status)
        lead_count = value(found, "codearts_dora_change_lead_time_seconds_count", **where)
        assert (lead_count or 0) == len(want["leads"]), name
        if want["leads"]:
            assert value(found, "codearts_dora_change_lead_time_seconds_sum", **where) == \
                pytest.approx(sum(want["leads"]), abs=1e-3 * len(want["leads"]))
        assert (value(found, "codearts_dora_failed_deployment_recovery_seconds_count", **where) or 0) == \
            len(want["recoveries"]), name
        if want["recoveries"]:
            assert value(found, "codearts_dora_failed_deployment_recovery_seconds_sum", **where) == \
                pytest.approx(sum(want["recoveries"]), abs=1e-3 * len(want["recoveries"]))
        assert value(found, "codearts_dora_last_deployment_timestamp_seconds", **where) == \
            (pytest.approx(want["last"]) if want["last"] is not None else None)
    return expected


def commit_requests(rig: Rig) -> Counter:
    found: Counter = Counter()
    for record in rig.sim.requests:
        if record.route == "repo_commit":
            parts = urlsplit(record.path)
            found[(parts.path, parse_qs(parts.query)["sha"][0])] += 1
    return found


def test_fifty_cycles_with_a_restart_count_every_deployment_once_and_each_commit_is_asked_once(rig):
    rig.poll()
    first = rig.samples()
    assert value(first, "codearts_dora_deployments_total", service="backend", environment="production",
                 status="success") == 0  # zero from the start, nothing back-filled
    for cycle in range(50):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        rig.poll()
        if cycle == 24:
            rig.restart()
            restored = rig.samples()
            assert {key: v for key, v in restored.items() if key[0].startswith("codearts_dora_")} == \
                {key: v for key, v in rig.samples().items() if key[0].startswith("codearts_dora_")}
    rig.poll()  # the lead times of the last cycle's deployments, once their commits are read
    expected = assert_equal_to_truth(rig)
    assert sum(want["statuses"]["success"] for want in expected.values()) > 20
    assert sum(len(want["recoveries"]) for want in expected.values()) >= 2
    asked = commit_requests(rig)
    assert asked and max(asked.values()) == 1
    found = rig.samples()
    assert value(found, "codearts_dora_lead_time_skipped_total", reason="no_commit") == \
        expected["mobile"]["statuses"]["success"] > 0
    assert value(found, "codearts_dora_lead_time_skipped_total", reason="commit_unknown") == \
        expected["broken-repo"]["statuses"]["success"] > 0
    # The repository that never knows its commits is named once as a contradicted assumption.
    assert value(found, "codearts_api_assumption_failures_total", api="repo",
                 assumption="codehub_id_is_repository") == 1
    (contradiction,) = [each for each in rig.exporter.landing_info().assumptions
                        if each.assumption == "codehub_id_is_repository"]
    assert str(repository_of((rig.service.pipelines(P1) or ())[13].id) + 1) in contradiction.target
    lookups = {result: value(found, "codearts_dora_commit_lookups_total", result=result)
               for result in ("hit", "cached", "miss", "error")}
    assert lookups["hit"] + lookups["miss"] == len(asked) and lookups["error"] == 0
    saved = json.loads(rig.state.read_text())["dora"]
    assert saved["waiting"] == []
    quiet = rig.exporter.poll_once()  # nothing finished, nothing looked up: the same view, its lines kept
    assert rig.exporter.poll_once().dora is quiet.dora is not None


def test_without_a_dora_section_no_family_and_no_commit_request(tmp_path, simulator_factory):
    now = [T0]
    world = World(seed=7, clock=lambda: now[0], pipeline_projects={P1: 14})
    sim = simulator_factory(world)
    exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, pipeline_projects=[P1]),
                                    sources=BUILTIN), clock=lambda: now[0])
    try:
        for gap in GAPS:
            now[0] += gap
            exporter.poll_once()
        assert "codearts_dora_" not in exporter.metrics_text().decode()
        assert sim.request_count("repo_commit") == 0
    finally:
        exporter.close()


@pytest.mark.parametrize(("dora", "problem"), [
    ("dora:\n  services:\n    - name: a\n      pipelines:\n        - project_id: " + "f" * 32
     + "\n          include: ['x']\n",
     "dora.services[0].pipelines[0].project_id: " + "f" * 32 + " is not one of pipeline_projects"),
    (dora_section({"a": 0}) + "    - name: b\n      pipelines:\n        - project_id: " + P1
     + "\n          include: ['^backend-pipeline-0$']\n",
     "dora.services[1].pipelines[0].include: '^backend-pipeline-0$' is also claimed by "
     "dora.services[0].pipelines[0]"),
    (dora_section({"a": 0}) + "  lead_time: every_commit\n",
     'dora.lead_time: expected one of head_commit, all_commits, got "every_commit"'),
    ("dora:\n  services: []\n", "dora.services: required: at least one service"),
    (dora_section({"a": 0}) + "      deploy_apps:\n        - project_id: " + P1 + "\n          include: ['x']\n",
     f"dora.services[0].deploy_apps[0].project_id: {P1} is not one of deploy_projects"),
])
def test_a_bad_dora_section_is_one_clear_error(tmp_path, dora, problem):
    path = write_config(tmp_path / "c.yaml", "http://127.0.0.1:1", pipeline_projects=[P1], extra=dora)
    with pytest.raises(ConfigError) as caught:
        load_config(path, sources=BUILTIN)
    assert problem in caught.value.problems


def test_the_demo_shows_dora_data_within_a_minute(simulator_factory):
    from exporter.demo import demo_config
    from exporter.simulator import DEFAULT_TOKEN

    now = [T0]
    sim = simulator_factory(World.demo(clock=lambda: now[0]), token=DEFAULT_TOKEN)
    exporter = Exporter(demo_config(sim.url, BUILTIN), clock=lambda: now[0])
    try:
        for _ in range(7):  # the demo polls every 10 s: its first poll and the six of the first minute
            assert exporter.poll_once().all_up()
            now[0] += 10
        text = exporter.metrics_text().decode()
        found = parse_samples(text)
        specs = {spec.name: spec for spec in DORA_SPECS}
        served = [family for family in text_string_to_metric_families(text) if family.name in specs]
        assert {family.name for family in served} == set(specs)  # every DORA family, with its declared help
        assert all(family.documentation == specs[family.name].help and family.type == specs[family.name].type
                   for family in served)
        assert dict(exporter.landing_info().settings)["DORA services"] == "checkout (production), search (production)"
    finally:
        exporter.close()
    for service in ("checkout", "search"):
        where = {"service": service, "environment": "production"}
        assert sum(value(found, "codearts_dora_deployments_total", **where, status=status) or 0
                   for status in ("success", "failed", "canceled")) > 0, service
    assert value(found, "codearts_dora_change_lead_time_seconds_count", service="checkout",
                 environment="production")


def test_a_failing_repo_costs_lead_times_not_deployments_and_a_commit_is_given_up_after_three_tries(rig):
    from exporter.simulator import Fault

    rig.sim.set_fault("repo_commit", Fault.HTTP_500)
    rig.poll()
    for cycle in range(12):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        rig.poll()
    broken = commit_requests(rig)
    assert broken and set(broken.values()) <= {1, 2, 3}  # asked once a cycle, three times at most
    found = rig.samples()
    truth_now = truth(rig, T0, rig.now[0])
    for name, want in truth_now.items():  # every deployment counted although no commit could be read
        for status in ("success", "failed", "canceled"):
            assert value(found, "codearts_dora_deployments_total", service=name, environment="production",
                         status=status) == want["statuses"][status]
    assert value(found, "codearts_dora_change_lead_time_seconds_count", service="backend",
                 environment="production") is None
    assert value(found, "codearts_dora_commit_lookups_total", result="error") == sum(broken.values())
    given_up = [commit for commit, tries in broken.items() if tries == 3]
    assert given_up
    rig.sim.clear_faults()
    for cycle in range(3):
        rig.now[0] += GAPS[cycle]
        rig.poll()
    rig.poll()
    asked = commit_requests(rig)
    assert all(asked[commit] == 3 for commit in given_up)  # never asked again
    assert max(asked.values()) <= 3
    found = rig.samples()
    assert value(found, "codearts_dora_change_lead_time_seconds_count", service="backend",
                 environment="production") > 0
    assert value(found, "codearts_dora_lead_time_skipped_total", reason="commit_unknown") >= len(given_up)


def test_a_commit_dated_after_its_deployment_is_dropped_and_counted():
    from exporter.dora.config import DoraConfig, Service
    from exporter.dora.ledger import Deployment, Ledger

    ledger = Ledger(DoraConfig((Service("a", "production"),)))
    ledger.count(Deployment(("a", "production"), "success", 1000.0, ("1", "abc")))
    ledger.commit_known(("1", "abc"), 1000.0)  # the same second: not before the deployment
    ledger.count(Deployment(("a", "production"), "success", 2000.0, ("1", "abc")))  # cached now
    assert ledger.skipped["not_before_deployment"] == 1
    assert ledger.lead[("a", "production")].count == 1 and ledger.lead[("a", "production")].sum == 1000.0
    assert ledger.lookups == {"hit": 1, "cached": 1, "miss": 0, "error": 0}


def test_a_bad_dora_entry_of_the_state_file_is_named_and_left_out_the_rest_restored(tmp_path, simulator_factory,
                                                                                      caplog):
    made = Rig(tmp_path, simulator_factory)
    try:
        made.poll()
        made.now[0] += 900
        made.poll()
        before = {key: v for key, v in made.samples().items() if key[0] == "codearts_dora_deployments_total"}
        assert any(before.values())
        made.exporter.close()
        saved = json.loads(made.state.read_text())
        saved["dora"]["streaks"] = [["backend", "production", "soon"]]
        made.state.write_text(json.dumps(saved))
        made.exporter = Exporter(made.config, clock=lambda: made.now[0])
        assert "dora.streaks[0][2]: unexpected str" in caplog.text
        after = {key: v for key, v in made.samples().items() if key[0] == "codearts_dora_deployments_total"}
        assert after == before
    finally:
        made.exporter.close()


def test_deploy_apps_are_accepted_and_commits_from_build_job_validated():
    from exporter.dora.config import parse_dora
    from exporter.validation import Checker

    check = Checker({})
    raw = {"services": [{"name": "shop", "deploy_apps": [{"project_id": P1, "include": ["^shop-prod$"],
                                                         "commits_from_build_job": "nope"}]}]}
    assert parse_dora(check, raw, [], [P1]) is None
    assert check.problems == [
        "dora.services[0].deploy_apps[0].commits_from_build_job: expected a CodeArts Build job id (32 letters and "
        "digits), got \"nope\""]
    check = Checker({})
    raw["services"][0]["deploy_apps"][0]["commits_from_build_job"] = "b" * 32
    parsed = parse_dora(check, raw, [], [P1])
    assert check.problems == [] and parsed is not None
    assert parsed.services[0].deploy_apps[0].commits_from_build_job == "b" * 32
    check = Checker({})
    del raw["services"][0]["deploy_apps"][0]["commits_from_build_job"]
    parsed = parse_dora(check, raw, [], [P1])
    assert check.problems == [] and parsed is not None and not parsed.uses_repo()
    (selector,) = parsed.services[0].deploy_apps
    assert selector.selects("a" * 32, "shop-prod") and not selector.selects("a" * 32, "shop-prod-eu")


def test_the_simulator_gives_build_records_commits_that_repo_knows_with_the_same_time(simulator_factory):
    import requests

    from exporter.payload import parse_timestamp

    from .conftest import SIM_TOKEN

    now = [T0]
    world = World(seed=7, clock=lambda: now[0], projects={"a1" * 16: 3})
    sim = simulator_factory(world)
    headers = {"X-Auth-Token": SIM_TOKEN}
    job = world.build_jobs("a1" * 16)[0]
    number = world.build_runs(world.build_spec(job["id"]))[1][1][0]  # the newest but one: finished
    info = requests.get(f"{sim.url}/v1/record/{job['id']}/{number}/record-info", headers=headers, timeout=5).json()
    record = info["result"]
    commit = requests.get(f"{sim.url}/v4/repositories/{record['repo_id']}/repository/commits",
                          params={"sha": record["commit"]}, headers=headers, timeout=5).json()
    assert commit["id"] == record["commit"]
    assert parse_timestamp(commit["committed_date"]) == parse_timestamp(record["commit_create_time"])
    other = requests.get(f"{sim.url}/v4/repositories/{int(record['repo_id']) + 1}/repository/commits",
                         params={"sha": record["commit"]}, headers=headers, timeout=5)
    assert other.status_code == 404 and other.json()["error_code"] == "CH.00402000"
    missing = requests.get(f"{sim.url}/v1/record/{job['id']}/999999/record-info", headers=headers, timeout=5)
    assert missing.status_code == 404


def all_commits_truth(rig: Rig, index: int) -> list[float]:
    """The lead times all_commits observes for the pipeline of ``index``: at its first success the head commit
    alone; at each later one, every commit after the previously deployed one (the newest 100 at most)."""
    pipeline = (rig.service.pipelines(P1) or ())[index]
    runs = sorted(rig.service.finished_runs(P1, int(T0 * 1000), int(rig.now[0] * 1000)),
                  key=lambda item: item[1].end)
    leads: list[float] = []
    previous = None
    for found, run in runs:
        if found is not pipeline or run.status != "COMPLETED":
            continue
        end = run.end / 1000
        head = head_commit(repository_of(pipeline.id), run.run.created, run.run.draw)
        if previous is None:
            leads.append(end - head.committed)
        elif head.index > previous.index:
            for number in range(max(previous.index, head.index - 100) + 1, head.index + 1):
                leads.append(end - (head.committed - (head.index - number) * 600))
        previous = head
    return leads


def test_all_commits_observes_every_commit_since_the_previous_deployment_with_one_request_each(
        tmp_path, simulator_factory):
    rig = Rig(tmp_path, simulator_factory, extra="  lead_time: all_commits\n")
    try:
        rig.poll()
        for cycle in range(30):
            rig.now[0] += GAPS[cycle % len(GAPS)]
            rig.poll()
            if cycle == 14:
                rig.restart()
        rig.poll()
        found = rig.samples()
        for name in ("backend", "search"):
            where = {"service": name, "environment": "production"}
            want = all_commits_truth(rig, SERVICES[name])
            assert value(found, "codearts_dora_change_lead_time_seconds_count", **where) == len(want), name
            assert value(found, "codearts_dora_change_lead_time_seconds_sum", **where) == \
                pytest.approx(sum(want), abs=1e-3 * len(want))
        assert len(all_commits_truth(rig, 0)) > sum(1 for _ in range(3))  # more commits than deployments
        requests_sent = rig.sim.request_count("repo_commit") + rig.sim.request_count("repo_commit_list")
        assert requests_sent == sum(value(found, "codearts_dora_commit_lookups_total", result=result)
                                    for result in ("hit", "miss"))
        assert value(found, "codearts_dora_lead_time_skipped_total", reason="commit_unknown") > 0
    finally:
        rig.exporter.close()


def test_changed_buckets_restart_only_the_histograms_not_the_deployment_counts(tmp_path, simulator_factory):
    made = Rig(tmp_path, simulator_factory)
    try:
        made.poll()
        for gap in GAPS:
            made.now[0] += gap
            made.poll()
        made.poll()
        before = made.samples()
        assert value(before, "codearts_dora_change_lead_time_seconds_count", service="backend",
                     environment="production")
        made.exporter.close()
        made.config = load_config(write_config(
            tmp_path / "c2.yaml", made.sim.url, pipeline_projects=[P1],
            extra=f"state:\n  path: {made.state}\n" + dora_section() + "  lead_time_buckets: [3600, 86400]\n"),
            sources=BUILTIN)
        made.exporter = Exporter(made.config, clock=lambda: made.now[0])
        after = made.samples()
        assert value(after, "codearts_dora_change_lead_time_seconds_count", service="backend",
                     environment="production") is None
        assert {key: v for key, v in after.items() if key[0] == "codearts_dora_deployments_total"} == \
            {key: v for key, v in before.items() if key[0] == "codearts_dora_deployments_total"}
    finally:
        made.exporter.close()


# -- Deploy-defined services ------------------------------------------------------------------------------

# Written out here, independently of the exporter: a Deploy record's state -> deployment status.
DEPLOY_STATES = {"succeeded": "success", "failed": "failed", "timeout": "timedout", "abort": "aborted",
                 "not_started": "canceled"}
# service -> the one application (by index) whose records are its deployments, named by name or (5, flaky:
# streaks) by id; single-task applications, so the order of their records is the order they ended.
DEPLOY_SERVICES = {"shop": 0, "pay": 5, "login": 4}


def deploy_dora_section(apps) -> str:
    lines = ["dora:", "  services:"]
    for name, index in DEPLOY_SERVICES.items():
        app = apps[index]
        include = app.id if index == 5 else f"^{app.name}$"
        lines += [f"    - name: {name}", "      environment: prod", "      deploy_apps:",
                  f"        - project_id: {P1}", f"          include: ['{include}']"]
    return "\n".join(lines) + "\n"


def deploy_truth(rig, until: float) -> dict[str, dict]:
    """Per Deploy service: deployments per status and closed streaks (times to the second, as Deploy writes)."""
    apps = rig.service.apps(P1)
    records = sorted(rig.service.finished(P1, int(T0 * 1000), int(until * 1000)),
                     key=lambda item: item[1].end)
    by_service: dict[str, dict] = {}
    for name, index in DEPLOY_SERVICES.items():
        statuses: Counter = Counter()
        recoveries: list[float] = []
        streak = last = None
        for app, record in records:
            if app is not apps[index]:
                continue
            status, end = DEPLOY_STATES[record.state], record.end // 1000
            statuses[status] += 1
            if status in ("failed", "timedout"):
                streak = end if streak is None else streak
            elif status == "success":
                if streak is not None:
                    recoveries.append(end - streak)
                    streak = None
                last = end
        by_service[name] = {"statuses": statuses, "recoveries": recoveries, "last": last}
    return by_service


def test_fifty_cycles_of_deploy_records_with_a_restart_count_every_deployment_once(tmp_path, simulator_factory,
                                                                                    closing):
    from exporter.simulator.deployments import DeployService

    from .helpers.deployrig import Rig as DeployRig

    apps = DeployService(seed=7, projects={P1: 8}).apps(P1) or ()
    extra = f"state:\n  path: {tmp_path / 'state.json'}\n" + deploy_dora_section(apps)
    rig = closing(DeployRig(tmp_path, simulator_factory, {P1: 8}, extra=extra))
    assert rig.poll().all_up()
    for cycle in range(50):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        assert rig.poll().all_up()
        if cycle == 24:
            before = {key: v for key, v in rig.samples().items() if key[0].startswith("codearts_dora_")}
            rig.exporter.close()
            rig.start_exporter(rig.config)
            assert {key: v for key, v in rig.samples().items() if key[0].startswith("codearts_dora_")} == before
    expected = deploy_truth(rig, rig.now[0])
    found = rig.samples()
    for name, want in expected.items():
        where = {"service": name, "environment": "prod"}
        for status in DEPLOY_STATES.values():
            assert value(found, "codearts_dora_deployments_total", **where, status=status) == \
                want["statuses"][status], (name, status)
        assert value(found, "codearts_dora_change_lead_time_seconds_count", **where) is None  # no commit, no lead
        assert (value(found, "codearts_dora_failed_deployment_recovery_seconds_count", **where) or 0) == \
            len(want["recoveries"]), name
        assert (value(found, "codearts_dora_failed_deployment_recovery_seconds_sum", **where) or 0) == \
            sum(want["recoveries"]), name
        assert value(found, "codearts_dora_last_deployment_timestamp_seconds", **where) == want["last"], name
    assert sum(want["statuses"]["success"] for want in expected.values()) > 20
    assert sum(len(want["recoveries"]) for want in expected.values()) >= 2
    assert len({status for want in expected.values() for status in want["statuses"]}) >= 3
    # A Deploy record names no commit by design: not a skipped lead time.
    assert value(found, "codearts_dora_lead_time_skipped_total", reason="no_commit") == 0


def build_lead_truth(rig, job_id: str, app_index: int, until: float) -> tuple[int, int, int, int]:
    """(count, sum, no build before, distinct build records) of the lead times of an app's successful
    deployments whose commit is that of the newest successful record of ``job_id`` that finished before the
    deployment started (to the second)."""
    from exporter.payload import parse_timestamp
    from exporter.simulator.records import iso_time

    spec = rig.world.build_spec(job_id)
    runs = rig.world.build_runs(spec, until)[1]
    app = rig.service.apps(P1)[app_index]
    count = total = none_before = 0
    records = set()
    for owner, record in rig.service.finished(P1, int(T0 * 1000), int(until * 1000)):
        if owner is not app or DEPLOY_STATES[record.state] != "success":
            continue
        start, end = record.start // 1000, record.end // 1000
        run = next((run for _, run in runs if run.outcome == "success" and run.finished <= until * 1000
                    and parse_timestamp(iso_time(run.finished)) < start), None)
        if run is None:
            none_before += 1
            continue
        records.add(run.created)
        seconds = end - head_commit(int(spec.template["repo_id"]), run.created, run.draw).committed
        if seconds > 0:
            count, total = count + 1, total + seconds
    return count, total, none_before, len(records)


def test_deploy_lead_time_from_a_build_job_over_thirty_cycles_with_a_restart_reads_each_record_once(
        tmp_path, simulator_factory, closing):
    from .helpers.deployrig import Rig as DeployRig

    world = World(projects={P1: 3}, seed=7, clock=lambda: T0, deploy_projects={P1: 8})
    job_id = (world.build_jobs(P1) or [{}])[0]["id"]
    app = world.deploy_service.apps(P1)[0]
    extra = (f"state:\n  path: {tmp_path / 'state.json'}\n" "dora:\n  services:\n    - name: shop\n"
             f"      deploy_apps:\n        - project_id: {P1}\n          include: ['^{app.name}$']\n"
             f"          commits_from_build_job: {job_id}\n")
    rig = closing(DeployRig(tmp_path, simulator_factory, {P1: 8}, extra=extra, build_projects={P1: 3}))
    assert rig.poll().all_up()
    for cycle in range(30):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        assert rig.poll().all_up()
        if cycle == 14:
            before = {key: v for key, v in rig.samples().items() if key[0].startswith("codearts_dora_")}
            rig.exporter.close()
            rig.start_exporter(rig.config)
            assert {key: v for key, v in rig.samples().items() if key[0].startswith("codearts_dora_")} == before
    rig.now[0] += 1
    assert rig.poll().all_up()  # the last cycle's deployments are looked up at the next one
    count, total, none_before, records = build_lead_truth(rig, job_id, 0, rig.now[0])
    found = rig.samples()
    where = {"service": "shop", "environment": "production"}
    assert value(found, "codearts_dora_change_lead_time_seconds_count", **where) == count
    assert value(found, "codearts_dora_change_lead_time_seconds_sum", **where) == total
    assert value(found, "codearts_dora_lead_time_skipped_total", reason="no_build_before") == none_before
    assert count >= 5
    lookups = {result: value(found, "codearts_dora_commit_lookups_total", result=result)
               for result in ("hit", "cached", "miss", "error")}
    assert lookups["miss"] == lookups["error"] == 0
    # each build record read once across the restart; a later deployment after the same build is served cached
    assert lookups["hit"] == records and lookups["hit"] + lookups["cached"] == count
    assert lookups["cached"] >= 1


def test_a_deploy_deployment_with_no_successful_build_before_it_is_counted_and_its_lead_time_skipped(caplog):
    from exporter.dora.config import parse_dora
    from exporter.dora.ledger import Deployment, Ledger, ledger_from_state
    from exporter.validation import Checker

    raw = {"services": [{"name": "shop", "deploy_apps": [{"project_id": P1, "include": ["^shop$"],
                                                         "commits_from_build_job": "b" * 32}]}]}
    config = parse_dora(Checker({}), raw, [], [P1])
    assert config is not None
    ledger = Ledger(config)
    for end in (T0 + 60, T0 + 120):
        ledger.count(Deployment(("shop", "production"), "success", end, None, with_lead_time=False,
                                build=(P1, "b" * 32, end - 30)))
    ledger = ledger_from_state(config, json.loads(json.dumps(ledger.to_state())))  # across a restart
    assert len(ledger.from_builds) == 2
    for waiting in list(ledger.from_builds):
        assert ledger.build_found(waiting, None)
    assert ledger.deployments[("shop", "production", "success")] == 2
    assert ledger.skipped["no_build_before"] == 2 and not ledger.lead and not ledger.from_builds
    assert [record.message for record in caplog.records].count(
        f"DORA: build job {'b' * 32} has no successful record that finished before a deployment of shop started, so "
        "it has no lead time (counted in codearts_dora_lead_time_skipped_total{reason='no_build_before'}; logged "
        "once)") == 1
    # A record read once is cached across a restart: its commit (or that it names none) serves later deployments.
    for end in (T0 + 600, T0 + 700, T0 + 800, T0 + 900):
        ledger.count(Deployment(("shop", "production"), "success", end, None, with_lead_time=False,
                                build=(P1, "b" * 32, end - 30)))
    first, second, third, fourth = ledger.from_builds
    assert not ledger.build_found(first, 7) and not ledger.build_found(second, 8)
    ledger.record_known(first, 7, None)
    ledger.record_known(second, 8, (("42", "c0ffee"), T0 + 500))
    ledger = ledger_from_state(config, json.loads(json.dumps(ledger.to_state())))
    assert ledger.build_found(third, 7) and ledger.build_found(fourth, 8)
    assert ledger.skipped["commit_unknown"] == 2
    assert ledger.lookups == {"hit": 1, "miss": 1, "cached": 2, "error": 0}
    assert ledger.lead[("shop", "production")].sum == (T0 + 700 - T0 - 500) + (T0 + 900 - T0 - 500)
