"""The shipped dashboards and alert rules on a real Prometheus scraping real exporters.

Prometheus (Debian's package) scrapes, every second, exporter targets built to show every condition
the rules and panels look for:

- ``live``: an exporter polling a simulator every second, whose World clock the test drives (frozen
  between jumps, stepped forward so that runs finish while Prometheus scrapes); it also polls a project
  the simulator answers 500 for and a project and a pipeline it answers 404 for;
- ``stuck``: an exporter that polled once, an hour ago, a World whose clock is eight days behind, and
  whose poller never ran again: stale data, jobs "running" for days, jobs not run for a week;
- ``rejected``: an exporter whose token the simulator rejects (401 on every poll);
- ``sharded``: one replica of an 8-shard deployment whose other replicas are missing;
- ``password``: an exporter with IAM password auth against a simulator whose IAM issues 30-minute
  tokens (renewal at 80 % comes long after the test): the token has under an hour left;
- ``dead``: a port nobody listens on (the exporter cannot be scraped).

Every PromQL expression of every dashboard panel and every alert rule, found by reading the files, is
then evaluated through the HTTP API and must return at least one series. The test also measures how
long the failing-job alert takes to fire after the simulator's World fails a job, and checks that the
run counters Prometheus scraped hold exactly the runs the World finished meanwhile.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from exporter.config import parse_config
from exporter.server import ExporterHTTPServer
from exporter.sharding import ShardSpec
from exporter.simulator import Fault, IamService, IamUser, Simulator, World
from exporter.simulator.mergerequests import MergeRequestPlan
from exporter.simulator.names import project_name
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, wait_until

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "deploy" / "prometheus"
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"
EXAMPLE_CONFIG = RULES_DIR / "prometheus.example.yml"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
SCRAPE_JOB = "codearts-exporter"  # the scrape job name CodeArtsExporterDown selects
# What the test substitutes for Grafana's own variables; template variables get their "All" value.
GRAFANA_BUILTINS = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s"}
ALL_VALUE = ".*"

LIVE_PROJECT, BUSY_PROJECT, ERROR_PROJECT, MISSING_PROJECT = "a1" * 16, "a2" * 16, "e5" * 16, "f4" * 16
LIVE_REPO = 2111976239
DISCOVERED_REPO = 2111976240  # a repository of LIVE_PROJECT with merge requests, found by discovery
STUCK_PROJECT, STUCK_REPO = "b1" * 16, 1_000_001
LIVE_CP, STUCK_CP = "c1" * 16, "c2" * 16  # CodeArts Pipeline projects of the live and the stuck world
CP_FAILS, CP_STAGE = 2, 4  # pipelines of LIVE_CP the test fails, and whose stage fails run after run
LIVE_DP, STUCK_DP = "d1" * 16, "d2" * 16  # CodeArts Deploy projects of the live and the stuck world
DP_FAILS = 3  # the application of LIVE_DP whose deployment the test fails
LIVE_TP = "d3" * 16  # a CodeArts TestPlan project of the live world, one plan of it failing most cases, overdue
EIGHT_DAYS = 8 * 86_400.0
ALERT_DEADLINE = 20.0  # seconds; expected: one poll + one scrape + one rule evaluation, 1 s each
# After the alert: World time moves on in steps, a poll after each, so runs finish while Prometheus scrapes
# and rate()/increase() over the run-history metrics see them. Jobs run every 2 to 10 minutes.
HISTORY_STEPS, HISTORY_MIN_STEP = 3, 300.0
# Under the hour CodeArtsTokenExpiringSoon looks for; the exporter would renew it after 24 minutes.
IAM_USER = IamUser("codearts-account", "ci-observer", "pw-integration-7f3e", "0a1b2c3d4e5f60718293a4b5c6d7e8f9")
TOKEN_LIFETIME = 1800.0
TOTAL_SHARDS = 8  # more than the exporters scraped here, so some shard has no replica

# On CI .ci/run installs Debian's prometheus, so its absence there is a failure, not a skip.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif((PROMETHEUS is None or PROMTOOL is None) and os.environ.get("CI") != "true",
                       reason="prometheus/promtool not installed (apt-get install prometheus)"),
]


# --- finding every expression -------------------------------------------------------------------

@dataclass(frozen=True)
class Expression:
    """One PromQL expression and where it comes from."""

    source: str
    expr: str


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # panels of collapsed rows


def _substitute(text: str, variables: list[str]) -> str:
    for builtin, value in GRAFANA_BUILTINS.items():
        text = text.replace(builtin, value)
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace("${" + name + "}", ALL_VALUE).replace("$" + name, ALL_VALUE)
    assert not re.search(r"\$(?!\d)", text), f"unknown variable left in {text!r}"  # "$1": label_replace's
    return text


def _query_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in dashboard["templating"]["list"] if v["type"] == "query"]


def dashboard_expressions() -> list[Expression]:
    """Every panel query of every dashboard file, with the variables set to "All"."""
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        names = [v["name"] for v in dashboard["templating"]["list"]]
        for panel in _panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                source = f"{path.name}: {panel['title']} [{target['refId']}]"
                found.append(Expression(source, _substitute(target["expr"], names)))
    return found


def variable_queries() -> list[tuple[str, str, str]]:
    """(source, selector, label) of every ``label_values`` template variable."""
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        names = [v["name"] for v in dashboard["templating"]["list"]]
        for variable in _query_variables(dashboard):
            if variable["definition"].startswith("query_result("):
                continue  # see named_variables()
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
            assert match, f"{path.name}: ${variable['name']} is neither a label_values() nor a query_result() query"
            found.append((f"{path.name}: ${variable['name']}", _substitute(match[1], names), match[2]))
    return found


def named_variables() -> list[tuple[str, str, re.Pattern[str]]]:
    """(source, expression, option regex) of every ``query_result`` variable: options that show a name and take
    an id as their value, through Grafana's named ``text`` and ``value`` capture groups."""
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        names = [v["name"] for v in dashboard["templating"]["list"]]
        for variable in _query_variables(dashboard):
            match = re.fullmatch(r"query_result\((.+)\)", variable["definition"])
            if match:
                regex = re.compile(variable["regex"].strip("/").replace("(?<", "(?P<"))
                found.append((f"{path.name}: ${variable['name']}", _substitute(match[1], names), regex))
    return found


def grafana_series_text(labels: dict[str, str]) -> str:
    """A query_result series as Grafana shows it to a variable's regex: ``{a="1", b="2"} ...``, labels sorted."""
    return "{" + ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "} 1 0"


def rule_files() -> list[Path]:
    """Every Prometheus rule file in deploy/prometheus/ (the unit-test file is not one)."""
    return [path for path in sorted(RULES_DIR.glob("*.yml")) if "groups" in yaml.safe_load(path.read_text())]


def rule_expressions() -> list[Expression]:
    """The expression of every rule of every rule file."""
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                found.append(Expression(f"{path.name}: {name}", rule["expr"]))
    return found


def is_dora(expression: Expression) -> bool:
    """True for the expressions of the DORA dashboard, recording rules and alerts (their own scenario)."""
    return expression.source.startswith(("codearts-dora", "dora-rules.yml")) or ": CodeArtsDora" in expression.source


# --- the scenario -------------------------------------------------------------------------------

def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exporter_config(url: str, *, projects: list[str], repositories: dict[int, list[int]], token: str = SIM_TOKEN,
                    iam_user: IamUser | None = None, discovered_projects: tuple[str, ...] = (),
                    pipeline_projects: tuple[str, ...] = (), deploy_projects: tuple[str, ...] = (),
                    testplan_projects: tuple[str, ...] = (), dora: dict[str, Any] | None = None):
    """A configuration polling a simulator every second, with ``token``, or with ``iam_user``'s password;
    the repositories of ``discovered_projects`` are discovered; ``dora``: a ``dora:`` section."""
    endpoints: dict[str, str] = {"repo": url, "build": url, "pipeline": url, "deploy": url, "testplan": url,
                                   "projectman": url}
    auth: dict[str, Any] = {"token": token}
    if iam_user is not None:
        endpoints["iam"] = url
        auth = {"password": {"domain": iam_user.domain, "username": iam_user.name,
                             "password": "${IAM_PASSWORD}", "project_id": iam_user.project_id}}
    return parse_config({
        "region": "test", "endpoints": endpoints, "auth": auth,
        # The scenario's timing, not the budget; and the failing targets are asked every cycle (no backoff),
        # so the API error ratio the rules look at stays as the scenario sets it.
        "poll": {"interval_seconds": 1, "timeout_seconds": 0.9, "concurrency": 4,
                 "rate_limit": {"repo": 1000, "build": 1000, "pipeline": 1000, "deploy": 1000, "testplan": 1000},
                 "max_backoff_seconds": 1},
        "repositories": [{"id": repo, "pipelines": pipelines} for repo, pipelines in repositories.items()],
        # unit-test reports of the live and busy projects' builds
        "projects": [{"id": project, "tests": project in (LIVE_PROJECT, BUSY_PROJECT)} for project in projects],
        "pipeline_projects": [{"id": project, "branches": ["^main$"], "detail": True} for project in pipeline_projects],
        "deploy_projects": [{"id": project} for project in deploy_projects],
        "discovery": {"projects": [{"project_id": project} for project in discovered_projects]},
        "testplan_projects": [{"id": project} for project in testplan_projects],
        **({"dora": dora} if dora is not None else {}),
    }, env={"IAM_PASSWORD": iam_user.password} if iam_user else {}, sources=BUILTIN)


PROTECTED_BRANCHES = "main|master|release/.*"  # alerts.yml's default, in its codearts:branch:info rule


def failing_transitions(world: World, project: str, now: float) -> list[tuple[str, str, float, float]]:
    """Every build job of ``project`` whose build k succeeded and build k+1 failed in the last six hours, newest
    first: (job id, job name, a World time it shows success, a World time it shows failed)."""
    last_success: dict[str, tuple[int, float]] = {}
    found: dict[tuple[str, int], tuple[str, str, float, float]] = {}
    for step in range(6 * 360):  # the last six hours, every 10 s
        at = now - 6 * 3600 + step * 10
        for job in world.build_jobs(project, at=at):
            if job["disabled"]:
                continue
            number = int(job["build_number"])
            if not re.fullmatch(PROTECTED_BRANCHES, job["code_branch"]):
                continue  # CodeArtsBuildJobFailed pages for protected branches only
            if job["last_build_status"] == "blue":
                last_success[job["id"]] = (number, at)
            elif job["last_build_status"] == "red" and last_success.get(job["id"], (-2, 0))[0] == number - 1:
                found.setdefault((job["id"], number), (job["id"], job["job_name"], last_success[job["id"]][1], at))
    return sorted(found.values(), key=lambda transition: transition[3], reverse=True)


FLAKY_MIN_RUNS = 5  # CodeArtsBuildJobFlaky's minimum number of runs


def flaky_time(world: World, since: float, earliest: float) -> tuple[float, str] | None:
    """The first World time from ``earliest`` on, within an hour, when, of the runs finished after ``since``,
    over half of some build job's, and at least FLAKY_MIN_RUNS, failed or timed out (what CodeArtsBuildJobFlaky
    looks for), and that job's id."""
    for step in range(360):  # the next hour, every 10 s
        at = earliest + step * 10
        for project in (LIVE_PROJECT, BUSY_PROJECT):
            outcomes: dict[str, list[str]] = {}
            for job, run in world.finished_build_runs(project, since, at):
                outcomes.setdefault(job["id"], []).append(run.outcome)
            for job_id, runs in outcomes.items():
                failed = sum(outcome in ("failed", "timedout") for outcome in runs)
                if failed > len(runs) / 2 and len(runs) >= FLAKY_MIN_RUNS:
                    return at, job_id
    return None


def story(world: World, now: float) -> tuple[tuple[str, str, float, float], tuple[float, str]]:
    """The test's story in the simulated data, the newest that has both parts: a job of LIVE_PROJECT that
    succeeded then failed, and a time soon after when some job has failed most of its runs since then.
    Which part of the World's endless data has both depends on the wall clock, so several are tried."""
    for transition in failing_transitions(world, LIVE_PROJECT, now)[:20]:
        flaky = flaky_time(world, transition[2], transition[3] + HISTORY_STEPS * HISTORY_MIN_STEP)
        if flaky is not None:
            return transition, flaky
    raise AssertionError("no success-then-failure followed by a flaky job in six hours of the simulated project")


def stuck_world_time(world: World, start: float) -> float:
    """A World time at or before ``start`` when the stuck world shows every status the rules look for."""
    for step in range(2000):
        at = start - step * 37
        builds = [job for job in world.build_jobs(STUCK_PROJECT, at=at) if not job["disabled"]]
        # the failed and timed-out alerts page for protected branches only: the colours they need are read there
        colours = {job["last_build_status"] for job in builds
                   if re.fullmatch(PROTECTED_BRANCHES, job["code_branch"]) or job["last_build_status"] == "building"}
        unhealthy = any(job["health_score"] < 60 and job["last_build_status"] != "none" for job in builds)
        statuses = {job["status"] for job in world.pipeline_jobs(STUCK_REPO, 1, at=at)}
        if {"red", "timeout", "building"} <= colours and unhealthy and {"failed", "timedout", "running"} <= statuses:
            return at
    raise AssertionError("the stuck world never shows every status at once")


@dataclass
class Scenario:
    """Everything the test started, and what it needs to drive and check."""

    prometheus: str
    live_instance: str
    password_instance: str
    live_world: World
    live_exporter: Exporter
    live_clock: list[float]
    job_id: str
    job_name: str
    succeeded_at: float
    fails_at: float
    flaky_until: float  # a World time when flaky_job has failed most of its runs since succeeded_at
    flaky_job: str


@pytest.fixture
def scenario(tmp_path) -> Iterator[Scenario]:
    stack: list[Any] = []
    try:
        yield _start(tmp_path, stack)
    finally:
        for stop in reversed(stack):
            stop()


def _start(tmp_path: Path, stack: list[Any]) -> Scenario:
    now = time.time()
    # live: the test drives its World's clock, frozen where a chosen job's last build succeeded
    live_world = World(seed=11, clock=lambda: live_clock[0],
                       projects={LIVE_PROJECT: 24, BUSY_PROJECT: 12, ERROR_PROJECT: 3},
                       pipelines={(LIVE_REPO, 6): 12, (LIVE_REPO, 7): 6},
                       merge_requests={DISCOVERED_REPO: MergeRequestPlan()},
                       project_repositories={LIVE_PROJECT: [(DISCOVERED_REPO, "svc-discovered")]},
                       pipeline_projects={LIVE_CP: 16}, deploy_projects={LIVE_DP: 16},
                       testplan_projects={LIVE_TP: 12})
    (job_id, job_name, succeeded_at, fails_at), (flaky_until, flaky_job) = story(live_world, now)
    live_clock = [succeeded_at]
    live_sim = _simulator(stack, live_world)
    live_sim.set_fault(f"build:{ERROR_PROJECT}", Fault.HTTP_500)
    live_exporter = Exporter(exporter_config(
        live_sim.url, projects=[LIVE_PROJECT, BUSY_PROJECT, ERROR_PROJECT, MISSING_PROJECT],
        repositories={LIVE_REPO: [6, 7, 999]}, pipeline_projects=(LIVE_CP,), deploy_projects=(LIVE_DP,),
        testplan_projects=(LIVE_TP,)))
    # the pipeline and the application the test fails later, succeeding until then
    live_world.pipeline_service.overrides[_cp_pipeline(live_world, CP_FAILS)] = {"status": "COMPLETED"}
    live_world.deploy_service.overrides[_dp_app(live_world, DP_FAILS)] = {"execution_state": "succeeded"}
    # a plan passing 40 % of 30 cases, three days overdue, with open defects: every TestPlan panel and rule
    (plan, *_) = live_world.testplan_service.plans(LIVE_TP) or ()
    live_world.testplan_service.overrides[plan.id] = {
        "current_stage": "execute", "end_date": "2099-01-01", "expire_day": 3,
        "execute_stage": {"case_pass_rate": "40.00%", "executed_case_count": 30, "defect_count": 4,
                          "completed_defect_count": 1}}
    live = _serve(stack, live_exporter)
    rejected = _serve(stack, Exporter(exporter_config(
        live_sim.url, projects=[LIVE_PROJECT], repositories={LIVE_REPO: [6]}, token="expired-token")))

    # stuck: eight days behind, polled once an hour ago, never again
    stuck_world = World(seed=12, clock=lambda: stuck_at, projects={STUCK_PROJECT: 24},
                        pipelines={(STUCK_REPO, 1): 12}, pipeline_projects={STUCK_CP: 8},
                        deploy_projects={STUCK_DP: 4})
    # a run still going and one paused at a gate, eight days ago: both far past their alert thresholds
    stuck_world.pipeline_service.overrides.update({
        _cp_pipeline(stuck_world, 0, STUCK_CP): {"status": "RUNNING", "end_time": 0},
        _cp_pipeline(stuck_world, 1, STUCK_CP): {"status": "PAUSED", "end_time": None}})
    # a deployment still running, one that timed out and one still queued, eight days ago
    stuck_world.deploy_service.overrides.update({
        _dp_app(stuck_world, 0, STUCK_DP): {"execution_state": "running", "end_time": ""},
        _dp_app(stuck_world, 1, STUCK_DP): {"execution_state": "timeout"},
        _dp_app(stuck_world, 2, STUCK_DP): {"execution_state": "pending", "end_time": ""}})
    stuck_at = stuck_world_time(stuck_world, now - EIGHT_DAYS)
    stuck_sim = _simulator(stack, stuck_world)
    stuck_exporter = Exporter(exporter_config(stuck_sim.url, projects=[STUCK_PROJECT],
                                              repositories={STUCK_REPO: [1]}, pipeline_projects=(STUCK_CP,),
                                              deploy_projects=(STUCK_DP,)),
                              clock=lambda: now - 3600)
    stack.append(stuck_exporter.close)
    assert stuck_exporter.poll_once().all_up()
    stuck = ExporterHTTPServer(("127.0.0.1", 0), stuck_exporter.exposition, lambda: stuck_exporter.poller.snapshot)
    stuck.serve_in_background()
    stack.append(lambda: (stuck.shutdown(), stuck.server_close()))

    # password: IAM password auth against a simulator that accepts IAM tokens only, 30-minute ones
    iam_sim = _simulator(stack, live_world, token=None, iam=IamService(users=[IAM_USER], token_lifetime=TOKEN_LIFETIME))
    password = _serve(stack, Exporter(exporter_config(iam_sim.url, projects=[BUSY_PROJECT], repositories={},
                                                      iam_user=IAM_USER)))

    # discovering: merge request pipelines of a project's repository, and the repositories of a project the
    # simulator does not have, so that discovery fails
    discovering = _serve(stack, Exporter(exporter_config(live_sim.url, projects=[], repositories={},
                                                         discovered_projects=(LIVE_PROJECT, MISSING_PROJECT))))

    # sharded: one replica of a TOTAL_SHARDS-shard deployment whose other replicas are missing, while the
    # unsharded exporters above each claim shard 0 of 1: the sharding alerts' conditions, all at once
    unsharded = [_hostport(live.url), _hostport(stuck.url), _hostport(rejected.url), _hostport(password.url),
                 _hostport(discovering.url)]
    assert len(unsharded) + 1 < TOTAL_SHARDS, "every shard claimed: CodeArtsExporterShardMissing would not apply"
    sharded = _serve(stack, Exporter(exporter_config(live_sim.url, projects=[BUSY_PROJECT], repositories={}),
                                     shard=ShardSpec(1, TOTAL_SHARDS)))

    targets = [*unsharded, _hostport(sharded.url), f"127.0.0.1:{free_port()}"]
    prometheus = _prometheus(tmp_path, stack, targets)
    return Scenario(prometheus, _hostport(live.url), _hostport(password.url), live_world, live_exporter, live_clock,
                    job_id, job_name, succeeded_at, fails_at, flaky_until, flaky_job)


def _cp_pipeline(world: World, index: int, project: str = LIVE_CP) -> str:
    """The id of a CodeArts Pipeline pipeline of ``project`` by index."""
    pipelines = world.pipeline_service.pipelines(project)
    assert pipelines is not None
    return pipelines[index].id


def _dp_app(world: World, index: int, project: str = LIVE_DP) -> str:
    """The id of a CodeArts Deploy application of ``project`` by index."""
    apps = world.deploy_service.apps(project)
    assert apps is not None
    return apps[index].id


def _simulator(stack: list[Any], world: World, *, token: str | None = SIM_TOKEN,
               iam: IamService | None = None) -> Simulator:
    sim = Simulator(world, token=token, iam=iam)
    sim.start()
    stack.append(sim.stop)
    return sim


def _serve(stack: list[Any], exporter: Exporter) -> ExporterHTTPServer:
    stack.append(exporter.close)
    return exporter.serve(("127.0.0.1", 0))


def _hostport(url: str) -> str:
    return url.removeprefix("http://")


def _prometheus(tmp_path: Path, stack: list[Any], targets: list[str]) -> str:
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())  # the shipped example, with test intervals and targets
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(path) for path in rule_files()]
    (scrape,) = config["scrape_configs"]
    assert scrape["job_name"] == SCRAPE_JOB and scrape["honor_labels"] is True
    scrape["static_configs"] = [{"targets": targets}]
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    assert PROMETHEUS and PROMTOOL, "prometheus and promtool must be installed on CI"
    check = subprocess.run([PROMTOOL, "check", "config", str(config_file)], capture_output=True, text=True,
                           timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config_file}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()

    stack.append(stop)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
        try:
            return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(ready, timeout=30, interval=0.1)
    return url


# --- talking to Prometheus ----------------------------------------------------------------------

def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """The series an instant query returns now."""
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    result = answer["data"]["result"]
    return result if answer["data"]["resultType"] in ("vector", "matrix") else [result]


def label_values(prometheus: str, selector: str, label: str) -> list[str]:
    """The values of ``label`` on the series ``selector`` matches."""
    answer = requests.get(f"{prometheus}/api/v1/label/{label}/values", params={"match[]": selector},
                          timeout=10).json()
    assert answer["status"] == "success", f"{selector}: {answer}"
    return answer["data"]


def alerts_in(prometheus: str, state: str, alertname: str, **labels: str) -> list[dict[str, Any]]:
    """The alerts of that name in ``state`` (pending, firing) whose labels include ``labels``."""
    alerts = requests.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return [alert for alert in alerts if alert["labels"]["alertname"] == alertname and alert["state"] == state
            and all(alert["labels"].get(name) == value for name, value in labels.items())]


def firing(prometheus: str, alertname: str, **labels: str) -> list[dict[str, Any]]:
    """The firing alerts of that name whose labels include ``labels``."""
    return alerts_in(prometheus, "firing", alertname, **labels)


def last_evaluation(prometheus: str, group: str) -> str:
    """When Prometheus last evaluated a rule group (an RFC 3339 text that changes with every evaluation)."""
    groups = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    return next(found["lastEvaluation"] for found in groups if found["name"] == group)


# --- the test -----------------------------------------------------------------------------------

def test_every_panel_and_rule_returns_data_and_the_failing_job_alert_fires(scenario, capsys):
    prom = scenario.prometheus
    job = {"job_id": scenario.job_id, "instance": scenario.live_instance}

    # Before: the chosen job's last build succeeded, and the rule has been evaluated over that data.
    wait_until(lambda: query(prom, f'codearts_build_job_status{{job_id="{scenario.job_id}",status="success"}}'),
               timeout=30, interval=0.2)
    for _ in range(2):  # the second evaluation from now on surely started after that sample was stored
        seen = last_evaluation(prom, "codearts-jobs")
        wait_until(lambda: last_evaluation(prom, "codearts-jobs") != seen, timeout=30, interval=0.1)  # noqa: B023
    assert firing(prom, "CodeArtsBuildJobFailed"), "the rule sees the other failed jobs"
    assert not firing(prom, "CodeArtsBuildJobFailed", **job)

    # The World moves on to the job's next build, which failed.
    scenario.live_clock[0] = scenario.fails_at
    started = time.monotonic()
    wait_until(lambda: firing(prom, "CodeArtsBuildJobFailed", **job), timeout=ALERT_DEADLINE, interval=0.1)
    elapsed = time.monotonic() - started
    fired = f"CodeArtsBuildJobFailed fired {elapsed:.1f} s after the simulator failed {scenario.job_name}"
    alert = firing(prom, "CodeArtsBuildJobFailed", **job)[0]
    branch = next(job["code_branch"] for job in scenario.live_world.build_jobs(LIVE_PROJECT, at=scenario.fails_at)
                  if job["id"] == scenario.job_id)
    assert alert["labels"]["codearts_job"] == scenario.job_name and "job" not in alert["labels"]
    assert alert["annotations"]["summary"] == \
        f"Build job {scenario.job_name} of project {project_name(LIVE_PROJECT)} failed on {branch}"

    # A CodeArts pipeline's latest run fails: CodeArtsPipelineFailed fires for it.
    service, cp_failing = scenario.live_world.pipeline_service, _cp_pipeline(scenario.live_world, CP_FAILS)
    cp_job = {"pipeline_id": cp_failing, "instance": scenario.live_instance}
    assert not firing(prom, "CodeArtsPipelineFailed", **cp_job)
    at_ms = int(scenario.live_clock[0] * 1000)
    service.overrides[cp_failing] = {"status": "FAILED", "start_time": at_ms - 120_000, "end_time": at_ms - 60_000,
                                     "build_params": {"target_branch": "main", "commit_id": "c0ffee"}}  # protected
    started = time.monotonic()
    wait_until(lambda: firing(prom, "CodeArtsPipelineFailed", **cp_job), timeout=ALERT_DEADLINE, interval=0.1)
    fired += f"; CodeArtsPipelineFailed {time.monotonic() - started:.1f} s after a pipeline failed"
    # A CodeArts Deploy application's last deployment fails: CodeArtsDeploymentFailed fires for it.
    dp_app = {"app_id": _dp_app(scenario.live_world, DP_FAILS), "instance": scenario.live_instance}
    assert not firing(prom, "CodeArtsDeploymentFailed", **dp_app)
    scenario.live_world.deploy_service.overrides[dp_app["app_id"]] = {"execution_state": "failed"}
    # Meanwhile a test plan's pass rate turns up in no documented form: the rate_format assumption is
    # contradicted after Prometheus has seen its counter at 0, so CodeArtsApiAssumptionContradicted has an
    # increase to fire on.
    (_, odd, *_) = scenario.live_world.testplan_service.plans(LIVE_TP)
    scenario.live_world.testplan_service.overrides[odd.id] = {
        "current_stage": "execute", "end_date": "2099-01-01",
        "execute_stage": {"case_pass_rate": "forty percent", "executed_case_count": 5}}
    started = time.monotonic()
    wait_until(lambda: firing(prom, "CodeArtsDeploymentFailed", **dp_app), timeout=ALERT_DEADLINE, interval=0.1)
    fired += f"; CodeArtsDeploymentFailed {time.monotonic() - started:.1f} s after a deployment failed"
    # One stage fails in three runs in a row, each the latest for a few scrapes.
    for number in (9001, 9002, 9003):
        generation = scenario.live_exporter.poller.snapshot.generation
        service.overrides[_cp_pipeline(scenario.live_world, CP_STAGE)] = {
            "status": "FAILED", "run_number": number, "pipeline_run_id": f"run{number}",
            "stage_status_list": [{"name": "Deploy", "sequence": 0, "status": "FAILED",
                                   "start_time": "2025-01-01 08:00:00", "end_time": "2025-01-01 08:01:00"}]}
        wait_until(lambda: scenario.live_exporter.poller.snapshot.generation >= generation + 3,  # noqa: B023
                   timeout=30, interval=0.05)

    # Runs finish while Prometheus scrapes: World time moves on in steps, each followed by a whole poll, to
    # a time when some job has failed most of its runs since the exporter started counting.
    until, flaky_job = scenario.flaky_until, scenario.flaky_job
    stepping = time.monotonic()
    for step in range(1, HISTORY_STEPS + 1):
        generation = scenario.live_exporter.poller.snapshot.generation
        scenario.live_clock[0] = scenario.fails_at + (until - scenario.fails_at) * step / HISTORY_STEPS
        wait_until(lambda: scenario.live_exporter.poller.snapshot.generation >= generation + 2,  # noqa: B023
                   timeout=30, interval=0.05)
    # The exporter's first poll caught each job up to its latest finished run at succeeded_at: every run
    # that finished after it is counted, once.
    live = f'instance="{scenario.live_instance}"'
    for project in (LIVE_PROJECT, BUSY_PROJECT):
        finished = scenario.live_world.finished_build_runs(project, scenario.succeeded_at, scenario.live_clock[0])
        assert finished, f"no run of {project} finished in {until - scenario.succeeded_at:.0f} s of World time"
        counted = f'sum(codearts_build_runs_total{{{live}, project_id="{project}"}})'
        wait_until(lambda: [float(s["value"][1]) for s in query(prom, counted)] == [len(finished)],  # noqa: B023
                   timeout=30, interval=0.2)
    # The application whose listed state the test overrode (to fire CodeArtsDeploymentFailed) is left out: a
    # listing that says "succeeded" or "failed" while a deployment still runs hides when it ends, as CodeArts
    # never would, so its counts lag by design of the test, not of the exporter.
    overridden = _dp_app(scenario.live_world, DP_FAILS)
    deployed = [(app, run) for app, run in scenario.live_world.deploy_service.finished(
        LIVE_DP, int(scenario.succeeded_at * 1000), int(scenario.live_clock[0] * 1000)) if app.id != overridden]
    assert deployed, "no deployment finished while the World's clock moved"
    counted = f'sum(codearts_deploy_runs_total{{{live}, project_id="{LIVE_DP}", app_id!="{overridden}"}})'
    try:
        wait_until(lambda: [float(s["value"][1]) for s in query(prom, counted)] == [len(deployed)], timeout=45,
                   interval=0.2)
    except AssertionError as late:  # what Prometheus has against what the exporter serves: a lag or a miss
        served = [line for line in scenario.live_exporter.metrics_text().decode().splitlines()
                  if line.startswith("codearts_deploy_runs_total") and not line.endswith(" 0.0")]
        raise AssertionError(f"Deploy runs counted {query(prom, counted)} against {len(deployed)} finished; "
                             f"served: {served}") from late
    wait_until(lambda: query(prom, f"sum(increase(codearts_repo_pipeline_job_runs_total{{{live}}}[1m])) > 0"),
               timeout=30, interval=0.2)
    (flaky,) = [rule for rule in rule_expressions() if rule.source == "alerts.yml: CodeArtsBuildJobFlaky"]
    assert flaky_job in {series["metric"]["job_id"] for series in query(prom, flaky.expr)}
    stepped = time.monotonic() - stepping
    runs = {project: len(scenario.live_world.finished_build_runs(project, scenario.succeeded_at,
                                                                 scenario.live_clock[0]))
            for project in (LIVE_PROJECT, BUSY_PROJECT)}

    # Every expression of every panel and rule returns data (DORA's: test_dora_rules_and_dashboard_return_data).
    expressions = [expression for expression in dashboard_expressions() + rule_expressions()
                   if not is_dora(expression)]
    counts: dict[Expression, int] = {}

    def all_have_data() -> bool:
        for expression in expressions:
            if counts.get(expression, 0) == 0:
                counts[expression] = len(query(prom, expression.expr))
        return all(counts.values())

    try:
        wait_until(all_have_data, timeout=30, interval=0.5)
    finally:
        for expression in expressions:
            print(f"{counts.get(expression, 0):5d} series  {expression.source}")
    assert len(expressions) >= 60
    variables = [variable for variable in variable_queries() if "dora" not in variable[0]]
    for source, selector, label in variables:
        values = label_values(prom, selector, label)
        print(f"{len(values):5d} values  {source}")
        assert values, f"{source}: label_values({selector}, {label}) is empty"
    named_names = set()
    for source, expr, regex in named_variables():
        options = [regex.search(grafana_series_text(series["metric"])) for series in query(prom, expr)]
        assert options and all(option and option["text"] and option["value"] for option in options), source
        named_names |= {option["text"] for option in options if option["text"] != option["value"]}
    assert project_name(LIVE_PROJECT) in named_names, "a project shows its name, not its id"
    with capsys.disabled():  # the summary shows in every run's output; the per-expression table above with -s
        panel_count = len(dashboard_expressions())
        print(f"\n{fired}; {until - scenario.fails_at:.0f} s of World time in "
              f"{HISTORY_STEPS} steps ({stepped:.1f} s), build runs counted exactly: {runs[LIVE_PROJECT]} + "
              f"{runs[BUSY_PROJECT]}, deployments: {len(deployed)}; "
              f"{panel_count} panel queries, {len(expressions) - panel_count} rule expressions and "
              f"{len(variables)} variables all returned data (fewest series: {min(counts.values())})")

    # The password exporter polls with its IAM token, whose half hour left puts the token alert in pending.
    password = {"instance": scenario.password_instance}
    assert [float(s["value"][1]) for s in query(prom, f'codearts_up{{instance="{scenario.password_instance}"}}')] \
        == [1.0, 1.0]  # its target, and the names of its repository
    (left,) = query(prom, f'codearts_auth_token_expiry_timestamp_seconds{{instance="{scenario.password_instance}"}}'
                          " - time()")
    assert 0 < float(left["value"][1]) <= TOKEN_LIFETIME
    wait_until(lambda: alerts_in(prom, "pending", "CodeArtsTokenExpiringSoon", **password), timeout=30,
               interval=0.2)
    assert not firing(prom, "CodeArtsTokenExpiringSoon")

    # Prometheus evaluates every rule without an error.
    groups = requests.get(f"{prom}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(rule_expressions())
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]


# --- DORA -----------------------------------------------------------------------------------------

DORA_CP = "d0" * 16
DORA_BEHIND = 20 * 86_400.0  # the DORA world's clock: deployments 20 days old, past CodeArtsDoraNoDeployment's 14
DORA_STEPS, DORA_STEP = 6, 1200.0  # World time moved on while Prometheus scrapes: 2 hours in 20-minute steps
FLAKY = "-pipeline-(5|13)$"  # the two flaky pipelines of a project: failure streaks, failure rate over 30 %
STEADY = "-pipeline-([0-46-9]|1[0-24-5])$"  # the others


def dora_story(world: World, behind: float) -> float:
    """A World time about ``behind`` ago from which, in the DORA_STEPS steps, the flaky pipelines finish at least
    8 deployments (canceled ones aside) of which over 40 % fail: what CodeArtsDoraFailureRateHigh looks for."""
    service = world.pipeline_service
    flaky = {pipeline.id for pipeline in service.pipelines(DORA_CP) or () if re.search(FLAKY, pipeline.name)}
    start = time.time() - behind
    for step in range(200):
        at = start - step * 600
        runs = [run for pipeline, run in service.finished_runs(DORA_CP, int(at * 1000),
                                                                  int((at + DORA_STEPS * DORA_STEP) * 1000))
                if pipeline.id in flaky and run.status in ("COMPLETED", "FAILED")]
        failed = sum(run.status == "FAILED" for run in runs)
        if len(runs) >= 8 and failed > 0.4 * len(runs):
            return at
    raise AssertionError("no two hours in which the flaky pipelines fail over 40 % of 8 deployments")


def test_dora_rules_and_dashboard_return_data(tmp_path):
    """The DORA recording rules, alerts and dashboard queries on a real Prometheus scraping an exporter with two
    DORA services, while deployments (Pipeline runs) finish."""
    stack: list[Any] = []
    try:
        world = World(seed=13, clock=lambda: clock[0], pipeline_projects={DORA_CP: 16})
        clock = [dora_story(world, DORA_BEHIND)]
        sim = _simulator(stack, world)
        services = [{"name": name, "pipelines": [{"project_id": DORA_CP, "include": [regex]}]}
                    for name, regex in (("flaky", FLAKY), ("steady", STEADY))]
        exporter = Exporter(exporter_config(sim.url, projects=[], repositories={}, pipeline_projects=(DORA_CP,),
                                            dora={"services": services}))
        server = _serve(stack, exporter)
        prom = _prometheus(tmp_path, stack, [_hostport(server.url)])
        wait_until(lambda: query(prom, "codearts_dora_deployments_total"), timeout=30, interval=0.2)
        for _ in range(DORA_STEPS):
            generation = exporter.poller.snapshot.generation
            clock[0] += DORA_STEP
            wait_until(lambda: exporter.poller.snapshot.generation >= generation + 3,  # noqa: B023
                       timeout=30, interval=0.05)
        expressions = [expression for expression in dashboard_expressions() + rule_expressions()
                       if is_dora(expression)]
        assert len(expressions) >= 20
        counts: dict[Expression, int] = {}

        def all_have_data() -> bool:
            for expression in expressions:
                if counts.get(expression, 0) == 0:
                    counts[expression] = len(query(prom, expression.expr))
            return all(counts.values())

        try:
            wait_until(all_have_data, timeout=30, interval=0.5)
        finally:
            for expression in expressions:
                print(f"{counts.get(expression, 0):5d} series  {expression.source}")
        for source, selector, label in variable_queries():
            if "dora" in source:
                assert label_values(prom, selector, label), source
        assert firing(prom, "CodeArtsDoraFailureRateHigh", service="flaky")
        assert firing(prom, "CodeArtsDoraNoDeployment", service="steady")
        (rate,) = query(prom, 'codearts:dora_change_failure_rate:28d{service="flaky"}')
        assert 0.3 < float(rate["value"][1]) <= 1
    finally:
        for stop in reversed(stack):
            stop()
