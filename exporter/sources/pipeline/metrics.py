"""The families of CodeArts Pipeline: each pipeline's latest run and its stages, and its run history."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric_spec
from exporter.runhistory.render import HistoryFamilies

PIPELINE_LABELS = ("project_id", "pipeline_id", "pipeline")

LAST_RUN_STATUS = metric_spec(
    "codearts_pipeline_last_run_status", "gauge",
    "1 for the status of a pipeline's latest run (success, failed, canceled, running, paused, skipped, "
    "unknown); paused: waiting for a person (PAUSED, SUSPEND).",
    (*PIPELINE_LABELS, "status"), "pipeline")
LAST_RUN_START = metric_spec(
    "codearts_pipeline_last_run_start_timestamp_seconds", "gauge",
    "Unix time a pipeline's latest run started.", PIPELINE_LABELS, "pipeline")
LAST_RUN_END = metric_spec(
    "codearts_pipeline_last_run_end_timestamp_seconds", "gauge",
    "Unix time a pipeline's latest run ended (finished runs only).", PIPELINE_LABELS, "pipeline")
LAST_RUN_DURATION = metric_spec(
    "codearts_pipeline_last_run_duration_seconds", "gauge",
    "Seconds a pipeline's latest run took, end minus start, minus the time it spent paused where its detail "
    "is read (detail: true; the listing does not give it); for a run still going, up to the poll.",
    PIPELINE_LABELS, "pipeline")
LAST_RUN_STAGE_STATUS = metric_spec(
    "codearts_pipeline_last_run_stage_status", "gauge",
    "1 for the status of each stage of a pipeline's latest run (success, failed, canceled, running, paused, "
    "skipped, pending, unknown).",
    (*PIPELINE_LABELS, "stage", "status"), "pipeline")
LAST_RUN_STAGE_DURATION = metric_spec(
    "codearts_pipeline_last_run_stage_duration_seconds", "gauge",
    "Seconds each finished stage of a pipeline's latest run took (whole seconds: the API gives stage times to "
    "the second).",
    (*PIPELINE_LABELS, "stage"), "pipeline")
LAST_RUN_INFO = metric_spec(
    "codearts_pipeline_last_run_info", "gauge",
    "Always 1; identifies a pipeline's latest run: its id and number, trigger, branch and commit (the branch as "
    "the run built it: branches bounds the run counters only).",
    (*PIPELINE_LABELS, "run_id", "run_number", "trigger", "branch", "commit"), "pipeline")
INFO = metric_spec(
    "codearts_pipeline_info", "gauge",
    "Always 1; a pipeline's name, project name and group.",
    (*PIPELINE_LABELS, "project_name", "group"), "pipeline")
LAST_RUN_JOB_DURATION = metric_spec(
    "codearts_pipeline_last_run_job_duration_seconds", "gauge",
    "Seconds each job of a pipeline's latest finished run took (with detail: true in its project).",
    (*PIPELINE_LABELS, "stage", "job"), "pipeline")
LAST_RUN_JOB_QUEUED = metric_spec(
    "codearts_pipeline_last_run_job_queued_seconds", "gauge",
    "Seconds each job of a pipeline's latest finished run waited from its stage's start to its own (for an "
    "agent or its dependencies; with detail: true in its project).",
    (*PIPELINE_LABELS, "stage", "job"), "pipeline")
PIPELINES = metric_spec(
    "codearts_pipeline_pipelines", "gauge",
    "Number of watched pipelines of a project by the status of their latest run (none: never ran).",
    ("project_id", "status"), "pipeline")

# Run history: each finished run counted once.
RUNS = metric_spec(
    "codearts_pipeline_runs", "counter",
    "Finished runs of a pipeline (success, failed, canceled, skipped), each counted once, by trigger and "
    "branch (or other).",
    (*PIPELINE_LABELS, "trigger", "branch", "status"), "history")
RUN_DURATION = metric_spec(
    "codearts_pipeline_run_duration_seconds", "histogram",
    "Seconds finished pipeline runs took, start to end, by outcome (success, or failure: failed, canceled, "
    "skipped); created with the first run of that outcome (metrics.run_duration_by: status splits by status "
    "instead, none not at all).",
    (*PIPELINE_LABELS, "trigger", "branch", "outcome"), "history")

JOB_SPECS: tuple[MetricSpec, ...] = (
    LAST_RUN_STATUS, LAST_RUN_START, LAST_RUN_END, LAST_RUN_DURATION, LAST_RUN_STAGE_STATUS,
    LAST_RUN_STAGE_DURATION, LAST_RUN_JOB_DURATION, LAST_RUN_JOB_QUEUED, LAST_RUN_INFO, INFO, PIPELINES,
)
MOVING_SPECS: tuple[MetricSpec, ...] = (LAST_RUN_DURATION,)
HISTORY = HistoryFamilies(RUNS, RUN_DURATION)
HISTORY_SPECS: tuple[MetricSpec, ...] = HISTORY.specs
