"""Every metric the exporter serves: name, type, help text and labels, in one table.

The collector builds families only from these specs, and docs/metrics.md is checked against them by a
test, so a metric cannot be added, renamed or relabelled in one place and forgotten in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "histogram"]

PIPELINE_LABELS = ("repository_id", "pipeline_id", "stage", "job")
BUILD_LABELS = ("project_id", "job_id", "job")
TARGET_LABELS = ("api", "target")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric family as served on /metrics (``name`` without a counter's ``_total``)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    group: str

    @property
    def sample_name(self) -> str:
        """The name samples carry in the text format."""
        return self.name + "_total" if self.type == "counter" else self.name


def _spec(name: str, kind: MetricType, help_text: str, labels: tuple[str, ...], group: str) -> MetricSpec:
    return MetricSpec(name, kind, help_text, labels, group)


# Pipeline jobs (CodeArts Repo).
PIPELINE_JOB_STATUS = _spec(
    "codearts_repo_pipeline_job_status", "gauge",
    "1 for the current status of a pipeline job (pending, running, success, failed, canceled, skipped, "
    "timedout, unknown).",
    (*PIPELINE_LABELS, "status"), "pipeline")
PIPELINE_JOB_DURATION = _spec(
    "codearts_repo_pipeline_job_duration_seconds", "gauge",
    "Seconds from start to finish of a pipeline job; for a running job, from start to the poll.",
    PIPELINE_LABELS, "pipeline")
PIPELINE_JOB_QUEUED = _spec(
    "codearts_repo_pipeline_job_queued_seconds", "gauge",
    "Seconds a pipeline job waited between creation and start.",
    PIPELINE_LABELS, "pipeline")
PIPELINE_JOB_CREATED = _spec(
    "codearts_repo_pipeline_job_created_timestamp_seconds", "gauge",
    "Unix time a pipeline job was created.", PIPELINE_LABELS, "pipeline")
PIPELINE_JOB_STARTED = _spec(
    "codearts_repo_pipeline_job_started_timestamp_seconds", "gauge",
    "Unix time a pipeline job started.", PIPELINE_LABELS, "pipeline")
PIPELINE_JOB_FINISHED = _spec(
    "codearts_repo_pipeline_job_finished_timestamp_seconds", "gauge",
    "Unix time a pipeline job finished.", PIPELINE_LABELS, "pipeline")
PIPELINE_JOB_INFO = _spec(
    "codearts_repo_pipeline_job_info", "gauge",
    "Always 1; identifies the job id, branch and commit of a pipeline job.",
    (*PIPELINE_LABELS, "job_id", "ref", "sha"), "pipeline")
PIPELINE_JOBS = _spec(
    "codearts_repo_pipeline_jobs", "gauge",
    "Number of jobs of a pipeline in each status.",
    ("repository_id", "pipeline_id", "status"), "pipeline")

# Build jobs (CodeArts Build).
BUILD_JOB_STATUS = _spec(
    "codearts_build_job_status", "gauge",
    "1 for the last build status of a build job (success, failed, timedout, aborted, running, none, "
    "unknown).",
    (*BUILD_LABELS, "status"), "build")
BUILD_JOB_HEALTH = _spec(
    "codearts_build_job_health_score", "gauge",
    "Health score of a build job, 0 to 100, as CodeArts reports it.", BUILD_LABELS, "build")
BUILD_JOB_LAST_BUILD = _spec(
    "codearts_build_job_last_build_timestamp_seconds", "gauge",
    "Unix time the last build of a build job ran.", BUILD_LABELS, "build")
BUILD_JOB_LAST_DURATION = _spec(
    "codearts_build_job_last_build_duration_seconds", "gauge",
    "Duration of the last build of a build job.", BUILD_LABELS, "build")
BUILD_JOB_RUNNING = _spec(
    "codearts_build_job_running", "gauge",
    "1 if a build of the job is running now, else 0.", BUILD_LABELS, "build")
BUILD_JOB_DISABLED = _spec(
    "codearts_build_job_disabled", "gauge",
    "1 if the build job is disabled, else 0.", BUILD_LABELS, "build")
BUILD_JOB_INFO = _spec(
    "codearts_build_job_info", "gauge",
    "Always 1; identifies the branch, source and trigger of a build job's last build.",
    (*BUILD_LABELS, "branch", "scm_type", "trigger_type", "build_type", "repository_id"), "build")
BUILD_JOBS = _spec(
    "codearts_build_jobs", "gauge",
    "Number of build jobs of a project in each status.", ("project_id", "status"), "build")

# Run history: each finished run counted once.
PIPELINE_JOB_RUNS = _spec(
    "codearts_repo_pipeline_job_runs", "counter",
    "Pipeline job runs that reached a terminal status (success, failed, canceled, skipped, timedout), "
    "each counted once.",
    (*PIPELINE_LABELS, "status"), "history")
PIPELINE_JOB_RUN_DURATION = _spec(
    "codearts_repo_pipeline_job_run_duration_seconds", "histogram",
    "Seconds finished pipeline job runs ran (0 for a job that never started).",
    (*PIPELINE_LABELS, "status"), "history")
BUILD_RUNS = _spec(
    "codearts_build_runs", "counter",
    "Finished runs of a build job (success, failed, timedout, aborted), each counted once.",
    (*BUILD_LABELS, "status"), "history")
BUILD_RUN_DURATION = _spec(
    "codearts_build_run_duration_seconds", "histogram",
    "Seconds finished build runs ran, queue time excluded.",
    (*BUILD_LABELS, "status"), "history")
BUILD_RUN_QUEUED = _spec(
    "codearts_build_run_queued_seconds", "histogram",
    "Seconds finished build runs waited in the queue (where the records API reports it).",
    BUILD_LABELS, "history")

# The exporter's view of its targets.
UP = _spec(
    "codearts_up", "gauge",
    "1 if the last poll of a target succeeded, else 0.", TARGET_LABELS, "exporter")
LAST_SUCCESS = _spec(
    "codearts_last_success_timestamp_seconds", "gauge",
    "Unix time of the last successful poll of a target.", TARGET_LABELS, "exporter")
POLL_DURATION = _spec(
    "codearts_poll_duration_seconds", "gauge",
    "Seconds the last poll of a target took.", TARGET_LABELS, "exporter")
API_REQUESTS = _spec(
    "codearts_api_requests", "counter",
    "Requests sent to CodeArts, by API and HTTP status code (\"error\" when no response came).",
    ("api", "code"), "exporter")
RECORDS_SKIPPED = _spec(
    "codearts_records_skipped", "counter",
    "Records in CodeArts responses that could not be parsed and were skipped.",
    ("api", "reason"), "exporter")
AUTH_TOKEN_EXPIRY = _spec(
    "codearts_auth_token_expiry_timestamp_seconds", "gauge",
    "Unix time the IAM token in use expires (password auth only; absent until a token is obtained).",
    (), "exporter")
API_RETRIES = _spec(
    "codearts_api_retries", "counter",
    "Requests to CodeArts sent again after a failure worth retrying, by API and reason (throttled, "
    "http_502, http_503, http_504, transport).",
    ("api", "reason"), "exporter")
API_THROTTLED = _spec(
    "codearts_api_throttled", "counter",
    "Responses in which CodeArts throttled the exporter (HTTP 429, or Build's HTTP 500 CB.00060211).",
    ("api",), "exporter")
RATE_LIMIT_WAIT = _spec(
    "codearts_rate_limit_wait_seconds", "counter",
    "Seconds requests waited for the exporter's own per-API rate limit (poll.rate_limit).",
    ("api",), "exporter")
POLLER_LAST_CYCLE = _spec(
    "codearts_poller_last_cycle_timestamp_seconds", "gauge",
    "Unix time the poller last finished a cycle over its targets (a heartbeat: it advances every "
    "interval, whatever the targets answered).",
    (), "exporter")
POLLER_CYCLE_DURATION = _spec(
    "codearts_poller_cycle_duration_seconds", "gauge",
    "Seconds the poller's last cycle took, until its snapshot was ready (listings, run history, and the "
    "first discovery pass; later passes run beside the cycles); above poll.interval_seconds the next cycle "
    "starts late.",
    (), "exporter")
STATE_WRITE_FAILURES = _spec(
    "codearts_state_write_failures", "counter",
    "Times the state file (state.path) could not be written after a poll cycle; run counts since the last "
    "good write are lost on a restart (present only with state.path).",
    (), "exporter")
DISCOVERY_UP = _spec(
    "codearts_discovery_up", "gauge",
    "1 if the last discovery of a source succeeded, else 0 (a failed source keeps what it found before): "
    "a project's repositories (source=project) or a repository's merge request pipelines (source=repository).",
    ("source", "id"), "exporter")
DISCOVERY_LAST_SUCCESS = _spec(
    "codearts_discovery_last_success_timestamp_seconds", "gauge",
    "Unix time of the last successful discovery of a source (absent until one succeeds).",
    ("source", "id"), "exporter")
DISCOVERY_TARGETS = _spec(
    "codearts_discovery_targets", "gauge",
    "What a source's discovery holds now: repositories matched in a project (source=project), or pipelines "
    "watched in a repository (source=repository).",
    ("source", "id"), "exporter")
DISCOVERY_PASS_DURATION = _spec(
    "codearts_discovery_pass_duration_seconds", "gauge",
    "Seconds the last finished discovery pass took over all its sources (absent until one finished); above "
    "discovery.interval_seconds the next pass is skipped.",
    (), "exporter")
BUILD_INFO = _spec(
    "codearts_exporter_build_info", "gauge",
    "Always 1; the version of the running exporter.", ("version",), "exporter")
SHARD = _spec(
    "codearts_exporter_shard", "gauge",
    "Always 1; the 0-based shard this replica is (--shard, or the pod ordinal with --shard.from-hostname).",
    ("shard",), "exporter")
TOTAL_SHARDS = _spec(
    "codearts_exporter_total_shards", "gauge",
    "Number of shards the targets are split across (--total-shards); 1 when unsharded.", (), "exporter")

ALL_METRICS: tuple[MetricSpec, ...] = (
    PIPELINE_JOB_STATUS, PIPELINE_JOB_DURATION, PIPELINE_JOB_QUEUED, PIPELINE_JOB_CREATED,
    PIPELINE_JOB_STARTED, PIPELINE_JOB_FINISHED, PIPELINE_JOB_INFO, PIPELINE_JOBS,
    BUILD_JOB_STATUS, BUILD_JOB_HEALTH, BUILD_JOB_LAST_BUILD, BUILD_JOB_LAST_DURATION,
    BUILD_JOB_RUNNING, BUILD_JOB_DISABLED, BUILD_JOB_INFO, BUILD_JOBS,
    PIPELINE_JOB_RUNS, PIPELINE_JOB_RUN_DURATION, BUILD_RUNS, BUILD_RUN_DURATION, BUILD_RUN_QUEUED,
    UP, LAST_SUCCESS, POLL_DURATION, API_REQUESTS, RECORDS_SKIPPED, API_RETRIES, API_THROTTLED,
    RATE_LIMIT_WAIT, POLLER_LAST_CYCLE, POLLER_CYCLE_DURATION, STATE_WRITE_FAILURES, AUTH_TOKEN_EXPIRY, DISCOVERY_UP,
    DISCOVERY_LAST_SUCCESS,
    DISCOVERY_TARGETS, DISCOVERY_PASS_DURATION, BUILD_INFO, SHARD, TOTAL_SHARDS,
)


def markdown_table(specs: tuple[MetricSpec, ...] = ALL_METRICS) -> str:
    """The metrics reference table of docs/metrics.md, generated from the specs."""
    lines = ["| Metric | Type | Labels | Meaning |", "|---|---|---|---|"]
    for spec in specs:
        labels = ", ".join(f"`{label}`" for label in spec.labels)
        lines.append(f"| `{spec.sample_name}` | {spec.type} | {labels} | {spec.help.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m exporter.metrics > table.md
    import sys

    sys.stdout.write(markdown_table())
