"""Checks shared by the run-history tests of the numbered sources: counters and outcome histograms served
equal to the runs a World finished (runs, their seconds and those of at most 60 s, per labels and status)."""

from __future__ import annotations

from collections import Counter

import pytest


def labelled(found: dict, name: str, order: tuple[str, ...]) -> dict[tuple, float]:
    """The samples of ``name``, keyed by their label values in ``order`` (labels a sample lacks left out)."""
    return {tuple(dict(labels)[key] for key in order if key in dict(labels)): value
            for (sample, labels), value in found.items() if sample == name}


def by_outcome(table: dict[tuple, float]) -> dict[tuple, float]:
    """Values per (labels, outcome) from values per (labels, status), outcomes with no value left out."""
    out: Counter[tuple] = Counter()
    for key, value in table.items():
        out[(*key[:-1], "success" if key[-1] == "success" else "failure")] += value
    return {key: value for key, value in out.items() if value}


def assert_counted_exactly(found: dict, runs_family: str, duration_family: str, order: tuple[str, ...],
                           truth: tuple[Counter, Counter, Counter]) -> None:
    """Every run counted once under its labels and status, and the duration histograms (split by outcome,
    with a 60 s bucket) holding exactly those runs: their count, their seconds and the short ones."""
    runs, seconds, short = truth
    order = (*order, "status", "outcome", "le")
    counters = labelled(found, runs_family, order)
    assert set(runs) <= set(counters), "a run counted under labels never served"
    assert {key: value for key, value in counters.items() if value} == dict(runs)
    # Durations are split by outcome: a histogram's _count is the sum of the counters of its statuses.
    assert labelled(found, f"{duration_family}_count", order) == by_outcome(counters)
    for key, value in labelled(found, f"{duration_family}_sum", order).items():
        assert value == pytest.approx(by_outcome(seconds)[key], abs=1e-3), key
    buckets = labelled(found, f"{duration_family}_bucket", order)
    assert {key[:-1]: value for key, value in buckets.items() if key[-1] == "60.0" and value} == \
        {key: value for key, value in by_outcome(short).items() if value}
