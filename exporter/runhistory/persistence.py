"""The run counters and histograms as state-file data, and back (the marks are each source's own).

The format is version 1 of the state file: per run kind, ``<prefix>_runs`` (``[labels + status, count]``),
``<prefix>_durations`` (``[labels + duration class, counts, sum]``) and, for kinds with queue times,
``<prefix>_queued`` (``[labels, counts, sum]``), beside the bucket bounds they were counted with and
``duration_split`` (absent in files written before it existed: their durations are split by status).
Histograms saved with a finer split are merged into the configured one, exactly; with a split that
cannot be merged (or other buckets) histograms and counters start from zero, as they must tell one story.
Empty histograms are not restored: a histogram appears with the first run it counts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from exporter.runhistory.counts import Histogram, Labels, RunCounts, RunKind, RunTables, coarser, duration_class
from exporter.statefile import check, count, exactly, finite, items, labels, list_of

log = logging.getLogger(__name__)

STATE_VERSION = 1


def tables_to_state(counts: RunCounts) -> dict[str, Any]:
    """The counters and histograms of every kind, JSON-ready (the caller holds ``counts.lock``)."""
    state: dict[str, Any] = {"buckets": list(counts.buckets), "queued_buckets": list(counts.queued_buckets),
                             "duration_split": counts.split}
    for name, kind in counts.kinds.items():
        table = counts.tables[name]
        state[f"{kind.state_prefix}_runs"] = [[list(key), value] for key, value in table.runs.items()]
        state[f"{kind.state_prefix}_durations"] = _histograms_to_state(table.durations)
        if kind.queued:
            state[f"{kind.state_prefix}_queued"] = _histograms_to_state(table.queued)
    return state


def tables_from_state(counts: RunCounts, state: Mapping[str, Any], *, say_resets: bool = True) -> dict[str, RunTables]:
    """Every kind's tables from saved data; histograms (and so counters, to keep telling the same story)
    start from zero when the bucket bounds changed since, which is logged unless ``say_resets`` is False (a
    trial read that is not taken over). Raises ValueError if the data does not fit."""
    bounds = {key: tuple(list_of(state.get(key, []), key, finite)) for key in ("buckets", "queued_buckets")}
    saved_split = str(state.get("duration_split", "status"))
    same_buckets = bounds["buckets"] == counts.buckets and bounds["queued_buckets"] == counts.queued_buckets
    keep = same_buckets and coarser(saved_split, counts.split)
    tables = {name: _tables(kind, state, counts, keep, saved_split) for name, kind in counts.kinds.items()}
    if say_resets and not same_buckets:
        log.warning("histogram buckets changed since the state was saved; histograms and run counters start "
                    "from zero")
    elif say_resets and not keep:
        log.warning("run durations were split by %s when the state was saved, now by %s; histograms and run "
                    "counters start from zero", saved_split, counts.split)
    return tables


def _tables(kind: RunKind, state: Mapping[str, Any], counts: RunCounts, keep: bool, saved_split: str) -> RunTables:
    """One kind's tables; a kind the file has no tables of (a source added since) starts empty. Histograms
    saved with a finer duration split are merged into the current one."""
    prefix = kind.state_prefix
    runs = _counts(state.get(f"{prefix}_runs", []), f"{prefix}_runs", kind.label_count + 1)
    saved = _histograms(state.get(f"{prefix}_durations", []), f"{prefix}_durations", kind.label_count + 1,
                        counts.buckets, keep)
    queued = (_histograms(state.get(f"{prefix}_queued", []), f"{prefix}_queued", kind.label_count,
                          counts.queued_buckets, keep) if kind.queued else {})
    if not keep:
        return RunTables(dict.fromkeys(runs, 0), {}, {})
    durations: dict[Labels, Histogram] = {}
    for key, histogram in saved.items():
        name = key[-1] if saved_split == counts.split else "" if counts.split == "none" else duration_class(
            counts.split, key[-1])
        merged = durations.get((*key[:-1], name))
        if merged is None:
            durations[(*key[:-1], name)] = histogram
        else:
            merged.merge(histogram)
    return RunTables(runs, _observed(durations), _observed(queued))


def _observed(table: dict[Labels, Histogram]) -> dict[Labels, Histogram]:
    """The histograms with observations (older versions saved one per status from the start)."""
    return {key: histogram for key, histogram in table.items() if histogram.count}


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
