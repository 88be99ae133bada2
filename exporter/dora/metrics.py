"""The DORA families: deployments counted once, lead time and recovery histograms, commit lookups."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric_spec

SERVICE_LABELS = ("service", "environment")
# A deployment's status (codearts_dora_deployments_total); every one is at zero from the start.
STATUSES: tuple[str, ...] = ("success", "failed", "timedout", "aborted", "canceled")
FAILURES: tuple[str, ...] = ("failed", "timedout")  # what opens or extends a failure streak
LOOKUP_RESULTS: tuple[str, ...] = ("hit", "cached", "miss", "error")
# Why a successful deployment has no lead time (codearts_dora_lead_time_skipped_total).
SKIP_REASONS: tuple[str, ...] = ("no_commit", "commit_unknown", "not_before_deployment", "no_build_before")

DEPLOYMENTS = metric_spec(
    "codearts_dora_deployments", "counter",
    "Deployments of a DORA service (success, failed, timedout, aborted, canceled), each counted once when first "
    "seen finished.",
    (*SERVICE_LABELS, "status"), "dora")
LEAD_TIME = metric_spec(
    "codearts_dora_change_lead_time_seconds", "histogram",
    "Seconds from the commit time of a successful deployment's head commit to the deployment's end.",
    SERVICE_LABELS, "dora")
RECOVERY = metric_spec(
    "codearts_dora_failed_deployment_recovery_seconds", "histogram",
    "Seconds from the end of the first failed deployment of a streak to the end of the successful deployment "
    "that closed it.",
    SERVICE_LABELS, "dora")
LAST_DEPLOYMENT = metric_spec(
    "codearts_dora_last_deployment_timestamp_seconds", "gauge",
    "Unix time the last successful deployment of a service ended (absent until one was counted).",
    SERVICE_LABELS, "dora")
LEAD_TIME_SKIPPED = metric_spec(
    "codearts_dora_lead_time_skipped", "counter",
    "Successful deployments without a lead time, by reason (no_commit: the run names none; commit_unknown: "
    "CodeArts Repo (or the build record) does not know it; not_before_deployment: its commit time is not before the "
    "deployment's end; no_build_before: commits_from_build_job has no successful record that finished before the "
    "deployment started).",
    ("reason",), "dora")
COMMIT_LOOKUPS = metric_spec(
    "codearts_dora_commit_lookups", "counter",
    "Commit times asked for (hit: read from CodeArts Repo, or a Build record; cached: known already; miss: Repo "
    "does not know the commit, or the record names none; error: the request failed, asked again in a later cycle).",
    ("result",), "dora")

SPECS: tuple[MetricSpec, ...] = (DEPLOYMENTS, LEAD_TIME, RECOVERY, LAST_DEPLOYMENT, LEAD_TIME_SKIPPED, COMMIT_LOOKUPS)
