"""Run history's pure parts: the high-water mark, histogram buckets and record parsing."""

from __future__ import annotations

import pytest

from exporter.payload import RecordError
from exporter.runhistory.counts import Histogram
from exporter.sources.build.history import _advance
from exporter.sources.build.models import BuildRun, parse_build_record, parse_history_record


def run(number: int, status: str = "success") -> BuildRun:
    return BuildRun(number, status, 1.0, 0.5)


def test_the_mark_moves_over_counted_runs_and_stops_at_a_running_one():
    above = {11, 12, 14}
    runs = {11: run(11), 12: run(12), 13: run(13, ""), 14: run(14)}
    assert _advance(10, above, runs) == (12, 0)
    assert above == {14}  # counted above the mark, kept so it is not counted again


def test_numbers_missing_below_the_newest_listed_run_are_gone_and_reported():
    above = {15}
    assert _advance(10, above, {15: run(15)}) == (15, 4)
    assert above == set()


def test_numbers_above_the_newest_listed_run_wait_for_a_later_listing():
    assert _advance(10, set(), {}) == (10, 0)


def test_a_value_on_a_bound_falls_in_that_bucket():
    bounds = (10.0, 60.0)
    histogram = Histogram.empty(bounds)
    for value in (0.0, 10.0, 10.5, 60.0, 61.0):
        histogram.observe(bounds, value)
    assert histogram.counts == [2, 2, 1] and histogram.count == 5 and histogram.sum == 141.5


def test_records_parse_durations_in_ms_and_tolerate_status_spellings():
    record = {"build_no": "42", "status": "FAILURE", "build_duration": 28425, "pending_duration": 17000,
              "finish_time": "2024-06-26T08:25:09.000+00:00"}
    assert parse_build_record(record) == BuildRun(42, "failed", 28.425, 17.0)
    assert parse_build_record({**record, "status": "RUNNING", "finish_time": ""}).finished is False
    assert parse_build_record({**record, "status": "EXPLODED"}).status == "unknown"
    with pytest.raises(RecordError):
        parse_build_record({**record, "build_no": "abc"})


def test_v3_history_records_take_their_duration_from_start_and_end():
    record = {"build_number": 7, "result": "ABORTED", "start_time": "2020-12-30T17:33:11+08:00",
              "end_time": "2020-12-30T17:35:41+08:00"}
    assert parse_history_record(record) == BuildRun(7, "aborted", 150.0, None)
