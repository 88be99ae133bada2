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
from collections.abc import Iterable, Mapping
from typing import Any

from exporter.runhistory.counts import Histogram, Labels, RunCounts, RunKind, RunTables, coarser, duration_class

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


def tables_from_state(counts: RunCounts, state: Mapping[str, Any]) -> dict[str, RunTables]:
    """Every kind's tables from saved data; histograms (and so counters, to keep telling the same story)
    start from zero when the bucket bounds changed since. Raises ValueError if the data does not fit."""
    saved_split = str(state.get("duration_split", "status"))
    same_buckets = (tuple(state.get("buckets", ())) == counts.buckets
                    and tuple(state.get("queued_buckets", ())) == counts.queued_buckets)
    if not same_buckets:
        log.warning("histogram buckets changed since the state was saved; histograms and run counters start "
                    "from zero")
    elif not coarser(saved_split, counts.split):
        log.warning("run durations were split by %s when the state was saved, now by %s; histograms and run "
                    "counters start from zero", saved_split, counts.split)
    keep = same_buckets and coarser(saved_split, counts.split)
    return {name: _tables(kind, state, counts, keep, saved_split) for name, kind in counts.kinds.items()}


def _tables(kind: RunKind, state: Mapping[str, Any], counts: RunCounts, keep: bool, saved_split: str) -> RunTables:
    runs = _counts(state[f"{kind.state_prefix}_runs"], kind.label_count + 1)
    if not keep:
        return RunTables(dict.fromkeys(runs, 0), {}, {})
    durations: dict[Labels, Histogram] = {}
    for key, histogram in _histograms(state[f"{kind.state_prefix}_durations"], counts.buckets).items():
        name = key[-1] if saved_split == counts.split else "" if counts.split == "none" else duration_class(
            counts.split, key[-1])
        merged = durations.get((*key[:-1], name))
        if merged is None:
            durations[(*key[:-1], name)] = histogram
        else:
            merged.merge(histogram)
    queued = _histograms(state[f"{kind.state_prefix}_queued"], counts.queued_buckets) if kind.queued else {}
    return RunTables(runs, _observed(durations), _observed(queued))


def _observed(table: dict[Labels, Histogram]) -> dict[Labels, Histogram]:
    """The histograms with observations (older versions saved one per status from the start)."""
    return {key: histogram for key, histogram in table.items() if histogram.count}


def _histograms_to_state(table: Mapping[Labels, Histogram]) -> list[Any]:
    return [[list(key), hist.counts, hist.sum] for key, hist in table.items()]


def _counts(items: Iterable[Any], size: int) -> dict[Labels, int]:
    """A counter table from a state file; every key has ``size`` label values (status last)."""
    table: dict[Labels, int] = {}
    for key, value in items:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"bad counter value {value!r}")
        if len(key) != size:
            raise ValueError(f"a counter has {len(key)} label values, expected {size}")
        table[tuple(str(part) for part in key)] = value
    return table


def _histograms(items: Iterable[Any], bounds: tuple[float, ...]) -> dict[Labels, Histogram]:
    table: dict[Labels, Histogram] = {}
    for key, counts, total in items:
        if len(counts) != len(bounds) + 1 or not all(isinstance(n, int) and n >= 0 for n in counts):
            raise ValueError("bad histogram counts")
        table[tuple(str(part) for part in key)] = Histogram([int(n) for n in counts], float(total))
    return table
