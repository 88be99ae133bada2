"""The run counters and histograms as state-file data, and back (the marks are each source's own).

The format is version 1 of the state file: per run kind, ``<prefix>_runs`` (``[labels + status, count]``),
``<prefix>_durations`` and, for kinds with queue times, ``<prefix>_queued`` (``[labels, counts, sum]``),
beside the bucket bounds they were counted with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from exporter.runhistory.counts import Histogram, Labels, RunCounts, RunKind, RunTables
from exporter.statefile import check, count, exactly, finite, items, labels, list_of

log = logging.getLogger(__name__)

STATE_VERSION = 1


def tables_to_state(counts: RunCounts) -> dict[str, Any]:
    """The counters and histograms of every kind, JSON-ready (the caller holds ``counts.lock``)."""
    state: dict[str, Any] = {"buckets": list(counts.buckets), "queued_buckets": list(counts.queued_buckets)}
    for name, kind in counts.kinds.items():
        table = counts.tables[name]
        state[f"{kind.state_prefix}_runs"] = [[list(key), value] for key, value in table.runs.items()]
        state[f"{kind.state_prefix}_durations"] = _histograms_to_state(table.durations)
        if kind.queued:
            state[f"{kind.state_prefix}_queued"] = _histograms_to_state(table.queued)
    return state


def tables_from_state(counts: RunCounts, state: Mapping[str, Any]) -> dict[str, RunTables]:
    """Every kind's tables from saved data; histograms (and so counters, to keep telling the same story)
    start from zero when the bucket bounds changed since. Raises ValueError if the data does not fit."""
    bounds = {key: tuple(list_of(state.get(key, []), key, finite)) for key in ("buckets", "queued_buckets")}
    same_buckets = bounds["buckets"] == counts.buckets and bounds["queued_buckets"] == counts.queued_buckets
    tables = {name: _tables(kind, state, counts, same_buckets) for name, kind in counts.kinds.items()}
    if not same_buckets:
        log.warning("histogram buckets changed since the state was saved; histograms start from zero")
    return tables


def _tables(kind: RunKind, state: Mapping[str, Any], counts: RunCounts, same_buckets: bool) -> RunTables:
    """One kind's tables; a kind the file has no tables of (a source added since) starts empty."""
    prefix = kind.state_prefix
    runs = _counts(state.get(f"{prefix}_runs", []), f"{prefix}_runs", kind.label_count + 1)
    durations = _histograms(state.get(f"{prefix}_durations", []), f"{prefix}_durations", kind.label_count + 1,
                            counts.buckets, same_buckets)
    queued = (_histograms(state.get(f"{prefix}_queued", []), f"{prefix}_queued", kind.label_count,
                          counts.queued_buckets, same_buckets) if kind.queued else {})
    if not same_buckets:
        return RunTables(dict.fromkeys(runs, 0), {}, {})
    return RunTables(runs, durations, queued)


def _histograms_to_state(table: Mapping[Labels, Histogram]) -> list[Any]:
    return [[list(key), hist.counts, hist.sum] for key, hist in table.items()]


def _counts(rows: Any, where: str, size: int) -> dict[Labels, int]:
    """A counter table: ``[labels + status, count]`` rows, each label list of ``size`` strings."""
    table: dict[Labels, int] = {}
    for index, row in enumerate(items(rows, where)):
        key, value = exactly(row, f"{where}[{index}]", 2)
        found = labels(key, f"{where}[{index}][0]", size)
        check(value, f"{where}[{index}][1]", count)
        table[tuple(found)] = value
    return table


def _histograms(rows: Any, where: str, size: int, bounds: tuple[float, ...], same_buckets: bool
                ) -> dict[Labels, Histogram]:
    """A histogram table: ``[labels, counts per bucket, sum]`` rows (counts checked against ``bounds`` only
    when the file was written with them)."""
    table: dict[Labels, Histogram] = {}
    for index, row in enumerate(items(rows, where)):
        key, counts, total = exactly(row, f"{where}[{index}]", 3)
        found = labels(key, f"{where}[{index}][0]", size)
        slots = list_of(counts, f"{where}[{index}][1]", count)
        check(total, f"{where}[{index}][2]", lambda value: finite(value) and value >= 0)
        if same_buckets:
            exactly(slots, f"{where}[{index}][1]", len(bounds) + 1)
            table[tuple(found)] = Histogram(list(slots), float(total))
    return table
