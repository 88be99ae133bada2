"""The families of CodeArts Build jobs: each job's last build, and its run history."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric_spec
from exporter.runhistory.render import HistoryFamilies

JOB_LABELS = ("project_id", "job_id", "job")

# Build jobs (CodeArts Build).
JOB_STATUS = metric_spec(
    "codearts_build_job_status", "gauge",
    "1 for the last build status of a build job (success, failed, timedout, aborted, running, none, "
    "unknown).",
    (*JOB_LABELS, "status"), "build")
JOB_HEALTH = metric_spec(
    "codearts_build_job_health_score", "gauge",
    "Health score of a build job, 0 to 100, as CodeArts reports it.", JOB_LABELS, "build")
JOB_LAST_BUILD = metric_spec(
    "codearts_build_job_last_build_timestamp_seconds", "gauge",
    "Unix time the last build of a build job ran.", JOB_LABELS, "build")
JOB_LAST_DURATION = metric_spec(
    "codearts_build_job_last_build_duration_seconds", "gauge",
    "Duration of the last build of a build job.", JOB_LABELS, "build")
JOB_RUNNING = metric_spec(
    "codearts_build_job_running", "gauge",
    "1 if a build of the job is running now, else 0.", JOB_LABELS, "build")
JOB_DISABLED = metric_spec(
    "codearts_build_job_disabled", "gauge",
    "1 if the build job is disabled, else 0.", JOB_LABELS, "build")
JOB_INFO = metric_spec(
    "codearts_build_job_info", "gauge",
    "Always 1; identifies the branch, source and trigger of a build job's last build.",
    (*JOB_LABELS, "branch", "scm_type", "trigger_type", "build_type", "repository_id"), "build")
JOBS = metric_spec(
    "codearts_build_jobs", "gauge",
    "Number of build jobs of a project in each status.", ("project_id", "status"), "build")

# Run history: each finished run counted once.
RUNS = metric_spec(
    "codearts_build_runs", "counter",
    "Finished runs of a build job (success, failed, timedout, aborted), each counted once.",
    (*JOB_LABELS, "status"), "history")
RUN_DURATION = metric_spec(
    "codearts_build_run_duration_seconds", "histogram",
    "Seconds finished build runs ran, queue time excluded, by outcome (success, or failure: failed, timedout, "
    "aborted); created with the first run of that outcome (metrics.run_duration_by: status splits by status "
    "instead, none not at all).",
    (*JOB_LABELS, "outcome"), "history")
RUN_QUEUED = metric_spec(
    "codearts_build_run_queued_seconds", "histogram",
    "Seconds finished build runs waited in the queue (where the records API reports it; created with the "
    "first run that reports it).",
    JOB_LABELS, "history")

# Unit-test reports (projects with tests: true): each build's report added once, from the run history.
TEST_CASES = metric_spec(
    "codearts_build_test_cases", "counter",
    "Unit-test cases of a build job's finished builds by result (passed, failed, error, other), each build's "
    "report added once; from the job's first report on.",
    (*JOB_LABELS, "result"), "tests")
LAST_TEST_CASES = metric_spec(
    "codearts_build_last_test_cases", "gauge",
    "Unit-test cases by result (passed, failed, error, other) of the latest build of a job that had a report.",
    (*JOB_LABELS, "result"), "tests")
LAST_TEST_REPORT = metric_spec(
    "codearts_build_last_test_report_build_number", "gauge",
    "The build number of the latest build of a job that had a unit-test report.",
    JOB_LABELS, "tests")
TEST_REPORTS = metric_spec(
    "codearts_build_test_reports", "counter",
    "Finished builds of a job that had a unit-test report, each counted once; from the job's first report on.",
    JOB_LABELS, "tests")
TEST_SPECS: tuple[MetricSpec, ...] = (TEST_CASES, LAST_TEST_CASES, LAST_TEST_REPORT, TEST_REPORTS)


JOB_SPECS: tuple[MetricSpec, ...] = (
    JOB_STATUS, JOB_HEALTH, JOB_LAST_BUILD, JOB_LAST_DURATION, JOB_RUNNING, JOB_DISABLED, JOB_INFO, JOBS,
)
HISTORY = HistoryFamilies(RUNS, RUN_DURATION, RUN_QUEUED)
HISTORY_SPECS: tuple[MetricSpec, ...] = (*HISTORY.specs, *TEST_SPECS)
