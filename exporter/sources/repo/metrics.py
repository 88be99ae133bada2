"""The families of CodeArts Repo pipeline jobs: the latest run of each job, and its run history."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric_spec
from exporter.runhistory.render import HistoryFamilies

JOB_LABELS = ("repository_id", "pipeline_id", "stage", "job")

# Pipeline jobs (CodeArts Repo).
JOB_STATUS = metric_spec(
    "codearts_repo_pipeline_job_status", "gauge",
    "1 for the current status of a pipeline job (pending, running, success, failed, canceled, skipped, "
    "timedout, unknown).",
    (*JOB_LABELS, "status"), "pipeline")
JOB_DURATION = metric_spec(
    "codearts_repo_pipeline_job_duration_seconds", "gauge",
    "Seconds from start to finish of a pipeline job; for a running job, from start to the poll.",
    JOB_LABELS, "pipeline")
JOB_QUEUED = metric_spec(
    "codearts_repo_pipeline_job_queued_seconds", "gauge",
    "Seconds a pipeline job waited between creation and start.",
    JOB_LABELS, "pipeline")
JOB_CREATED = metric_spec(
    "codearts_repo_pipeline_job_created_timestamp_seconds", "gauge",
    "Unix time a pipeline job was created.", JOB_LABELS, "pipeline")
JOB_STARTED = metric_spec(
    "codearts_repo_pipeline_job_started_timestamp_seconds", "gauge",
    "Unix time a pipeline job started.", JOB_LABELS, "pipeline")
JOB_FINISHED = metric_spec(
    "codearts_repo_pipeline_job_finished_timestamp_seconds", "gauge",
    "Unix time a pipeline job finished.", JOB_LABELS, "pipeline")
JOB_INFO = metric_spec(
    "codearts_repo_pipeline_job_info", "gauge",
    "Always 1; identifies the job id, branch and commit of a pipeline job.",
    (*JOB_LABELS, "job_id", "ref", "sha"), "pipeline")
JOBS = metric_spec(
    "codearts_repo_pipeline_jobs", "gauge",
    "Number of jobs of a pipeline in each status.",
    ("repository_id", "pipeline_id", "status"), "pipeline")

# Run history: each finished run counted once.
JOB_RUNS = metric_spec(
    "codearts_repo_pipeline_job_runs", "counter",
    "Pipeline job runs that reached a terminal status (success, failed, canceled, skipped, timedout), "
    "each counted once.",
    (*JOB_LABELS, "status"), "history")
JOB_RUN_DURATION = metric_spec(
    "codearts_repo_pipeline_job_run_duration_seconds", "histogram",
    "Seconds finished pipeline job runs ran (0 for a job that never started), by outcome (success, or "
    "failure: failed, canceled, skipped, timedout); created with the first run of that outcome "
    "(metrics.run_duration_by: status splits by status instead, none not at all).",
    (*JOB_LABELS, "outcome"), "history")

JOB_SPECS: tuple[MetricSpec, ...] = (
    JOB_STATUS, JOB_DURATION, JOB_QUEUED, JOB_CREATED, JOB_STARTED, JOB_FINISHED, JOB_INFO, JOBS,
)
HISTORY = HistoryFamilies(JOB_RUNS, JOB_RUN_DURATION)
HISTORY_SPECS: tuple[MetricSpec, ...] = HISTORY.specs
