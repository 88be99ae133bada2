"""The families of CodeArts Deploy: each application's last deployment, and every deployment counted once."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric_spec
from exporter.runhistory.render import HistoryFamilies

APP_LABELS = ("project_id", "app_id", "app")

INFO = metric_spec(
    "codearts_deploy_app_info", "gauge",
    "Always 1; a Deploy application's name and deployment type (deploy_system: deployTemplate, ansible, shell).",
    (*APP_LABELS, "deploy_system"), "deploy")
LAST_STATUS = metric_spec(
    "codearts_deploy_app_last_status", "gauge",
    "1 for the status of an application's last deployment (success, failed, timedout, aborted, canceled, "
    "running, pending, never: not deployed yet, unknown).",
    (*APP_LABELS, "status"), "deploy")
LAST_START = metric_spec(
    "codearts_deploy_app_last_start_timestamp_seconds", "gauge",
    "Unix time an application's last deployment started (read in deploy_options.time_zone).",
    APP_LABELS, "deploy")
LAST_END = metric_spec(
    "codearts_deploy_app_last_end_timestamp_seconds", "gauge",
    "Unix time an application's last deployment ended (finished deployments only).",
    APP_LABELS, "deploy")
LAST_DURATION = metric_spec(
    "codearts_deploy_app_last_duration_seconds", "gauge",
    "Seconds an application's last deployment took, end minus start (Deploy's own duration where a time is "
    "missing); for a deployment still running or queued, up to the poll.",
    APP_LABELS, "deploy")

# Deployment history: each finished deployment counted once.
RUNS = metric_spec(
    "codearts_deploy_runs", "counter",
    "Finished deployments of an application (success, failed, timedout, aborted, canceled), each counted "
    "once, from zero at first sight.",
    (*APP_LABELS, "status"), "history")
RUN_DURATION = metric_spec(
    "codearts_deploy_run_duration_seconds", "histogram",
    "Seconds finished deployments took, start to end, by outcome (success, or failure: failed, timedout, "
    "aborted, canceled); created with the first deployment of that outcome (metrics.run_duration_by: status "
    "splits by status instead, none not at all).",
    (*APP_LABELS, "outcome"), "history")

JOB_SPECS: tuple[MetricSpec, ...] = (INFO, LAST_STATUS, LAST_START, LAST_END, LAST_DURATION)
MOVING_SPECS: tuple[MetricSpec, ...] = (LAST_DURATION,)
HISTORY = HistoryFamilies(RUNS, RUN_DURATION)
HISTORY_SPECS: tuple[MetricSpec, ...] = HISTORY.specs
