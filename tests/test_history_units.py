"""Run history's pure parts: the high-water mark, histogram buckets and record parsing."""

from __future__ import annotations

import pytest

from exporter.payload import RecordError
from exporter.runhistory.counts import Histogram, RunCounts, RunKind
from exporter.runhistory.marks import advance as _advance
from exporter.runhistory.persistence import tables_from_state, tables_to_state
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
    assert parse_build_record(record) == BuildRun(42, "failed", 28.425, 17.0, 1719390309.0)
    assert parse_build_record({**record, "status": "RUNNING", "finish_time": ""}).finished is False
    assert parse_build_record({**record, "status": "EXPLODED"}).status == "unknown"
    with pytest.raises(RecordError):
        parse_build_record({**record, "build_no": "abc"})


def test_v3_history_records_take_their_duration_from_start_and_end():
    record = {"build_number": 7, "result": "ABORTED", "start_time": "2020-12-30T17:33:11+08:00",
              "end_time": "2020-12-30T17:35:41+08:00"}
    assert parse_history_record(record) == BuildRun(7, "aborted", 150.0, None, 1609320941.0)


JOB = ("p1", "j1", "backend-build")
BOUNDS = (60.0, 600.0)


def old_state(buckets: list[float]) -> dict:
    """Tables as versions before the series budget saved them: a histogram per status, zeros included."""
    histograms = {"success": ([2, 1, 0], 400.0), "failed": ([1, 0, 0], 30.0), "timedout": ([0, 0, 1], 900.0),
                  "aborted": ([0, 0, 0], 0.0)}
    return {"version": 1, "buckets": buckets, "queued_buckets": [10.0],
            "build_runs": [[[*JOB, status], sum(counts)] for status, (counts, _) in histograms.items()],
            "build_durations": [[[*JOB, status], counts, total] for status, (counts, total) in histograms.items()],
            "build_queued": [[list(JOB), [0, 0], 0.0]]}


def counts_for(split: str) -> RunCounts:
    return RunCounts([RunKind("build", "build", ("success", "failed", "timedout", "aborted"), 3, queued=True)],
                     BOUNDS, (10.0,), split)


@pytest.mark.parametrize("split", ["outcome", "none", "status"])
def test_an_older_state_file_split_by_status_is_merged_exactly_into_the_configured_split(split):
    counts = counts_for(split)
    counts.replace_tables(tables_from_state(counts, old_state(list(BOUNDS))))
    job = counts.view().jobs[("build", JOB)]
    assert dict(job.runs) == {"success": 3, "failed": 1, "timedout": 1, "aborted": 0}  # counters kept, exact
    durations = {name: (h.counts, h.sum) for name, h in job.durations}
    expected = {"outcome": {"success": ([2, 1, 0], 400.0), "failure": ([1, 0, 1], 930.0)},
                "none": {"": ([3, 1, 1], 1330.0)},
                "status": {"success": ([2, 1, 0], 400.0), "failed": ([1, 0, 0], 30.0),
                           "timedout": ([0, 0, 1], 900.0)}}[split]
    assert durations == expected  # the empty "aborted" and queue histograms are not restored
    assert job.queued is None


def test_an_older_state_file_with_the_old_buckets_starts_from_zero_and_a_finer_split_cannot_be_made_up():
    counts = counts_for("outcome")
    counts.replace_tables(tables_from_state(counts, old_state([10.0, 30.0])))
    job = counts.view().jobs[("build", JOB)]
    assert dict(job.runs) == dict.fromkeys(("success", "failed", "timedout", "aborted"), 0) and not job.durations
    saved = tables_to_state(counts_for("outcome")) | {"build_runs": [[[*JOB, "failed"], 1]],
                                                       "build_durations": [[[*JOB, "failure"], [1, 0, 0], 5.0]]}
    finer = counts_for("status")
    finer.replace_tables(tables_from_state(finer, saved))
    job = finer.view().jobs[("build", JOB)]
    assert dict(job.runs)["failed"] == 0 and not job.durations  # counters restart with their histograms


def test_histograms_appear_with_the_first_run_of_their_class_and_their_count_equals_the_counters():
    counts = counts_for("outcome")
    counts.init_job("build", JOB)
    assert counts.view().jobs[("build", JOB)].durations == () and counts.view().jobs[("build", JOB)].queued is None
    counts.count("build", JOB, "failed", 10.0, None)
    counts.count("build", JOB, "timedout", 700.0, 3.0)
    job = counts.view().jobs[("build", JOB)]
    assert [(name, h.count) for name, h in job.durations] == [("failure", 2)]
    assert job.queued is not None and job.queued.count == 1  # only the run that reported its queue time


def test_jobs_that_never_ran_share_one_history_copy_and_a_run_gets_its_own():
    counts = counts_for("outcome")
    other = ("p1", "j2", "frontend-build")
    counts.init_job("build", JOB)
    counts.init_job("build", other)
    view = counts.view()
    assert view.jobs[("build", JOB)] is view.jobs[("build", other)]  # idle: one shared copy
    counts.count("build", other, "success", 30.0, 1.0)
    view = counts.view()
    assert dict(view.jobs[("build", other)].runs)["success"] == 1
    assert dict(view.jobs[("build", JOB)].runs)["success"] == 0 and view.jobs[("build", JOB)].queued is None
