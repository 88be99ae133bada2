"""Deploy run history against the simulator on a fake clock: every finished deployment counted exactly once
over 50 cycles (each application's last deployment equal to the World's after every one), across a restart
after six hours (state.path), within the per-cycle budget (application details included), history asked
only for what changed, a re-created application and a history that answers nothing."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter

import pytest

from exporter.simulator.deployments import ORIGIN_MS

from .conftest import parse_samples
from .helpers.counting import assert_counted_exactly, labelled
from .helpers.deployrig import P1, P2, T0, Rig, last_truth, served

# Written out here, independently of the exporter.
TERMINAL = {"succeeded": "success", "failed": "failed", "timeout": "timedout", "abort": "aborted",
            "not_started": "canceled"}
GAPS = (30, 90, 700, 45, 1500, 60, 240, 400, 20, 900)
HISTORY = "history:\n  buckets: [60, 600]\n"
SIZES = {P1: 12, P2: 7}  # two-task applications among them (index % 16 == 6), and never-deployed ones


def truth(rig: Rig, after: float, until: float) -> tuple[Counter, Counter, Counter]:
    """Deployments, their seconds and those of at most 60 s per (project, app id, app, status) finished in
    (after, until]; times to the second, as Deploy writes them."""
    runs: Counter = Counter()
    seconds: Counter = Counter()
    short: Counter = Counter()
    for project in rig.service.projects:
        for app, deployment in rig.service.finished(project, int(after * 1000), int(until * 1000)):
            key = (project, app.id, app.name, TERMINAL[deployment.state])
            took = deployment.end // 1000 - deployment.start // 1000
            runs[key] += 1
            seconds[key] += took
            short[key] += took <= 60
    return runs, seconds, short


ORDER = ("project_id", "app_id", "app")


def series(found: dict, name: str) -> dict[tuple, float]:
    return labelled(found, name, (*ORDER, "status"))


def assert_counts_equal(rig: Rig, after: float) -> None:
    assert_counted_exactly(parse_samples(rig.exporter.metrics_text().decode()), "codearts_deploy_runs_total",
                           "codearts_deploy_run_duration_seconds", ORDER, truth(rig, after, rig.now[0]))


def cycles(rig: Rig, count: int, per_cycle: list | None = None, *, last: bool = False) -> None:
    """``count`` polls at GAPS apart; with ``last``, each application's last deployment checked after each."""
    for cycle in range(count):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        before = rig.sim.request_count("deploy_history")
        assert rig.poll().all_up()
        if per_cycle is not None:
            per_cycle.append(rig.sim.request_count("deploy_history") - before)
        if last:
            assert served(rig.samples()) == pytest.approx(last_truth(rig, rig.now[0])), cycle


@pytest.fixture
def make_rig(tmp_path, simulator_factory, closing):
    return lambda extra="", sizes=SIZES: closing(Rig(tmp_path, simulator_factory, sizes, extra=HISTORY + extra))


def test_fifty_cycles_count_every_finished_deployment_exactly_once(make_rig):
    rig = make_rig()
    assert rig.poll().all_up()
    first = parse_samples(rig.exporter.metrics_text().decode())
    zeros = series(first, "codearts_deploy_runs_total")
    assert set(zeros.values()) == {0.0} and len(zeros) == 5 * sum(SIZES.values())  # from zero, every status
    assert rig.sim.request_count("deploy_history") == 0  # the first poll only sets the marks
    cycles(rig, 50, last=True)
    runs = truth(rig, T0, rig.now[0])[0]
    assert sum(runs.values()) > 300 and len({key[3] for key in runs}) == 5  # a busy world, every status
    assert_counts_equal(rig, T0)
    two_tasks = {app.id for project in rig.service.projects for app in rig.service.apps(project)
                 if len(app.tasks) == 2}
    assert two_tasks and two_tasks <= {key[1] for key in runs}  # counted through each task's history


def test_a_restart_after_six_hours_with_the_state_file_ends_equal_to_ground_truth(make_rig, tmp_path):
    rig = make_rig(f"state:\n  path: {tmp_path / 'state.json'}\n")
    assert rig.poll().all_up()
    cycles(rig, 25)
    before = series(parse_samples(rig.exporter.metrics_text().decode()), "codearts_deploy_runs_total")
    rig.exporter.close()
    rig.now[0] += 6 * 3600  # down for six hours: more than 100 deployments of some tasks, two pages each
    rig.start_exporter(rig.config)
    restored = series(parse_samples(rig.exporter.metrics_text().decode()), "codearts_deploy_runs_total")
    assert restored == before  # restored before the first poll
    pages_before = rig.sim.request_count("deploy_history")
    assert rig.poll().all_up()
    tasks = sum(len(app.tasks) for project in rig.service.projects for app in rig.service.apps(project))
    assert rig.sim.request_count("deploy_history") - pages_before > tasks  # every task behind, some by pages
    cycles(rig, 25, last=True)
    assert_counts_equal(rig, T0)
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["deploy_marks"] and saved["deploy_runs"]


def test_history_is_asked_only_for_the_tasks_of_applications_that_changed(make_rig):
    rig = make_rig(sizes={P1: 40})
    assert rig.poll().all_up()
    rig.sim.reset_counts()
    assert rig.poll().all_up()  # nothing changed: the list alone
    assert [record.route for record in rig.sim.requests] == ["deploy_list"]
    rig.sim.reset_counts()
    rig.now[0] += 45
    assert rig.poll().all_up()
    asked = {re.search(r"/task/([0-9a-f]{32})/history", record.path)[1]
             for record in rig.sim.requests if record.route == "deploy_history"}
    finished = {deployment.task_id for app, deployment in rig.service.finished(P1, int(T0 * 1000),
                                                                                int(rig.now[0] * 1000))}
    assert asked == finished and finished  # exactly the tasks that finished a deployment, one request each
    assert rig.sim.request_count("deploy_history") == len(finished)


def test_history_requests_stay_within_the_per_cycle_budget_and_catch_up_later(make_rig):
    rig = make_rig("  max_requests_per_cycle: 3\n")
    assert rig.poll().all_up()
    per_cycle: list[int] = []
    cycles(rig, 20, per_cycle)
    assert max(per_cycle) <= 3 and sum(per_cycle) > 20
    for _ in range(40):  # the clock stands still: what the budget left over is fetched, 3 a cycle
        assert rig.poll().all_up()
    assert_counts_equal(rig, T0)


def test_application_details_share_the_history_budget_with_the_history_fetches(make_rig):
    budget = 4
    rig = make_rig(f"  max_requests_per_cycle: {budget}\n", sizes={P1: 40, P2: 40})
    two_tasks = {app.id for project in rig.service.projects for app in rig.service.apps(project)
                 if len(app.tasks) == 2}
    assert len(two_tasks) == 6  # more than the budget: their details alone would overrun it in a busy cycle
    spent: list[int] = []

    def poll() -> Counter:
        rig.sim.reset_counts()
        assert rig.poll().all_up()
        spent.append(rig.sim.request_count("deploy_app_info") + rig.sim.request_count("deploy_history"))
        return Counter(re.search(r"/applications/([0-9a-f]{32})/info", record.path)[1]
                       for record in rig.sim.requests if record.route == "deploy_app_info")

    first = poll() + poll() + poll()  # the clock stands still: every task seen once (no back-fill before that)
    assert set(first) == two_tasks
    read: Counter = Counter()
    for cycle in range(30):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        read += poll()
    assert max(spent) <= budget, spent  # details and history pages together, every cycle
    assert max(spent) == budget  # a busy world: the budget is what held them
    # changed ones still read, none starved (how the half is shared between the two projects depends on which
    # listing finishes first, so the counts differ by a few between runs: 4 to 16 seen)
    assert set(read) == two_tasks and min(read.values()) >= 2, read
    for _ in range(40):  # the clock stands still: what the budget left over is read and fetched
        poll()
    assert max(spent) <= budget, spent
    assert_counts_equal(rig, T0)  # two-task applications' deployments too, each once


def test_a_recreated_application_counts_again_from_its_new_release_ids_once(make_rig, caplog):
    rig = make_rig()
    app = next(app for app in rig.service.apps(P1) if len(app.tasks) == 1)
    assert rig.poll().all_up()
    cycles(rig, 5)
    recreated_at = rig.now[0] + 1
    before = sum(1 for each, _ in rig.service.finished(P1, int(T0 * 1000), int(rig.now[0] * 1000)) if each is app)
    rig.service.recreated[app.id] = int(recreated_at * 1000)  # its release ids start again at 1
    with caplog.at_level(logging.WARNING):
        cycles(rig, 20)
    # Named once, by the run_numbers_grow assumption, with the task.
    assert caplog.text.count("run_numbers_grow") == 1 and app.tasks[0].id in caplog.text
    found = parse_samples(rig.exporter.metrics_text().decode())
    assert found[("codearts_api_assumption_failures_total",
                  frozenset({"api": "deploy", "assumption": "run_numbers_grow"}.items()))] == 1
    counted = sum(value for key, value in series(found, "codearts_deploy_runs_total").items() if key[1] == app.id)
    after = sum(1 for each, _ in rig.service.finished(P1, int(recreated_at * 1000), int(rig.now[0] * 1000))
                if each is app)
    # The new incarnation's deployments are counted from #1, each once; the old ones are not counted twice.
    assert counted == before + after and after >= 3
    assert_counts_equal_except(rig, app.id)


def assert_counts_equal_except(rig: Rig, app_id: str) -> None:
    """Every other application's counters equal the World's."""
    found = series(parse_samples(rig.exporter.metrics_text().decode()), "codearts_deploy_runs_total")
    others = {key: value for key, value in found.items() if key[1] != app_id and value}
    assert others == {key: value for key, value in truth(rig, T0, rig.now[0])[0].items() if key[1] != app_id}


def test_first_sight_of_a_world_older_than_the_window_sets_marks_without_history(make_rig):
    rig = make_rig(sizes={P1: 4})
    assert rig.now[0] * 1000 - ORIGIN_MS > 30 * 86_400_000  # years of deployments behind every task
    assert rig.poll().all_up()
    assert rig.sim.request_count("deploy_history") == 0


def test_a_history_that_answers_nothing_counts_the_deployments_as_gone_and_stops_asking(make_rig):
    rig = make_rig(sizes={P1: 4})
    app = rig.service.apps(P1)[0]
    task = app.tasks[0].id
    rig.service.blank_history.add(task)
    assert rig.poll().all_up()
    rig.now[0] += 1500  # several deployments of every task finish
    for _ in range(5):  # the listing stays as it is: asked once, then left alone
        assert rig.poll().all_up()
    asked = [record for record in rig.sim.requests if record.route == "deploy_history" and task in record.path]
    assert len(asked) == 1
    found = parse_samples(rig.exporter.metrics_text().decode())
    gone = found[("codearts_records_skipped_total", frozenset({"api": "deploy_history", "reason": "not_listed"}
                                                              .items()))]
    lost = sum(1 for each, _ in rig.service.finished(P1, int(T0 * 1000), int(rig.now[0] * 1000)) if each is app)
    assert gone == lost > 0
    assert not any(value for key, value in series(found, "codearts_deploy_runs_total").items() if key[1] == app.id)


def test_a_history_record_in_a_state_nobody_knows_is_counted_as_skipped_once(make_rig):
    rig = make_rig(sizes={P1: 4})
    task = rig.service.apps(P1)[1].tasks[0].id
    rig.service.history_overrides[task] = {"state": "rolled_back"}  # every finished record of that task
    assert rig.poll().all_up()
    rig.now[0] += 1500
    for _ in range(3):
        assert rig.poll().all_up()
    found = parse_samples(rig.exporter.metrics_text().decode())
    skipped = found[("codearts_records_skipped_total", frozenset({"api": "deploy_history",
                                                                  "reason": "unknown_status"}.items()))]
    finished = sum(1 for _, deployment in rig.service.finished(P1, int(T0 * 1000), int(rig.now[0] * 1000))
                   if deployment.task_id == task)
    assert skipped == finished > 0


def test_a_counted_deployment_becomes_one_clean_record_for_delivery_metrics():
    from exporter.runhistory.numbered import Pending
    from exporter.sources.deploy.config import DeployProject
    from exporter.sources.deploy.history import DeployHistory, TaskJob
    from exporter.sources.deploy.models import Deployment

    entry = Pending("t" * 32, (P1, "a" * 32, "checkout"), TaskJob(DeployProject(P1), "t" * 32, T0), P1, 8, 8,
                    (8, "failed"), 0)
    record = DeployHistory.finished_deployment(entry, Deployment(8, "e" * 32, "failed", "failed", T0 - 90, T0))
    assert (record.app_id, record.app, record.task_id, record.release_id, record.execution_id, record.status,
            record.duration) == ("a" * 32, "checkout", "t" * 32, 8, "e" * 32, "failed", 90)
