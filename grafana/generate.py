"""The Grafana dashboards of codearts-exporter, declared once, written as JSON and documented.

    python grafana/generate.py

writes grafana/dashboards/*.json and the panel reference between the markers of docs/dashboards.md.
tests/test_dashboards.py fails when either differs from what this script writes, so edit this file,
never the JSON. Every dashboard has a ``${datasource}`` variable; every query selects with ``=~`` on
its template variables, whose "All" value is ``.*``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
DOC = ROOT / "docs" / "dashboards.md"
DOC_BEGIN = "<!-- BEGIN GENERATED PANELS -->\n"
DOC_END = "<!-- END GENERATED PANELS -->"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TAG = "codearts"
GRID_WIDTH = 24
PIPE_ESCAPE = "\\|"  # a "|" inside a Markdown table cell, even in a code span


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and how its series are named in the legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel: what it shows (queries), how (kind, unit) and the question it answers (doc)."""

    title: str
    kind: str  # stat, timeseries, table, bargauge, state-timeline
    queries: tuple[Query, ...]
    doc: str
    unit: str = "short"
    width: int = 6
    height: int = 8
    options: dict[str, Any] = field(default_factory=dict)
    links: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Variable:
    """A query template variable: ``label_values(selector, label)``, or with ``shown`` (a name label), a
    ``query_result`` whose options show that name and take the id as their value (``regex``)."""

    name: str
    label: str
    selector: str
    label_name: str
    shown: str = ""  # the label whose value the options show (the id stays the value): a name

    @property
    def query(self) -> str:
        """The variable's Grafana query text."""
        if self.shown:
            return f"query_result({self.selector})"
        return f"label_values({self.selector}, {self.label_name})"

    @property
    def regex(self) -> str:
        """Grafana's option regex: the name as the text, the id as the value (labels come sorted, and the name
        label sorts first: ``project`` before ``project_id``)."""
        if not self.shown:
            return ""
        return f'/{self.shown}="(?<text>[^"]*)".*{self.label_name}="(?<value>[^"]*)"/'


@dataclass(frozen=True)
class Dashboard:
    """One dashboard file."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[tuple[str, tuple[Panel, ...]], ...]

    @property
    def filename(self) -> str:
        """The JSON file name under grafana/dashboards/."""
        return f"{self.uid}.json"


def q(expr: str, legend: str = "") -> Query:
    """A query; whitespace runs in ``expr`` collapse to one space, so expressions can be wrapped here."""
    return Query(re.sub(r"\s+", " ", expr).strip(), legend)


# --- selectors shared by the panels -------------------------------------------------------------

PROJECT = 'project_id=~"$project"'
PIPE = 'repository_id=~"$repository", pipeline_id=~"$pipeline"'
BUILD_JOB = 'project_id=~"$project", job=~"$build_job"'
PIPE_JOB = f'{PIPE}, stage=~"$stage", job=~"$pipeline_job"'
INSTANCE = 'instance=~"$instance"'
PIPE_KEY = "instance, repository_id, pipeline_id, stage, job"
BUILD_KEY = "instance, project_id, job_id"
NEVER_BUILT = 'unless on (project_id, job_id) (codearts_build_job_status{status="none"} == 1)'
BUILD_LINK = {"title": "Open the build job",
              "url": "/d/codearts-build-job?${datasource:queryparam}&var-project=${__data.fields.project_id}"
                     "&var-build_job=${__data.fields.job}"}
PIPE_LINK = {"title": "Open the pipeline",
             "url": "/d/codearts-repo-pipeline?${datasource:queryparam}&var-repository=${__data.fields.repository_id}"
                    "&var-pipeline=${__data.fields.pipeline_id}"}

def names_of(ids: str, key: str, name: str, info: str) -> str:
    """Every id of ``key`` the series ``ids`` carry, each with its ``name`` from ``info`` where the exporter read
    one, else the id itself as the name: one series per id, for a variable's options or a legend's join."""
    return (f"max by ({key}, {name}) ({info} and on ({key}) {ids}) or on ({key}) "
            f'label_replace(max by ({key}) ({ids}), "{name}", "$1", "{key}", "(.*)")')


PROJECT_NAMES = names_of("(codearts_build_jobs or codearts_pipeline_pipelines)", "project_id", "project",
                         "codearts_project_info")
REPOSITORY_NAMES = names_of("codearts_repo_pipeline_jobs", "repository_id", "repository",
                            "codearts_repo_repository_info")


def named(expr: str, key: str = "project_id") -> str:
    """``expr`` with the project's (or repository's) name as a label: a legend shows ``{{project}}``, a table a
    name column; ids stay the join keys."""
    names, label = (PROJECT_NAMES, "project") if key == "project_id" else (REPOSITORY_NAMES, "repository")
    return f"({expr}) * on ({key}) group_left ({label}) ({names})"


V_PROJECT = Variable("project", "Project", names_of("codearts_build_jobs", "project_id", "project",
                                                    "codearts_project_info"), "project_id", shown="project")
V_REPOSITORY = Variable("repository", "Repository", REPOSITORY_NAMES, "repository_id", shown="repository")
V_PIPELINE = Variable("pipeline", "Pipeline", 'codearts_repo_pipeline_jobs{repository_id=~"$repository"}', "pipeline_id")
V_BUILD_JOB = Variable("build_job", "Build job", 'codearts_build_job_status{project_id=~"$project"}', "job")
V_STAGE = Variable("stage", "Stage", f"codearts_repo_pipeline_job_status{{{PIPE}}}", "stage")
V_PIPE_JOB = Variable("pipeline_job", "Job", f'codearts_repo_pipeline_job_status{{{PIPE}, stage=~"$stage"}}', "job")
V_CP_PROJECT = Variable("cp_project", "Project", names_of("codearts_pipeline_pipelines", "project_id", "project",
                                                          "codearts_project_info"), "project_id", shown="project")
V_CP_PIPELINE = Variable("cp_pipeline", "Pipeline", 'codearts_pipeline_info{project_id=~"$cp_project"}', "pipeline")
V_DP_PROJECT = Variable("dp_project", "Project", "codearts_deploy_app_info", "project_id")
V_DP_APP = Variable("dp_app", "Application", 'codearts_deploy_app_info{project_id=~"$dp_project"}', "app")
V_SCRAPE_JOB = Variable("scrape_job", "Scrape job", "codearts_exporter_build_info", "job")
V_INSTANCE = Variable("instance", "Exporter", 'codearts_exporter_build_info{job=~"$scrape_job"}', "instance")


CP_PROJECT = 'project_id=~"$cp_project"'
CP = f'{CP_PROJECT}, pipeline=~"$cp_pipeline"'
CP_KEY = "instance, project_id, pipeline_id"
CP_LINK = {"title": "Open the pipeline",
           "url": "/d/codearts-pipeline?${datasource:queryparam}&var-cp_project=${__data.fields.project_id}"
                  "&var-cp_pipeline=${__data.fields.pipeline}"}


def _named_queries(queries: tuple[Query, ...], key: str = "project_id") -> tuple[Query, ...]:
    """The queries, each with its series' project (or repository) name as a label (see :func:`named`)."""
    return tuple(q(named(query.expr, key), query.legend) for query in queries)
DP_PROJECT = 'project_id=~"$dp_project"'
DP = f'{DP_PROJECT}, app=~"$dp_app"'
DP_KEY = "instance, project_id, app_id"
DP_LINK = {"title": "Open the application",
           "url": "/d/codearts-deploy?${datasource:queryparam}&var-dp_project=${__data.fields.project_id}"
                  "&var-dp_app=${__data.fields.app}"}
DP_FINISHED = 'status=~"success|failed|timedout|aborted|canceled"'


def _quantiles(metric: str, selector: str, by: str, what: str) -> tuple[Query, ...]:
    return tuple(q(f"quantile by ({by}) ({p}, {metric}{{{selector}}})", f"p{round(p * 100)} {what}")
                 for p in (0.5, 0.95))


def _histogram(metric: str, selector: str, by: str, legend: str, window: str = "$__rate_interval",
               quantiles: tuple[float, ...] = (0.5, 0.95)) -> tuple[Query, ...]:
    """Quantiles of the runs a run-history histogram counted in ``window``, per ``by``: every run weighs the
    same, unlike a quantile over samples of a last-run gauge, which weighs runs by how long they stayed last."""
    change = "rate" if window == "$__rate_interval" else "increase"
    return tuple(q(f"histogram_quantile({p}, sum by (le, {by}) ({change}({metric}_bucket{{{selector}}}[{window}])))",
                   f"p{round(p * 100)} {legend}") for p in quantiles)


OVERVIEW = Dashboard(
    "codearts-overview", "CodeArts CI: overview",
    "What is red now and since when, how long builds take, which jobs are unhealthy.",
    (V_PROJECT, V_REPOSITORY, V_PIPELINE, V_CP_PROJECT, V_DP_PROJECT),
    (
        ("Now", (
            Panel("Failed build jobs", "stat", (q(f'sum(codearts_build_jobs{{{PROJECT}, status="failed"}})'),),
                  "How many build jobs' last build failed?", width=4, height=4, options={"red_above": 0}),
            Panel("Timed-out build jobs", "stat", (q(f'sum(codearts_build_jobs{{{PROJECT}, status="timedout"}})'),),
                  "How many build jobs' last build hit its timeout?", width=4, height=4, options={"red_above": 0}),
            Panel("Failed pipeline jobs", "stat", (q(f'sum(codearts_repo_pipeline_jobs{{{PIPE}, status="failed"}})'),),
                  "How many pipeline jobs' latest run failed?", width=4, height=4, options={"red_above": 0}),
            Panel("Timed-out pipeline jobs", "stat",
                  (q(f'sum(codearts_repo_pipeline_jobs{{{PIPE}, status="timedout"}})'),),
                  "How many pipeline jobs' latest run hit its timeout?", width=4, height=4,
                  options={"red_above": 0}),
            Panel("Running now", "stat", (
                q(f'sum(codearts_build_jobs{{{PROJECT}, status="running"}})', "build jobs"),
                q(f'sum(codearts_repo_pipeline_jobs{{{PIPE}, status="running"}})', "pipeline jobs"),
            ), "How many build and pipeline jobs are running at the last poll?", width=4, height=4),
            Panel("Success ratio", "stat", (
                q(f'sum(codearts_build_jobs{{{PROJECT}, status="success"}}) '
                  f'/ sum(codearts_build_jobs{{{PROJECT}, status=~"success|failed|timedout|aborted"}})', "builds"),
                q(f'sum(codearts_repo_pipeline_jobs{{{PIPE}, status="success"}}) '
                  f'/ sum(codearts_repo_pipeline_jobs{{{PIPE}, status=~"success|failed|timedout|canceled"}})',
                  "pipelines"),
            ), "Of the jobs whose last run finished, which share succeeded?", unit="percentunit", width=4,
                height=4),
        )),
        ("What is red, since when", (
            Panel("Failing build jobs", "table", (
                q(named(f"codearts_build_job_last_build_timestamp_seconds{{{PROJECT}}} "
                        f"* on ({BUILD_KEY}) group_left (status) "
                        f'(codearts_build_job_status{{{PROJECT}, status=~"failed|timedout"}} == 1)')),
            ), "Which build jobs are red, and since when (the start of the failed build)?", unit="dateTimeFromNow",
                width=12, height=9, links=(BUILD_LINK,)),
            Panel("Failing pipeline jobs", "table", (
                q(named(f"codearts_repo_pipeline_job_finished_timestamp_seconds{{{PIPE}}} * on ({PIPE_KEY}) "
                        f'group_left (status) (codearts_repo_pipeline_job_status{{{PIPE}, status=~"failed|timedout"}} '
                        "== 1)", "repository_id")),
            ), "Which pipeline jobs are red, and since when (the end of the failed run)?", unit="dateTimeFromNow",
                width=12, height=9, links=(PIPE_LINK,)),
            Panel("Failing jobs over time", "timeseries", (
                q(f'sum by (status) (codearts_build_jobs{{{PROJECT}, status=~"failed|timedout"}})', "build {{status}}"),
                q(f'sum by (status) (codearts_repo_pipeline_jobs{{{PIPE}, status=~"failed|timedout"}})',
                  "pipeline {{status}}"),
            ), "Is the number of red jobs growing or shrinking?", width=24, height=7),
        )),
        ("How long", (
            Panel("Build duration p50/p95", "timeseries",
                  _named_queries(_histogram("codearts_build_run_duration_seconds", PROJECT, "project_id",
                                            "{{project}}")),
                  "How long do a project's build runs take (median and 95th percentile of the runs that finished, "
                  "queue excluded)?", unit="s", width=6),
            Panel("Build queue time p50/p95", "timeseries",
                  _named_queries(_histogram("codearts_build_run_queued_seconds", PROJECT, "project_id", "{{project}}")),
                  "How long do a project's build runs wait for an agent before they start?", unit="s", width=6),
            Panel("Pipeline job duration p50/p95 across jobs", "timeseries",
                  _named_queries(_quantiles("codearts_repo_pipeline_job_duration_seconds", PIPE,
                                            "repository_id, pipeline_id", "{{repository}}/{{pipeline_id}}"),
                                 "repository_id"),
                  "How long do the jobs of a pipeline run (median and 95th percentile across jobs)?", unit="s",
                  width=6),
            Panel("Pipeline queue time p50/p95 across jobs", "timeseries",
                  _named_queries(_quantiles("codearts_repo_pipeline_job_queued_seconds", PIPE,
                                            "repository_id, pipeline_id", "{{repository}}/{{pipeline_id}}"),
                                 "repository_id"),
                  "How long do pipeline jobs wait between creation and start?", unit="s", width=6),
            Panel("Slowest build jobs (p95 over the time range)", "table", (
                q("topk(10, " + _histogram("codearts_build_run_duration_seconds", PROJECT, "project_id, job_id, job",
                                           "", "$__range", (0.95,))[0].expr + ")"),
            ), "Which build jobs take longest, by the 95th percentile of the durations of their runs in the range?",
                unit="s", width=12, height=9, links=(BUILD_LINK,)),
            Panel("Running build jobs", "table", (
                q(f"(time() - codearts_build_job_last_build_timestamp_seconds{{{PROJECT}}}) "
                  f"and on ({BUILD_KEY}) (codearts_build_job_running == 1)"),
            ), "Which build jobs are running, and for how long?", unit="s", width=6, height=9,
                links=(BUILD_LINK,)),
            Panel("Running pipeline jobs", "table", (
                q(f"codearts_repo_pipeline_job_duration_seconds{{{PIPE}}} "
                  f'and on ({PIPE_KEY}) (codearts_repo_pipeline_job_status{{status="running"}} == 1)'),
            ), "Which pipeline jobs are running, and for how long (at the last poll)?", unit="s", width=6,
                height=9, links=(PIPE_LINK,)),
        )),
        ("Runs", (
            Panel("Run success ratio", "stat", (
                q(f'sum(increase(codearts_build_runs_total{{{PROJECT}, status="success"}}[$__range])) '
                  f"/ sum(increase(codearts_build_runs_total{{{PROJECT}}}[$__range]))"),
            ), "Of the build runs that finished in the time range, which share succeeded?", unit="percentunit",
                width=6, height=8),
            Panel("Runs by status", "bargauge", (
                q(f"sum by (status) (increase(codearts_build_runs_total{{{PROJECT}}}[$__range]))", "{{status}}"),
            ), "How many build runs finished in the time range, by status?", width=6, height=8),
            Panel("Flakiest build jobs", "table", (
                q(f'topk(10, sum by (project_id, job_id, job) (increase(codearts_build_runs_total{{{PROJECT}, '
                  f'status=~"failed|timedout"}}[$__range])) / sum by (project_id, job_id, job) '
                  f"(increase(codearts_build_runs_total{{{PROJECT}}}[$__range])))"),
            ), "Which build jobs' runs failed or timed out most often in the time range (CodeArtsBuildJobFlaky "
               "fires above half over 6 h)?", unit="percentunit", width=12, height=8, links=(BUILD_LINK,)),
        )),
        ("CodeArts Pipeline", (
            Panel("Failed pipelines", "stat",
                  (q(f'sum(codearts_pipeline_pipelines{{{CP_PROJECT}, status="failed"}})'),),
                  "How many pipelines' latest run failed?", width=4, height=4, options={"red_above": 0}),
            Panel("Running / paused pipelines", "stat", (
                q(f'sum(codearts_pipeline_pipelines{{{CP_PROJECT}, status="running"}})', "running"),
                q(f'sum(codearts_pipeline_pipelines{{{CP_PROJECT}, status="paused"}})', "paused"),
            ), "How many pipelines are running, and how many wait at a manual gate?", width=4, height=4),
            Panel("Pipeline run success ratio", "stat", (
                q(f'sum(increase(codearts_pipeline_runs_total{{{CP_PROJECT}, status="success"}}[$__range])) '
                  f'/ sum(increase(codearts_pipeline_runs_total{{{CP_PROJECT}, status=~"success|failed|canceled"}}'
                  f"[$__range]))"),
            ), "Of the pipeline runs that finished in the time range (skipped ones left out), which share "
               "succeeded?", unit="percentunit", width=4, height=4),
            Panel("Failing pipelines", "table", (
                q(named(f"codearts_pipeline_last_run_end_timestamp_seconds{{{CP_PROJECT}}} * on ({CP_KEY}) "
                        f'group_left (status) (codearts_pipeline_last_run_status{{{CP_PROJECT}, status="failed"}} '
                        "== 1)")),
            ), "Which pipelines are red, and since when (the end of the failed run)?", unit="dateTimeFromNow",
                width=12, height=8, links=(CP_LINK,)),
        )),
        ("CodeArts Deploy", (
            Panel("Failed deployments", "stat",
                  (q(f'count(codearts_deploy_app_last_status{{{DP_PROJECT}, status=~"failed|timedout"}} == 1)'),),
                  "How many applications' last deployment failed or timed out?", width=4, height=4,
                  options={"red_above": 0}),
            Panel("Deploying now", "stat", (
                q(f'count(codearts_deploy_app_last_status{{{DP_PROJECT}, status="running"}} == 1)', "running"),
                q(f'count(codearts_deploy_app_last_status{{{DP_PROJECT}, status="pending"}} == 1)', "queued"),
            ), "How many applications are deploying, and how many deployments wait in the queue?", width=4,
                height=4),
            Panel("Deployment success ratio", "stat", (
                q(f'sum(increase(codearts_deploy_runs_total{{{DP_PROJECT}, status="success"}}[$__range])) '
                  f"/ sum(increase(codearts_deploy_runs_total{{{DP_PROJECT}, {DP_FINISHED}}}[$__range]))"),
            ), "Of the deployments that finished in the time range, which share succeeded?", unit="percentunit",
                width=4, height=4),
            Panel("Failing applications", "table", (
                q(f"codearts_deploy_app_last_end_timestamp_seconds{{{DP_PROJECT}}} * on ({DP_KEY}) group_left (status) "
                  f'(codearts_deploy_app_last_status{{{DP_PROJECT}, status=~"failed|timedout"}} == 1)'),
            ), "Which applications' last deployment failed, and since when (its end)?", unit="dateTimeFromNow",
                width=12, height=8, links=(DP_LINK,)),
        )),
        ("Health", (
            Panel("Least healthy build jobs", "bargauge", (
                q(f"bottomk(10, codearts_build_job_health_score{{{PROJECT}}} {NEVER_BUILT})", "{{job}}"),
            ), "Which build jobs does CodeArts rate worst (health score 0-100; never-built jobs left out)?",
                width=12, height=9, options={"min": 0, "max": 100}),
            Panel("Average health score by project", "timeseries", (
                q(named(f"avg by (project_id) (codearts_build_job_health_score{{{PROJECT}}} {NEVER_BUILT})"),
                  "{{project}}"),
            ), "Is a project's build health improving or degrading?", width=6, height=9,
                options={"min": 0, "max": 100}),
            Panel("Build jobs by status", "bargauge", (
                q(f"sum by (status) (codearts_build_jobs{{{PROJECT}}})", "{{status}}"),
            ), "How do the build jobs split by the status of their last build?", width=6, height=9),
        )),
    ),
)

BUILD_JOB_DASHBOARD = Dashboard(
    "codearts-build-job", "CodeArts CI: build job",
    "One build job (or several): its status, health, and build durations over time.",
    (V_PROJECT, V_BUILD_JOB),
    (
        ("Now", (
            Panel("Last build status", "stat",
                  (q(f"codearts_build_job_status{{{BUILD_JOB}}} == 1", "{{job}}: {{status}}"),),
                  "What did the last build of the job end with (or is it running)?", width=6, height=4,
                  options={"text_mode": "name"}),
            Panel("Health score", "stat", (q(f"codearts_build_job_health_score{{{BUILD_JOB}}}", "{{job}}"),),
                  "How does CodeArts rate the job (0-100, share of recent builds that succeeded)?", width=4,
                  height=4, options={"min": 0, "max": 100}),
            Panel("Last build started", "stat",
                  (q(f"codearts_build_job_last_build_timestamp_seconds{{{BUILD_JOB}}}", "{{job}}"),),
                  "When did the last build start?", unit="dateTimeFromNow", width=5, height=4),
            Panel("Last build duration", "stat",
                  (q(f"codearts_build_job_last_build_duration_seconds{{{BUILD_JOB}}}", "{{job}}"),),
                  "How long did the last finished build take?", unit="s", width=5, height=4),
            Panel("Running / disabled", "stat", (
                q(f"codearts_build_job_running{{{BUILD_JOB}}}", "{{job}} running"),
                q(f"codearts_build_job_disabled{{{BUILD_JOB}}}", "{{job}} disabled"),
            ), "Is a build running now? Is the job disabled?", width=4, height=4),
        )),
        ("History", (
            Panel("Status history", "state-timeline", (
                q(f"codearts_build_job_status{{{BUILD_JOB}}} == 1", "{{job}}: {{status}}"),
            ), "Since when has the job been in its status, and how often does it change?", width=24, height=6),
            Panel("Last build duration over time", "timeseries", (
                q(f"codearts_build_job_last_build_duration_seconds{{{BUILD_JOB}}}", "{{job}}"),
            ), "Are the job's builds getting slower?", unit="s", width=12),
            Panel("Build duration p50/p95 over the time range", "table",
                  _histogram("codearts_build_run_duration_seconds", BUILD_JOB, "job", "{{job}}", "$__range"),
                  "What is a typical and a slow build of the job, over the runs that finished in the range?",
                  unit="s", width=6),
            Panel("Health score over time", "timeseries", (
                q(f"codearts_build_job_health_score{{{BUILD_JOB}}}", "{{job}}"),
            ), "Is the job's health improving or degrading?", width=6, options={"min": 0, "max": 100}),
            Panel("Duration p95", "timeseries",
                  _histogram("codearts_build_run_duration_seconds", BUILD_JOB, "job", "{{job}}",
                             quantiles=(0.95,)),
                  "How long do the job's runs take (95th percentile of the runs that finished lately)?", unit="s",
                  width=12),
            Panel("Runs by status", "timeseries", (
                q(f"sum by (job, status) (increase(codearts_build_runs_total{{{BUILD_JOB}}}[$__rate_interval]))",
                  "{{job}} {{status}}"),
            ), "How often does the job run, and how do its runs end?", width=12),
            Panel("Job details", "table", (q(f"codearts_build_job_info{{{BUILD_JOB}}}"),),
                  "Which branch, source, trigger and repository did the last build use?", width=24, height=6),
        )),
    ),
)

PIPELINE_DASHBOARD = Dashboard(
    "codearts-repo-pipeline", "CodeArts CI: Repo pipeline",
    "The jobs of one pipeline (or several): status, durations and queue times by stage and job.",
    (V_REPOSITORY, V_PIPELINE, V_STAGE, V_PIPE_JOB),
    (
        ("Now", (
            Panel("Jobs by status", "bargauge",
                  (q(f"sum by (status) (codearts_repo_pipeline_jobs{{{PIPE}}})", "{{status}}"),),
                  "How do the pipeline's jobs split by the status of their latest run?", width=8),
            Panel("Job status", "table", (q(f"codearts_repo_pipeline_job_status{{{PIPE_JOB}}} == 1"),),
                  "What is each job's status now, stage by stage?", width=16),
        )),
        ("History", (
            Panel("Status history", "state-timeline", (
                q(f"codearts_repo_pipeline_job_status{{{PIPE_JOB}}} == 1", "{{stage}}/{{job}}: {{status}}"),
            ), "When did each job change status?", width=24, height=8),
            Panel("Job duration", "timeseries", (
                q(f"codearts_repo_pipeline_job_duration_seconds{{{PIPE_JOB}}}", "{{stage}}/{{job}}"),
            ), "How long does each job run (a running job's value grows until it finishes)?", unit="s", width=12),
            Panel("Queue time", "timeseries", (
                q(f"codearts_repo_pipeline_job_queued_seconds{{{PIPE_JOB}}}", "{{stage}}/{{job}}"),
            ), "How long do jobs wait for an agent before they start?", unit="s", width=12),
            Panel("Run duration p95", "timeseries",
                  _histogram("codearts_repo_pipeline_job_run_duration_seconds", PIPE_JOB, "stage, job",
                             "{{stage}}/{{job}}", quantiles=(0.95,)),
                  "How long do each job's runs take (95th percentile of the runs that ended lately)?", unit="s",
                  width=12),
            Panel("Runs by status", "bargauge", (
                q(f"sum by (status) (increase(codearts_repo_pipeline_job_runs_total{{{PIPE_JOB}}}[$__range]))",
                  "{{status}}"),
            ), "How many job runs of the pipeline ended in the time range, by status?", width=12),
            Panel("Latest run: started and finished", "table", (
                q(f"codearts_repo_pipeline_job_started_timestamp_seconds{{{PIPE_JOB}}}", "started"),
                q(f"codearts_repo_pipeline_job_finished_timestamp_seconds{{{PIPE_JOB}}}", "finished"),
            ), "When did each job's latest run start and finish?", unit="dateTimeAsIso", width=24),
            Panel("Branch and commit", "table", (q(f"codearts_repo_pipeline_job_info{{{PIPE_JOB}}}"),),
                  "Which branch and commit did each job's latest run build?", width=24, height=6),
        )),
    ),
)

CLOUD_PIPELINE_DASHBOARD = Dashboard(
    "codearts-pipeline", "CodeArts CI: Pipeline",
    "The CodeArts Pipeline service: what is red now, success ratio, run durations and the slowest stages.",
    (V_CP_PROJECT, V_CP_PIPELINE),
    (
        ("Now", (
            Panel("Failed", "stat", (q(f'count(codearts_pipeline_last_run_status{{{CP}, status="failed"}} == 1)'),),
                  "How many of the selected pipelines' latest run failed?", width=4, height=4,
                  options={"red_above": 0}),
            Panel("Running", "stat", (q(f'count(codearts_pipeline_last_run_status{{{CP}, status="running"}} == 1)'),),
                  "How many pipelines are running at the last poll?", width=4, height=4),
            Panel("Paused", "stat", (q(f'count(codearts_pipeline_last_run_status{{{CP}, status="paused"}} == 1)'),),
                  "How many runs wait at a manual review or approval gate (PAUSED, SUSPEND)?", width=4, height=4),
            Panel("Run success ratio", "stat", (
                q(f'sum(increase(codearts_pipeline_runs_total{{{CP}, status="success"}}[$__range])) '
                  f'/ sum(increase(codearts_pipeline_runs_total{{{CP}, status=~"success|failed|canceled"}}'
                  f"[$__range]))"),
            ), "Of the runs that finished in the time range (skipped ones left out), which share succeeded?",
                unit="percentunit", width=4, height=4),
            Panel("Pipelines by status", "bargauge", (
                q(f"sum by (status) (codearts_pipeline_pipelines{{{CP_PROJECT}}})", "{{status}}"),
            ), "How do the projects' pipelines split by the status of their latest run (none: never ran)?",
                width=8, height=4),
            Panel("What is red, since when", "table", (
                q(f"codearts_pipeline_last_run_end_timestamp_seconds{{{CP}}} * on ({CP_KEY}) group_left (status) "
                  f'(codearts_pipeline_last_run_status{{{CP}, status="failed"}} == 1)'),
            ), "Which pipelines' latest run failed, and when did it end?", unit="dateTimeFromNow", width=12,
                height=8, links=(CP_LINK,)),
            Panel("Running or paused, for how long", "table", (
                q(f"codearts_pipeline_last_run_duration_seconds{{{CP}}} and on ({CP_KEY}) "
                  f'(codearts_pipeline_last_run_status{{{CP}, status=~"running|paused"}} == 1)'),
            ), "Which runs are still going or waiting at a gate, and since how long (at the last poll)? "
               "CodeArtsPipelineRunningTooLong fires after 1 h running, CodeArtsPipelinePausedTooLong after 4 h.",
                unit="s", width=12, height=8, links=(CP_LINK,)),
        )),
        ("Durations", (
            Panel("Run duration p95", "timeseries",
                  _histogram("codearts_pipeline_run_duration_seconds", CP, "pipeline", "{{pipeline}}",
                             quantiles=(0.95,)),
                  "How long do a pipeline's runs take (95th percentile of the runs that finished lately)?", unit="s",
                  width=12),
            Panel("Latest run duration", "timeseries", (
                q(f"codearts_pipeline_last_run_duration_seconds{{{CP}}}", "{{pipeline}}"),
            ), "How long did each pipeline's latest run take (a running run's value grows until it ends)?",
                unit="s", width=12),
            Panel("Slowest pipelines (p95 over the time range)", "table", (
                q("topk(10, " + _histogram("codearts_pipeline_run_duration_seconds", CP,
                                           "project_id, pipeline_id, pipeline", "", "$__range", (0.95,))[0].expr + ")"),
            ), "Which pipelines take longest, by the 95th percentile of their runs in the range?", unit="s",
                width=12, height=9, links=(CP_LINK,)),
            Panel("Slowest stages of the latest runs", "bargauge", (
                q(f"topk(10, codearts_pipeline_last_run_stage_duration_seconds{{{CP}}})", "{{pipeline}}/{{stage}}"),
            ), "Which stages took longest in the pipelines' latest runs?", unit="s", width=12, height=9),
            Panel("Slowest jobs of the latest runs", "bargauge", (
                q(f"topk(10, codearts_pipeline_last_run_job_duration_seconds{{{CP}}})",
                  "{{pipeline}}/{{stage}}/{{job}}"),
            ), "Which jobs took longest in the pipelines' latest finished runs (projects with detail: true)?",
                unit="s", width=12, height=9),
            Panel("Longest job waits of the latest runs", "bargauge", (
                q(f"topk(10, codearts_pipeline_last_run_job_queued_seconds{{{CP}}})",
                  "{{pipeline}}/{{stage}}/{{job}}"),
            ), "Which jobs waited longest after their stage started, for an agent or their dependencies "
               "(projects with detail: true)?", unit="s", width=12, height=9),
        )),
        ("Runs and stages", (
            Panel("Runs by status", "timeseries", (
                q(f"sum by (status) (increase(codearts_pipeline_runs_total{{{CP}}}[$__rate_interval]))", "{{status}}"),
            ), "How many runs finish, and how do they end?", width=12),
            Panel("Runs by trigger and branch", "bargauge", (
                q(f"sum by (trigger, branch) (increase(codearts_pipeline_runs_total{{{CP}}}[$__range]))",
                  "{{trigger}} {{branch}}"),
            ), "What starts the runs (push, merge request, schedule, manual) and on which branches?", width=12),
            Panel("Stages of the latest run", "table", (
                q(f"codearts_pipeline_last_run_stage_status{{{CP}}} == 1"),
            ), "What did each stage of each pipeline's latest run end with (or is it running)?", width=12,
                height=9),
            Panel("Latest run", "table", (q(f"codearts_pipeline_last_run_info{{{CP}}}"),),
                  "Which run is the latest: its number, trigger, branch and commit?", width=12, height=9),
        )),
    ),
)

DEPLOY_DASHBOARD = Dashboard(
    "codearts-deploy", "CodeArts CI: Deploy",
    "CodeArts Deploy: each application's last deployment, deployments by result over time, how long they take, "
    "and which applications fail.",
    (V_DP_PROJECT, V_DP_APP),
    (
        ("Now", (
            Panel("Failed", "stat",
                  (q(f'count(codearts_deploy_app_last_status{{{DP}, status=~"failed|timedout"}} == 1)'),),
                  "How many of the selected applications' last deployment failed or timed out?", width=4, height=4,
                  options={"red_above": 0}),
            Panel("Deploying", "stat", (
                q(f'count(codearts_deploy_app_last_status{{{DP}, status="running"}} == 1)', "running"),
                q(f'count(codearts_deploy_app_last_status{{{DP}, status="pending"}} == 1)', "queued"),
            ), "How many applications are deploying now, and how many deployments are queued?", width=4, height=4),
            Panel("Deployment success ratio", "stat", (
                q(f'sum(increase(codearts_deploy_runs_total{{{DP}, status="success"}}[$__range])) '
                  f"/ sum(increase(codearts_deploy_runs_total{{{DP}, {DP_FINISHED}}}[$__range]))"),
            ), "Of the deployments that finished in the time range, which share succeeded?", unit="percentunit",
                width=4, height=4),
            Panel("Applications by last status", "bargauge", (
                q(f"count by (status) (codearts_deploy_app_last_status{{{DP}}} == 1)", "{{status}}"),
            ), "How do the applications split by the result of their last deployment (never: not deployed yet)?",
                width=12, height=4),
            Panel("Last deployment of each application", "table", (
                q(f"codearts_deploy_app_last_end_timestamp_seconds{{{DP}}} * on ({DP_KEY}) group_left (status) "
                  f"(codearts_deploy_app_last_status{{{DP}}} == 1)"),
            ), "How did each application's last finished deployment end, and when?", unit="dateTimeFromNow",
                width=12, height=9, links=(DP_LINK,)),
            Panel("Deploying or queued, for how long", "table", (
                q(f"codearts_deploy_app_last_duration_seconds{{{DP}}} and on ({DP_KEY}) "
                  f'(codearts_deploy_app_last_status{{{DP}, status=~"running|pending"}} == 1)'),
            ), "Which deployments are still going or queued, and since how long (at the last poll)? "
               "CodeArtsDeploymentRunningTooLong fires after 1 h.", unit="s", width=12, height=9, links=(DP_LINK,)),
        )),
        ("Deployments over time", (
            Panel("Deployments by result", "timeseries", (
                q(f"sum by (status) (increase(codearts_deploy_runs_total{{{DP}}}[$__rate_interval]))", "{{status}}"),
            ), "How many deployments finish, and how do they end?", width=12),
            Panel("Failing applications", "table", (
                q(f"topk(10, sum by (project_id, app_id, app) (increase(codearts_deploy_runs_total{{{DP}, "
                  f'status=~"failed|timedout"}}[$__range])))'),
            ), "Which applications had the most failed or timed-out deployments in the time range?", width=12,
                height=8, links=(DP_LINK,)),
            Panel("Deployment duration p50 / p95", "timeseries",
                  _histogram("codearts_deploy_run_duration_seconds", DP, "app", "{{app}}"),
                  "How long do an application's deployments take (percentiles of those that finished lately)?",
                  unit="s", width=12),
            Panel("Last deployment duration", "timeseries", (
                q(f"codearts_deploy_app_last_duration_seconds{{{DP}}}", "{{app}}"),
            ), "How long did each application's last deployment take (a running one's value grows until it ends)?",
                unit="s", width=12),
        )),
    ),
)

EXPORTER_DASHBOARD = Dashboard(
    "codearts-exporter", "CodeArts CI: exporter health",
    "Is the exporter scraped, can it read every CodeArts target, how fresh is its data, how does the API answer?",
    (V_SCRAPE_JOB, V_INSTANCE),
    (
        ("Targets", (
            Panel("Exporter scraped", "stat", (q('up{job=~"$scrape_job", instance=~"$instance"}', "{{instance}}"),),
                  "Can Prometheus scrape the exporter (1) or not (0)?", width=5, height=4),
            Panel("CodeArts targets up", "stat", (
                q(f"sum(codearts_up{{{INSTANCE}}})", "up"),
                q(f"sum(1 - codearts_up{{{INSTANCE}}})", "down"),
            ), "How many configured pipelines and projects did the last poll read, and how many failed?", width=5,
                height=4),
            Panel("Token expires in", "stat", (
                q(f"codearts_auth_token_expiry_timestamp_seconds{{{INSTANCE}}} - time()", "{{instance}}"),
            ), "How long until each exporter's IAM token expires (password auth only)? Under 1 h (red) means "
               "renewal is failing (CodeArtsTokenExpiringSoon).", unit="s", width=5, height=4,
                options={"red_below": 3600}),
            Panel("Exporter version", "table", (q(f"codearts_exporter_build_info{{{INSTANCE}}}"),),
                  "Which version does each exporter run?", width=9, height=4),
            Panel("Targets", "table", (q(f"codearts_up{{{INSTANCE}}}"),),
                  "Which targets did the last poll read (1) or fail on (0)?", width=12, height=9),
            Panel("Data age", "timeseries", (
                q(f"time() - codearts_last_success_timestamp_seconds{{{INSTANCE}}}", "{{api}} {{target}}"),
            ), "How old is the newest data of each target (staleness)?", unit="s", width=12, height=9),
        )),
        ("Polling and the CodeArts API", (
            Panel("Poll duration", "timeseries", (
                q(f"codearts_poll_duration_seconds{{{INSTANCE}}}", "{{api}} {{target}}"),
                q(f"codearts_poller_cycle_duration_seconds{{{INSTANCE}}}", "whole cycle {{instance}}"),
            ), "How long do the poll of each target and the whole cycle take? A cycle longer than the poll "
               "interval means the targets need more requests than poll.rate_limit allows.", unit="s", width=12),
            Panel("API requests by code", "timeseries", (
                q(f"sum by (api, code) (rate(codearts_api_requests_total{{{INSTANCE}}}[$__rate_interval]))",
                  "{{api}} {{code}}"),
            ), "How many requests per second does the exporter send to CodeArts, and how are they answered?",
                unit="reqps", width=12),
            Panel("Throttled and failing requests", "timeseries", (
                q(f'sum by (api, code) (rate(codearts_api_requests_total{{{INSTANCE}, code=~"429|5..|error"}}'
                  f"[$__rate_interval]))", "{{api}} {{code}}"),
            ), "Is CodeArts throttling (429), failing (5xx) or not answering (error) the exporter?", unit="reqps",
                width=12),
            Panel("Error ratio", "timeseries", (
                q(f'sum by (api) (rate(codearts_api_requests_total{{{INSTANCE}, code=~"429|5..|error"}}'
                  f"[$__rate_interval])) / sum by (api) (rate(codearts_api_requests_total{{{INSTANCE}}}"
                  f"[$__rate_interval]))", "{{api}}"),
            ), "Which share of requests is throttled or failing (CodeArtsApiErrors fires above 10%)?",
                unit="percentunit", width=12),
            Panel("Scrape duration", "timeseries", (
                q('scrape_duration_seconds{job=~"$scrape_job", instance=~"$instance"}', "{{instance}}"),
            ), "How long does Prometheus take to scrape the exporter (a scrape never calls CodeArts)?", unit="s",
                width=12),
            Panel("Samples per scrape", "timeseries", (
                q('scrape_samples_scraped{job=~"$scrape_job", instance=~"$instance"}', "{{instance}}"),
            ), "How many series does the exporter serve (grows with jobs and targets)?", width=12),
        )),
        ("Discovery", (
            Panel("Discovery sources", "table", (q(f"codearts_discovery_up{{{INSTANCE}}}"),),
                  "Did the last discovery pass read each project's repositories and each repository's merge "
                  "requests (1) or fail (0, CodeArtsDiscoveryFailing)?", width=8),
            Panel("Discovered", "timeseries", (
                q(f"codearts_discovery_targets{{{INSTANCE}}}", "{{source}} {{id}}"),
            ), "How many repositories does each project match, and how many pipelines does each repository "
               "watch?", width=8),
            Panel("Discovery age", "timeseries", (
                q(f"time() - codearts_discovery_last_success_timestamp_seconds{{{INSTANCE}}}", "{{source}} {{id}}"),
                q(f"codearts_discovery_pass_duration_seconds{{{INSTANCE}}}", "last pass took ({{instance}})"),
            ), "How long ago did each source last answer a discovery pass (a failed source keeps its last "
               "result), and how long did the last pass take?", unit="s", width=8),
        )),
    ),
)

def dora_dashboard() -> Dashboard:
    """codearts-dora: DORA's four keys per service with the performance bands of the 2023 Accelerate State of
    DevOps report (docs/dora.md cites them), their trend, and a table of services. Reads the recording rules of
    deploy/prometheus/dora-rules.yml; a key without data shows "no data", never NaN."""
    service = Variable("service", "Service", "codearts_dora_deployments_total", "service")
    environment = Variable("environment", "Environment", 'codearts_dora_deployments_total{service=~"$service"}',
                           "environment")
    sel = 'service=~"$service", environment=~"$environment"'
    day = 86400
    # Bands, best first: (colour, lower bound). Frequency: more is better; the others: less is better.
    frequency = (("red", None), ("orange", 1 / 30), ("yellow", 1 / 7), ("green", 1))
    lead = (("green", None), ("yellow", day), ("orange", 7 * day), ("red", 30 * day))
    failure = (("green", None), ("yellow", 0.05), ("orange", 0.10), ("red", 0.15))
    recovery = (("green", None), ("yellow", 3600), ("orange", day), ("red", 7 * day))
    keys = (
        ("Deployment frequency", f"codearts:dora_deployment_frequency:per_day_28d{{{sel}}}", "short", frequency,
         "How often does the service deploy successfully (per day, over 28 days)? Elite: on demand, several a "
         "day (green from 1/day); high: daily to weekly (yellow from 1/7); medium: weekly to monthly (orange "
         "from 1/30); low: less (red)."),
        ("Lead time for changes (median)", f"codearts:dora_change_lead_time_seconds:p50_28d{{{sel}}}", "s", lead,
         "How long from a commit to its successful deployment (median over 28 days)? Elite: under a day "
         "(green); high: a day to a week (yellow); medium: a week to a month (orange); low: longer (red)."),
        ("Deployment failure rate", f"codearts:dora_change_failure_rate:28d{{{sel}}}", "percentunit", failure,
         "Which share of the finished deployments of 28 days failed or timed out (aborted and canceled left "
         "out)? Elite about 5 % (green up to 5 %), high about 10 % (yellow), medium about 15 % (orange), "
         "low above (red)."),
        ("Failed deployment recovery time (median)",
         f"codearts:dora_failed_deployment_recovery_seconds:p50_28d{{{sel}}}", "s", recovery,
         "How long from the first failed deployment of a streak to the success that ended it (median over 28 "
         "days)? Elite: under an hour (green); high: under a day (yellow); medium: under a week (orange); low: "
         "longer (red)."),
    )
    stats = tuple(Panel(title, "stat", (q(f"avg({expr})"),), doc, unit=unit, width=6, height=5,
                        options={"steps": steps, "no_value": "no data"}) for title, expr, unit, steps, doc in keys)
    trend = (
        Panel("Deployments per day (7-day average)", "timeseries", (
            q(f"codearts:dora_deployment_frequency:per_day_7d{{{sel}}}", "{{service}} {{environment}}"),
        ), "How does each service's deployment frequency move?", width=12),
        Panel("Deployment failure rate (7 days)", "timeseries", (
            q(f"codearts:dora_change_failure_rate:7d{{{sel}}}", "{{service}} {{environment}}"),
        ), "How does each service's deployment failure rate move (absent while nothing finished)?",
            unit="percentunit", width=12),
        Panel("Lead time for changes (median, p90)", "timeseries", (
            q(f"codearts:dora_change_lead_time_seconds:p50_28d{{{sel}}}", "{{service}} median"),
            q(f"codearts:dora_change_lead_time_seconds:p90_28d{{{sel}}}", "{{service}} p90"),
        ), "How do lead times move (28-day median and 90th percentile)?", unit="s", width=12),
        Panel("Recovery time (median, p90)", "timeseries", (
            q(f"codearts:dora_failed_deployment_recovery_seconds:p50_28d{{{sel}}}", "{{service}} median"),
            q(f"codearts:dora_failed_deployment_recovery_seconds:p90_28d{{{sel}}}", "{{service}} p90"),
        ), "How do recovery times move (28-day median and 90th percentile)?", unit="s", width=12),
    )
    services = (
        Panel("Services", "table", (
            q(f"codearts:dora_deployment_frequency:per_day_28d{{{sel}}}", "deployments per day"),
            q(f"codearts:dora_change_lead_time_seconds:p50_28d{{{sel}}}", "lead time"),
            q(f"codearts:dora_change_failure_rate:28d{{{sel}}}", "failure rate"),
            q(f"codearts:dora_failed_deployment_recovery_seconds:p50_28d{{{sel}}}", "recovery time"),
        ), "Every service's four keys over 28 days side by side (an empty cell: no data yet).", width=24,
            height=8),
        Panel("Deployments by status", "bargauge", (
            q(f"sum by (service, status) (increase(codearts_dora_deployments_total{{{sel}}}[$__range]))",
              "{{service}} {{status}}"),
        ), "How many deployments ended in the time range, and how?", width=12),
        Panel("Lead times not measured", "bargauge", (
            q("sum by (reason) (increase(codearts_dora_lead_time_skipped_total[$__range]))", "{{reason}}"),
        ), "Why did successful deployments get no lead time (no commit, a commit Repo does not know, a commit "
           "dated after the deployment)?", width=6),
        Panel("Commit lookups", "bargauge", (
            q("sum by (result) (increase(codearts_dora_commit_lookups_total[$__range]))", "{{result}}"),
        ), "How were commit times found (read from Repo, cached, unknown, failed)?", width=6),
    )
    return Dashboard(
        "codearts-dora", "CodeArts CI: DORA",
        "DORA's four keys per service from the exporter's codearts_dora_* families and the recording rules of "
        "deploy/prometheus/dora-rules.yml, coloured by the DORA report's performance bands (docs/dora.md).",
        (service, environment),
        (("The four keys (28 days)", stats), ("Trend", trend), ("Services", services)),
    )


DORA_DASHBOARD = dora_dashboard()


# --- the test results dashboard (issue 23): CodeArts TestPlan plans -------------------------------

V_TP_PROJECT = Variable("tp_project", "TestPlan project", "codearts_testplan_plans", "project_id")
V_TP_PLAN = Variable("tp_plan", "Plan", 'codearts_testplan_info{project_id=~"$tp_project"}', "plan")
TP = 'project_id=~"$tp_project", plan=~"$tp_plan"'
TP_KEY = "instance, project_id, plan_id"
PASS_RATE_THRESHOLD = 0.8  # CodeArtsTestPlanPassRateLow's

TESTPLAN_PANELS: tuple[Panel, ...] = (
    Panel("Plans under 80 %", "stat", (q(f"count(codearts_testplan_case_pass_ratio{{{TP}}} < {PASS_RATE_THRESHOLD})"),),
          "How many watched plans pass fewer than 80 % of their executed cases (CodeArtsTestPlanPassRateLow's "
          "threshold)?", width=4, height=4, options={"red_above": 0}),
    Panel("Open defects", "stat", (q(f'sum(codearts_testplan_defects{{{TP}, state="open"}})'),),
          "How many defects found by the plans are not completed?", width=4, height=4),
    Panel("Overdue plans", "stat", (q(f"count(codearts_testplan_overdue_days{{{TP}}} > 0)"),),
          "How many plans are past their end date and not in report?", width=4, height=4, options={"red_above": 0}),
    Panel("Plans by stage", "bargauge", (
        q('sum by (stage) (codearts_testplan_plans{project_id=~"$tp_project"})', "{{stage}}"),
    ), "How many watched plans are in each stage?", width=12, height=4),
    Panel("Pass ratio per plan", "bargauge", (
        q(f"sort(codearts_testplan_case_pass_ratio{{{TP}}})", "{{plan}} ({{stage}})"),
    ), "What share of its executed cases does each plan pass now (lowest first)?", unit="percentunit", width=12,
        height=9, options={"min": 0, "max": 1, "red_below": PASS_RATE_THRESHOLD}),
    Panel("Pass ratio over time", "timeseries", (
        q(f"codearts_testplan_case_pass_ratio{{{TP}}}", "{{plan}}"),
    ), "How has each plan's pass ratio moved while its cases ran?", unit="percentunit", width=12, height=9),
    Panel("Plans: cases, defects, delay", "table", (
        q(f"codearts_testplan_executed_cases{{{TP}}}"),
        q(f'codearts_testplan_defects{{{TP}, state="open"}}'),
        q(f"codearts_testplan_overdue_days{{{TP}}}"),
    ), "For each plan: cases executed, open defects, and days past its end date.", width=24, height=9),
)

# Unit-test reports of builds (projects with tests: true).
FAILING_CASES = f'codearts_build_last_test_cases{{{BUILD_JOB}, result=~"failed|error"}}'
BUILD_TEST_PANELS: tuple[Panel, ...] = (
    Panel("Jobs with failing tests", "stat", (
        q(f"count(sum by ({BUILD_KEY}) ({FAILING_CASES}) > 0)"),
    ), "How many build jobs' latest unit-test report has failed or erroring cases (CodeArtsBuildTestsFailing)?",
        width=6, height=4, options={"red_above": 0}),
    Panel("Failing cases now", "stat", (q(f"sum({FAILING_CASES})"),),
          "How many test cases fail or error in the jobs' latest reports together?", width=6, height=4),
    Panel("Cases run by result", "timeseries", (
        q(f"sum by (result) (increase(codearts_build_test_cases_total{{{BUILD_JOB}}}[$__rate_interval]))",
          "{{result}}"),
    ), "How many test cases did the builds that finished run, and how did they end?", width=12, height=8),
    Panel("Failing tests now", "table", (
        q(f"sum by (project_id, job_id, job) ({FAILING_CASES}) > 0"),
        q(f"codearts_build_last_test_report_build_number{{{BUILD_JOB}}} and on ({BUILD_KEY}) "
          f"(sum by ({BUILD_KEY}) ({FAILING_CASES}) > 0)"),
    ), "Which jobs' latest report has failing cases, how many, and in which build?", width=12, height=9),
    Panel("Tests per job over time", "timeseries", (
        q(f"sum by (job) (codearts_build_last_test_cases{{{BUILD_JOB}}})", "{{job}}"),
    ), "How many test cases does each job's latest report hold (tests added or lost show as steps)?",
        width=12, height=9),
    Panel("Failed cases per job over time", "timeseries", (
        q(f"sum by (job) ({FAILING_CASES})", "{{job}}"),
    ), "How many cases failed or errored in each job's latest report, build after build (flaky tests come and "
       "go)?", width=12, height=9),
    Panel("Builds with a report", "bargauge", (
        q(f"topk(10, sum by (job) (increase(codearts_build_test_reports_total{{{BUILD_JOB}}}[$__range])))",
          "{{job}}"),
    ), "Which jobs reported tests most often in the time range?", width=12, height=9),
)

TESTS_DASHBOARD = Dashboard(
    "codearts-tests", "CodeArts CI: Tests",
    "Test results: build jobs' unit tests (failing now, cases by result, per job over time) and CodeArts TestPlan "
    "plans' pass ratios, executed cases, defects and delays.",
    (V_PROJECT, V_BUILD_JOB, V_TP_PROJECT, V_TP_PLAN),
    (("Build unit tests", BUILD_TEST_PANELS), ("TestPlan", TESTPLAN_PANELS)),
)

ALL_DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, BUILD_JOB_DASHBOARD, PIPELINE_DASHBOARD, CLOUD_PIPELINE_DASHBOARD,
                                         DEPLOY_DASHBOARD, EXPORTER_DASHBOARD, TESTS_DASHBOARD,
                                         DORA_DASHBOARD)


# --- JSON ---------------------------------------------------------------------------------------

def _variable_json(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name, "label": variable.label, "type": "query", "datasource": DATASOURCE,
        "definition": variable.query,
        "query": {"query": variable.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0,
        "regex": variable.regex,
    }


def _templating(dashboard: Dashboard) -> dict[str, Any]:
    datasource = {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
                  "current": {}, "options": [], "hide": 0, "refresh": 1, "regex": ""}
    return {"list": [datasource, *(_variable_json(v) for v in dashboard.variables)]}


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    for key in ("min", "max"):
        if key in panel.options:
            defaults[key] = panel.options[key]
    if "no_value" in panel.options:
        defaults["noValue"] = panel.options["no_value"]
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if "steps" in panel.options:
        steps = [{"color": color, "value": value} for color, value in panel.options["steps"]]
    if "red_above" in panel.options:
        steps.append({"color": "red", "value": panel.options["red_above"] + 1})
    if "red_below" in panel.options:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": panel.options["red_below"]}]
    defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    defaults["color"] = {"mode": "thresholds" if panel.kind in ("stat", "bargauge") else "palette-classic"}
    if panel.links:
        defaults["links"] = [dict(link) for link in panel.links]
    return {"defaults": defaults, "overrides": []}


def _panel_options(panel: Panel) -> dict[str, Any]:
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if panel.kind == "stat":
        return {"reduceOptions": reduce, "textMode": panel.options.get("text_mode", "auto"), "colorMode": "value",
                "graphMode": "none", "justifyMode": "auto", "orientation": "auto"}
    if panel.kind == "bargauge":
        return {"reduceOptions": reduce, "displayMode": "gradient", "orientation": "horizontal",
                "showUnfilled": True}
    if panel.kind == "table":
        return {"showHeader": True, "cellHeight": "sm"}
    legend = {"displayMode": "list", "placement": "bottom", "showLegend": True}
    if panel.kind == "state-timeline":
        return {"legend": legend, "mergeValues": True, "showValue": "never", "rowHeight": 0.8}
    return {"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}}


def _targets(panel: Panel) -> list[dict[str, Any]]:
    instant = panel.kind in ("stat", "table", "bargauge")
    targets = []
    for index, query in enumerate(panel.queries):
        targets.append({
            "refId": chr(ord("A") + index), "datasource": DATASOURCE, "expr": query.expr,
            "legendFormat": query.legend or "__auto", "instant": instant, "range": not instant,
            "format": "table" if panel.kind == "table" else "time_series",
        })
    return targets


def _transformations(panel: Panel) -> list[dict[str, Any]]:
    if panel.kind != "table":
        return []
    hidden = {"Time": True, "__name__": True, "instance": True}
    steps: list[dict[str, Any]] = []
    if len(panel.queries) > 1:
        steps.append({"id": "merge", "options": {}})
    steps.append({"id": "organize", "options": {"excludeByName": hidden, "renameByName": {}}})
    return steps


def _layout(dashboard: Dashboard) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for row_title, row_panels in dashboard.rows:
        panels.append({"id": next_id, "type": "row", "title": row_title, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}})
        next_id += 1
        y += 1
        x = 0
        row_height = 0
        for panel in row_panels:
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append({
                "id": next_id, "type": panel.kind, "title": panel.title, "description": panel.doc,
                "datasource": DATASOURCE, "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
                "targets": _targets(panel), "fieldConfig": _field_config(panel), "options": _panel_options(panel),
                "transformations": _transformations(panel),
            })
            next_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return panels


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of a dashboard (importable, or loaded by the file provider)."""
    return {
        "uid": dashboard.uid, "title": dashboard.title, "description": dashboard.description, "tags": [TAG],
        "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"}, "timepicker": {}, "timezone": "browser",
        "annotations": {"list": []},
        "links": [{"title": "CodeArts dashboards", "type": "dashboards", "tags": [TAG], "asDropdown": True,
                   "includeVars": True, "keepTime": True}],
        "templating": _templating(dashboard),
        "panels": _layout(dashboard),
    }


def dashboard_text(dashboard: Dashboard) -> str:
    """The file content of a dashboard."""
    return json.dumps(dashboard_json(dashboard), indent=2, ensure_ascii=False) + "\n"


# --- docs ---------------------------------------------------------------------------------------

def doc_section() -> str:
    """The panel reference of docs/dashboards.md: every dashboard, variable, panel and query."""
    lines: list[str] = []
    for dashboard in ALL_DASHBOARDS:
        lines += [f"### {dashboard.title} (`grafana/dashboards/{dashboard.filename}`)", "", dashboard.description, ""]
        variables = ", ".join(f"`${v.name}` = `{v.query}`" for v in dashboard.variables)
        lines += [f"Variables: `$datasource` (a Prometheus data source), {variables}.", ""]
        for row_title, panels in dashboard.rows:
            lines += [f"#### {row_title}", "", "| Panel | Answers | Query |", "|---|---|---|"]
            for panel in panels:
                queries = "<br>".join("`" + query.expr.replace("|", PIPE_ESCAPE) + "`" for query in panel.queries)
                lines.append(f"| {panel.title} ({panel.kind}) | {panel.doc} | {queries} |")
            lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Write every dashboard and the doc section."""
    for dashboard in ALL_DASHBOARDS:
        (DASHBOARDS / dashboard.filename).write_text(dashboard_text(dashboard), encoding="utf-8")
    text = DOC.read_text(encoding="utf-8")
    begin, end = text.index(DOC_BEGIN) + len(DOC_BEGIN), text.index(DOC_END)
    DOC.write_text(text[:begin] + doc_section() + text[end:], encoding="utf-8")
    sys.stdout.write(f"wrote {len(ALL_DASHBOARDS)} dashboards and {DOC.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
