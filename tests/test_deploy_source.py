"""The CodeArts Deploy source against the simulator: last deployments equal to the simulator's ground truth,
what a cycle costs, both error shapes, bad input, and every auth mode on the Deploy host."""

from __future__ import annotations

import logging
import math

import pytest
import requests

from exporter.config import load_config
from exporter.simulator import AccessKey, Fault, IamService, World
from exporter.simulator.deployments import local_time
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN
from .helpers.deployrig import P1, P2, T0, Rig, deploy_config, last_truth, served
from .helpers.iam import AK, AUTH_MODES, IAM_PROJECT, SK

NO_HISTORY = "history:\n  enabled: false\n"


@pytest.fixture
def rig_factory(tmp_path, simulator_factory, closing):
    return lambda projects, **options: closing(Rig(tmp_path, simulator_factory, projects, **options))


def test_every_last_deployment_equals_the_simulators_ground_truth(rig_factory):
    rig = rig_factory({P1: 130, P2: 17}, extra=NO_HISTORY)
    statuses: set[str] = set()
    for step in range(10):
        rig.now[0] = T0 + step * 173.5
        assert rig.poll().all_up()
        expected = last_truth(rig, rig.now[0])
        assert served(rig.samples()) == pytest.approx(expected)
        statuses |= {dict(key[1])["status"] for key in expected if key[0] == "codearts_deploy_app_last_status"}
    assert {"success", "failed", "running", "pending", "never"} <= statuses  # the truth covered what matters


def test_a_steady_cycle_costs_one_request_per_100_applications(rig_factory):
    rig = rig_factory({P1: 250, P2: 40}, extra=NO_HISTORY)
    assert rig.poll().all_up()
    rig.sim.reset_counts()
    assert rig.poll().all_up()
    assert rig.sim.request_count("deploy_list") == math.ceil(250 / 100) + math.ceil(40 / 100)
    assert rig.sim.request_count() == rig.sim.request_count("deploy_list")


def test_a_project_of_1000_applications_is_listed_whole_in_10_requests(rig_factory):
    rig = rig_factory({P1: 1_000}, extra=NO_HISTORY)
    snapshot = rig.poll()
    assert snapshot.all_up() and len({app.id for app in snapshot.states[0].records}) == 1_000
    assert rig.sim.request_count("deploy_list") == 10  # the bench (bench/deploy.py) lists 5,000


def test_names_are_filtered(rig_factory, tmp_path):
    rig = rig_factory({P1: 24})
    config = deploy_config(tmp_path / "f.yaml", rig.sim.url, [])
    config.write_text(config.read_text() + f"  - id: {P1}\n    include: ['^(checkout|auth)-']\n"
                      "    exclude: ['-12$']\n")
    exporter = Exporter(load_config(config, sources=BUILTIN), clock=lambda: rig.now[0])
    try:
        names = sorted(app.name for app in exporter.poll_once().states[0].records)
    finally:
        exporter.close()
    assert names == ["auth-deploy-20", "auth-deploy-4", "checkout-deploy-0", "checkout-deploy-16",
                     "checkout-deploy-8"]


# -- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("how", "status"), [("403", 403), ("403-flat", 403), ("200", 200)])
def test_a_refusal_in_either_error_shape_takes_that_project_down_with_its_code_and_is_not_retried(
        rig_factory, how, status):
    rig = rig_factory({P1: 5, P2: 5}, extra=NO_HISTORY)
    rig.service.denied[P2] = how
    snapshot = rig.poll()
    states = {state.target.key: state for state in snapshot.states}
    assert states[P1].up and not states[P2].up
    assert "Deploy.00011154" in states[P2].error and "Insufficient permissions" in states[P2].error
    refused = [record for record in rig.sim.requests if record.status == status and record.route == "deploy_list"]
    assert len(rig.sim.requests) == 2 and len(refused) == (1 if status == 403 else 2)  # no retry
    samples = rig.samples()
    assert samples[("codearts_up", frozenset({"api": "deploy", "target": P2}.items()))] == 0


def test_a_200_whose_status_is_not_success_takes_the_project_down_with_that_status(rig_factory):
    rig = rig_factory({P1: 3}, extra=NO_HISTORY)
    rig.service.list_status = "partial"
    (state,) = rig.poll().states
    assert not state.up and "status 'partial' instead of 'success'" in state.error


def test_a_503_is_retried_and_a_429_throttles(rig_factory):
    rig = rig_factory({P1: 5}, extra=NO_HISTORY)
    rig.sim.set_fault("deploy_list", Fault.HTTP_503, times=1)
    assert rig.poll().all_up()
    rig.sim.set_fault("deploy_list", Fault.THROTTLED, times=1)
    assert rig.poll().all_up()
    samples = rig.samples()
    assert samples[("codearts_api_retries_total", frozenset({"api": "deploy", "reason": "http_503"}.items()))] == 1
    assert samples[("codearts_api_throttled_total", frozenset({"api": "deploy"}.items()))] == 1
    assert [record.status for record in rig.sim.requests] == [503, 200, 429, 200]


def test_times_durations_and_end_times_the_docs_leave_open_are_read_as_meant(rig_factory):
    rig = rig_factory({P1: 8}, extra=NO_HISTORY)
    apps = [app for app in rig.service.apps(P1) if app.tasks][:5]
    start = T0 - 90_000  # more than a day ago
    rig.service.overrides.update({
        apps[0].id: {"execution_state": "succeeded", "execution_time": local_time(int(start * 1000), True),
                     "end_time": local_time(int((start + 98_049) * 1000)), "duration": "27:14:09"},
        apps[1].id: {"execution_state": "timeout", "execution_time": local_time(int(start * 1000)),
                     "end_time": "", "duration": "1 day 03:14:09"},
        apps[2].id: {"execution_state": "running", "execution_time": local_time(int((T0 - 30) * 1000)),
                     "end_time": local_time(int((T0 - 60) * 1000))},  # an end before the start: not finished
        apps[3].id: {"execution_state": "failed", "execution_time": local_time(int((T0 - 30) * 1000)),
                     "end_time": None, "duration": "garbage"},
    })
    assert rig.poll().all_up()
    samples = rig.samples()

    def sample(name, app):
        return samples.get((name, frozenset({"project_id": P1, "app_id": app.id, "app": app.name}.items())))

    day = 86_400 + 3 * 3600 + 14 * 60 + 9
    assert sample("codearts_deploy_app_last_start_timestamp_seconds", apps[0]) == start
    assert sample("codearts_deploy_app_last_duration_seconds", apps[0]) == 98_049  # end - start, not "27:14:09"
    assert sample("codearts_deploy_app_last_end_timestamp_seconds", apps[1]) is None
    assert sample("codearts_deploy_app_last_duration_seconds", apps[1]) == day  # Deploy's own, past a day
    assert sample("codearts_deploy_app_last_end_timestamp_seconds", apps[2]) is None
    assert sample("codearts_deploy_app_last_duration_seconds", apps[2]) == 30  # still running: to the poll
    assert sample("codearts_deploy_app_last_duration_seconds", apps[3]) is None  # no end, no readable duration


def test_an_unknown_state_is_exported_as_unknown_counted_and_logged_once_and_a_malformed_app_skipped(
        rig_factory, caplog):
    rig = rig_factory({P1: 8}, extra=NO_HISTORY)
    odd, other, bad = [app for app in rig.service.apps(P1) if app.tasks][:3]
    rig.service.overrides.update({odd.id: {"execution_state": "rolling_back"},
                                  other.id: {"execution_state": "rolling_back"}, bad.id: {"id": None}})
    with caplog.at_level(logging.WARNING):
        assert rig.poll().all_up()
        rig.now[0] += 60
        assert rig.poll().all_up()
    samples = rig.samples()
    labels = {"project_id": P1, "app_id": odd.id, "app": odd.name, "status": "unknown"}
    assert samples[("codearts_deploy_app_last_status", frozenset(labels.items()))] == 1
    skipped = {reason: samples[("codearts_records_skipped_total",
                                frozenset({"api": "deploy", "reason": reason}.items()))]
               for reason in ("unknown_status", "malformed")}
    assert skipped == {"unknown_status": 4, "malformed": 2}  # per poll, two polls
    assert caplog.text.count("'rolling_back'") == 1 and "status_vocabulary" in caplog.text  # once, by name
    assert samples[("codearts_api_assumption_failures_total",
                    frozenset({"api": "deploy", "assumption": "status_vocabulary"}.items()))] == 1
    assert not any(dict(key[1]).get("app_id") == bad.id for key in samples)


# -- auth modes against the Deploy host ------------------------------------------------------------------




@pytest.mark.parametrize("mode", AUTH_MODES)
def test_every_auth_mode_works_against_the_deploy_host(tmp_path, simulator_factory, mode):
    now = [T0]
    world = World(seed=7, clock=lambda: now[0], deploy_projects={P1: 12})
    iam, auth = AUTH_MODES[mode]
    sim = (simulator_factory(world) if iam is None
           else simulator_factory(world, token=None, iam=iam(lambda: now[0])))
    config = load_config(deploy_config(tmp_path / "c.yaml", sim.url, [P1], auth=auth), sources=BUILTIN)
    exporter = Exporter(config, clock=lambda: now[0])
    try:
        assert exporter.poll_once().all_up()
        now[0] += 600  # deployments finish: the POST's body and the history's query are both signed
        assert exporter.poll_once().all_up()
    finally:
        exporter.close()
    answered = [(record.route, record.status) for record in sim.requests if record.route.startswith("deploy")]
    assert {route for route, _ in answered} >= {"deploy_list"}
    assert {status for _, status in answered} == {200}


def test_a_refused_aksk_signature_says_deploy_may_not_take_aksk(tmp_path, simulator_factory):
    world = World(seed=7, clock=lambda: T0, deploy_projects={P1: 3})
    sim = simulator_factory(world, token=None,
                            iam=IamService(access_keys=[AccessKey("OTHERAK0000000000001", SK, IAM_PROJECT)]))
    auth = ["  aksk:", f"    ak: {AK}", f"    sk: {SK}", f"    project_id: {IAM_PROJECT}"]
    exporter = Exporter(load_config(deploy_config(tmp_path / "c.yaml", sim.url, [P1], auth=auth, extra=NO_HISTORY),
                                    sources=BUILTIN), clock=lambda: T0)
    try:
        (state,) = exporter.poll_once().states
    finally:
        exporter.close()
    assert not state.up and "AK/SK" in state.error and "auth.password" in state.error
    assert SK not in state.error


def test_the_demo_polls_a_deploy_project():
    from exporter.demo import start_demo

    simulator, config = start_demo(BUILTIN)
    exporter = Exporter(config)
    try:
        snapshot = exporter.poll_once()
    finally:
        exporter.close()
        simulator.stop()
    (state,) = [state for state in snapshot.states if state.target.api == "deploy"]
    assert state.up and len(state.records) == 8
    assert any(app.last is not None for app in state.records)


def test_the_simulator_checks_the_history_parameters_and_answers_errors_in_the_nested_shape(simulator_factory):
    world = World(seed=7, clock=lambda: T0, deploy_projects={P1: 3})
    sim = simulator_factory(world)
    headers = {"X-Auth-Token": SIM_TOKEN}
    task = world.deploy_service.apps(P1)[0].tasks[0].id
    url = f"{sim.url}/v2/{P1}/task/{task}/history"
    good = {"page": 1, "size": 100, "start_date": "2025-06-01", "end_date": "2025-06-16"}
    answer = requests.get(url, params=good, headers=headers, timeout=10).json()
    assert answer["total_num"] > 100 == len(answer["result"])
    releases = [record["release_id"] for record in answer["result"]]
    assert releases == sorted(releases, reverse=True)  # newest first
    for bad in ({"start_date": "2025-05-01"}, {"size": 101}, {"page": 0}, {"end_date": ""}):
        refused = requests.get(url, params=good | bad, headers=headers, timeout=10)
        assert refused.status_code == 400 and refused.json()["status"] == "failed"
        assert refused.json()["error"]["code"].startswith("Deploy.")
    unknown = requests.get(f"{sim.url}/v2/{P1}/task/{'0' * 32}/history", params=good, headers=headers, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "Deploy.00011020"
