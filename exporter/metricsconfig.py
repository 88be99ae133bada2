"""The ``metrics:`` section: which families /metrics serves and how finely the run durations are split.

Series are the main cost of the exporter for whoever runs Prometheus, so the defaults keep a job with run
history within 40 series (docs/metrics.md has the arithmetic); these settings trade series for detail.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.runhistory.counts import DEFAULT_DURATION_SPLIT, DURATION_SPLITS
from exporter.validation import Checker, integer

METRICS_KEYS = ("run_duration_by", "disabled", "max_series")
# Far above a healthy tenant (25,000 build jobs are at most ~1 M series), far below what takes the memory
# (about 1 KiB per series): a hostile or runaway tenant stops here, counted in
# codearts_exporter_series_dropped_total.
DEFAULT_MAX_SERIES = 2_000_000
MAX_SERIES_RANGE = (1_000, 100_000_000)
# Families /metrics cannot do without: the health of every target and the poller's heartbeat.
REQUIRED_FAMILIES = ("codearts_up", "codearts_poller_last_cycle_timestamp_seconds")


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``run_duration_by``: outcome (``success``/``failure``), status, or none; ``disabled``: family names
    not served (their series are not rendered; run history still counts, so turning one on again is exact);
    ``max_series``: the cap on the series served."""

    run_duration_by: str = DEFAULT_DURATION_SPLIT
    disabled: frozenset[str] = frozenset()
    max_series: int = DEFAULT_MAX_SERIES  # series /metrics serves at most (the exporter's own always fit)


def parse_metrics(check: Checker, raw: object, families: tuple[str, ...]) -> MetricsConfig | None:
    """Read the ``metrics:`` section; ``families`` are the names it may disable (every family served)."""
    section = check.section("metrics", raw, METRICS_KEYS)
    if section is None:
        return None
    before = len(check.problems)
    split = DEFAULT_DURATION_SPLIT
    if "run_duration_by" in section:
        got = check.scalar("metrics.run_duration_by", section["run_duration_by"])
        if got is not None and got.value not in DURATION_SPLITS:
            check.add("metrics.run_duration_by", f"expected one of {', '.join(DURATION_SPLITS)}, got {got.shown}")
        elif got is not None:
            split = str(got.value)
    disabled = set()
    for index, item in enumerate(check.items("metrics.disabled", section.get("disabled")) or ()):
        path = f"metrics.disabled[{index}]"
        got = check.scalar(path, item)
        if got is None:
            continue
        name = str(got.value).removesuffix("_total") if isinstance(got.value, str) else None
        if name in REQUIRED_FAMILIES:
            check.add(path, f"{got.shown} cannot be disabled")
        elif name not in families:
            check.add(path, f"expected the name of a family the exporter serves (see docs/metrics.md), got "
                            f"{got.shown}")
        else:
            disabled.add(name)
    max_series = integer(check, "metrics.max_series", section.get("max_series"), *MAX_SERIES_RANGE,
                         default=DEFAULT_MAX_SERIES)
    if len(check.problems) > before or max_series is None:
        return None
    return MetricsConfig(split, frozenset(disabled), max_series)
