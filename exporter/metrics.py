"""Every metric the exporter serves: name, type, help text and labels, in one table.

Each source declares its own families the same way (``exporter/sources/*/metrics.py``); renderers build
families only from specs, and docs/metrics.md is checked against all of them by a test, so a metric cannot
be added, renamed or relabelled in one place and forgotten in another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

MetricType = Literal["gauge", "counter", "histogram"]
# When a family is rendered: with each snapshot (cached until the next), or on every scrape (the self counters
# that move between snapshots; they go last in the body, in table order).
RenderPhase = Literal["snapshot", "scrape"]

TARGET_LABELS = ("api", "target")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric family as served on /metrics (``name`` without a counter's ``_total``)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    group: str
    phase: RenderPhase = "snapshot"

    @property
    def sample_name(self) -> str:
        """The name samples carry in the text format."""
        return self.name + "_total" if self.type == "counter" else self.name


def metric_spec(name: str, kind: MetricType, help_text: str, labels: tuple[str, ...], group: str,
                phase: RenderPhase = "snapshot") -> MetricSpec:
    """A family declaration (``name`` without a counter's ``_total``); ``phase``: when it is rendered."""
    return MetricSpec(name, kind, help_text, labels, group, phase)


# The exporter's view of its targets.
UP = metric_spec(
    "codearts_up", "gauge",
    "1 if the last poll of a target succeeded, else 0.", TARGET_LABELS, "exporter")
LAST_SUCCESS = metric_spec(
    "codearts_last_success_timestamp_seconds", "gauge",
    "Unix time of the last successful poll of a target.", TARGET_LABELS, "exporter")
HISTORY_UP = metric_spec(
    "codearts_history_up", "gauge",
    "1 if the run history of a target is fetched without error, 0 while fetching the runs of one of its jobs "
    "keeps failing (such as a run list denied with an error code in an HTTP 200 answer): its listing may be up "
    "(codearts_up 1) while its runs are not counted. Present with history.enabled.",
    TARGET_LABELS, "history")
POLL_DURATION = metric_spec(
    "codearts_poll_duration_seconds", "gauge",
    "Seconds the last poll of a target took.", TARGET_LABELS, "exporter")
API_REQUESTS = metric_spec(
    "codearts_api_requests", "counter",
    "Requests sent to CodeArts, by API and HTTP status code (\"error\" when no response came).",
    ("api", "code"), "exporter", "scrape")
RECORDS_SKIPPED = metric_spec(
    "codearts_records_skipped", "counter",
    "Records in CodeArts responses that could not be parsed and were skipped.",
    ("api", "reason"), "exporter", "scrape")
AUTH_TOKEN_EXPIRY = metric_spec(
    "codearts_auth_token_expiry_timestamp_seconds", "gauge",
    "Unix time the IAM token in use expires (password auth only; absent until a token is obtained).",
    (), "exporter", "scrape")
API_RETRIES = metric_spec(
    "codearts_api_retries", "counter",
    "Requests to CodeArts sent again after a failure worth retrying, by API and reason (throttled, "
    "http_502, http_503, http_504, transport).",
    ("api", "reason"), "exporter", "scrape")
API_THROTTLED = metric_spec(
    "codearts_api_throttled", "counter",
    "Responses in which CodeArts throttled the exporter (HTTP 429).",
    ("api",), "exporter", "scrape")
RATE_LIMIT_WAIT = metric_spec(
    "codearts_rate_limit_wait_seconds", "counter",
    "Seconds requests waited for the exporter's own per-API rate limit (poll.rate_limit).",
    ("api",), "exporter", "scrape")
POLLER_LAST_CYCLE = metric_spec(
    "codearts_poller_last_cycle_timestamp_seconds", "gauge",
    "Unix time the poller last finished a cycle over its targets (a heartbeat: it advances every "
    "interval, whatever the targets answered).",
    (), "exporter")
POLLER_CYCLE_DURATION = metric_spec(
    "codearts_poller_cycle_duration_seconds", "gauge",
    "Seconds the poller's last cycle took, until its snapshot was ready (listings, run history, and the "
    "first discovery pass; later passes run beside the cycles); above poll.interval_seconds the next cycle "
    "starts late.",
    (), "exporter")
STATE_WRITE_FAILURES = metric_spec(
    "codearts_state_write_failures", "counter",
    "Times the state file (state.path) could not be written after a poll cycle; run counts since the last "
    "good write are lost on a restart (present only with state.path).",
    (), "exporter", "scrape")
CONFIG_RELOAD_SUCCESS = metric_spec(
    "codearts_config_last_reload_successful", "gauge",
    "1 if the last attempt to load the configuration file (at start, SIGHUP or POST /-/reload) succeeded, 0 "
    "if it was refused and the previous configuration kept running (Prometheus' own name).",
    (), "exporter", "scrape")
CONFIG_RELOAD_TIME = metric_spec(
    "codearts_config_last_reload_success_timestamp_seconds", "gauge",
    "Unix time the running configuration was loaded (at start, or by the last successful reload).",
    (), "exporter", "scrape")
POLLER_CYCLE_REQUESTS = metric_spec(
    "codearts_poller_cycle_requests", "gauge",
    "Requests the poller's last cycle sent to an API (listings, run history and retries): what the "
    "configuration needs per cycle, to compare with codearts_rate_limit_budget_requests.",
    ("api",), "exporter")
RATE_LIMIT_BUDGET = metric_spec(
    "codearts_rate_limit_budget_requests", "gauge",
    "Requests poll.rate_limit allows an API in one poll.interval_seconds; when a cycle needs more, cycles "
    "stretch (every target is still polled, the stalest first).",
    ("api",), "exporter")
DISCOVERY_UP = metric_spec(
    "codearts_discovery_up", "gauge",
    "1 if the last discovery of a source succeeded, else 0 (a failed source keeps what it found before): "
    "a project's repositories (source=project) or a repository's merge request pipelines (source=repository).",
    ("source", "id"), "exporter")
DISCOVERY_LAST_SUCCESS = metric_spec(
    "codearts_discovery_last_success_timestamp_seconds", "gauge",
    "Unix time of the last successful discovery of a source (absent until one succeeds).",
    ("source", "id"), "exporter")
DISCOVERY_TARGETS = metric_spec(
    "codearts_discovery_targets", "gauge",
    "What a source's discovery holds now: repositories matched in a project (source=project), or pipelines "
    "watched in a repository (source=repository).",
    ("source", "id"), "exporter")
DISCOVERY_PASS_DURATION = metric_spec(
    "codearts_discovery_pass_duration_seconds", "gauge",
    "Seconds the last finished discovery pass took over all its sources (absent until one finished); above "
    "discovery.interval_seconds the next pass is skipped.",
    (), "exporter")
SERIES = metric_spec(
    "codearts_exporter_series", "gauge",
    "Series the last rendered snapshot serves per family (this family and the per-scrape self counters "
    "excluded): what each family costs the Prometheus that scrapes it.",
    ("family",), "exporter")
SERIES_DROPPED = metric_spec(
    "codearts_exporter_series_dropped", "counter",
    "Series refused because the exposition already held metrics.max_series, by family, summed over every "
    "snapshot rendered (while it grows, some series are missing from /metrics).",
    ("family",), "exporter", "scrape")
ASSUMPTION_FAILURES = metric_spec(
    "codearts_api_assumption_failures", "counter",
    "Targets whose CodeArts answers contradicted an assumption about undocumented behaviour (each target "
    "counted once per assumption; see docs/reliability.md for what each means and the fallback taken).",
    ("api", "assumption"), "exporter", "scrape")
BUILD_INFO = metric_spec(
    "codearts_exporter_build_info", "gauge",
    "Always 1; the version of the running exporter.", ("version",), "exporter")
SHARD = metric_spec(
    "codearts_exporter_shard", "gauge",
    "Always 1; the 0-based shard this replica is (--shard, or the pod ordinal with --shard.from-hostname).",
    ("shard",), "exporter", "scrape")
TOTAL_SHARDS = metric_spec(
    "codearts_exporter_total_shards", "gauge",
    "Number of shards the targets are split across (--total-shards); 1 when unsharded.", (), "exporter", "scrape")

CORE_SPECS: tuple[MetricSpec, ...] = (
    UP, LAST_SUCCESS, HISTORY_UP, POLL_DURATION, API_REQUESTS, RECORDS_SKIPPED, API_RETRIES, API_THROTTLED,
    RATE_LIMIT_WAIT, POLLER_LAST_CYCLE, POLLER_CYCLE_DURATION, POLLER_CYCLE_REQUESTS, RATE_LIMIT_BUDGET,
    AUTH_TOKEN_EXPIRY, DISCOVERY_UP, DISCOVERY_LAST_SUCCESS, DISCOVERY_TARGETS, DISCOVERY_PASS_DURATION, SERIES,
    BUILD_INFO, SHARD, TOTAL_SHARDS, STATE_WRITE_FAILURES, SERIES_DROPPED, ASSUMPTION_FAILURES, CONFIG_RELOAD_SUCCESS,
    CONFIG_RELOAD_TIME,
)
"""The exporter's own families, rendered after every source's (see
:meth:`exporter.sourcetable.SourceTable.specs`); the per-scrape ones in this order at the end of the body."""


def throttled_spec(throttling: Sequence[str]) -> MetricSpec:
    """The throttle counter, its help naming how each API throttles besides HTTP 429 (each source's
    ``throttling``)."""
    ways = "".join(f", or {way}" for way in throttling)
    return replace(API_THROTTLED, help=f"Responses in which CodeArts throttled the exporter (HTTP 429{ways}).")


def markdown_table(specs: Sequence[MetricSpec]) -> str:
    """The metrics reference table of docs/metrics.md, generated from the specs."""
    lines = ["| Metric | Type | Labels | Meaning |", "|---|---|---|---|"]
    for spec in specs:
        labels = ", ".join(f"`{label}`" for label in spec.labels)
        lines.append(f"| `{spec.sample_name}` | {spec.type} | {labels} | {spec.help.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
