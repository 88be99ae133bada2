"""Issue 20 B10: one bad entry in the state file no longer resets every source's counters, and the file as it
was is kept as ``*.bak`` before the next save overwrites it."""

from __future__ import annotations

import json
import logging

import pytest

from exporter.runhistory.counts import RunCounts, RunKind
from exporter.runhistory.history import RunHistory
from exporter.statefile import StateProblem
from exporter.staterepair import MAX_ENTRIES_LEFT_OUT, restore_entries

from .helpers.historyrig import (
    T0,
    assert_build_counts_equal,
    build_truth,
    pipeline_truth,
    rig_factory,  # noqa: F401 - a fixture
    run_cycles,
    series,
)


def test_one_bad_mark_is_left_out_by_name_and_every_other_counter_survives(rig_factory, tmp_path, caplog):  # noqa: F811
    rig = rig_factory(state=True)
    rig.poll()
    run_cycles(rig, range(5))
    path = tmp_path / "state.json"
    saved = json.loads(path.read_text())
    bad_job = sorted(saved["build_marks"])[0]
    saved["build_marks"][bad_job][0] = "twelve"
    saved["pipeline_runs"][3][1] = -1
    broken = json.dumps(saved)
    path.write_text(broken)
    with caplog.at_level(logging.ERROR):
        rig.restart()
    rig.poll()  # at the time of the save: the job whose mark was left out starts afresh from the same run
    run_cycles(rig, range(5, 10))
    found = rig.samples()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert f"build_marks.{bad_job}[0]" in errors[0] and "pipeline_runs[3][1]" in errors[1]
    assert (tmp_path / "state.json.bak").read_text() == broken  # the file as it was, before the save
    assert json.loads(path.read_text())["build_marks"][bad_job][0] != "twelve"  # replaced by a good one
    assert_build_counts_equal(found, build_truth(rig.world, T0, rig.now[0]))
    # The counter row left out restarts at 0 (a counter reset): every other pipeline job is exact.
    left_out = tuple(saved["pipeline_runs"][3][0])
    truth = pipeline_truth(rig.world, T0, rig.polls[1:])
    runs_truth = {key: n for key, n in truth[0].items() if key != left_out}
    runs = {key: n for key, n in series(found, "codearts_repo_pipeline_job_runs_total").items() if key != left_out}
    assert {key: n for key, n in runs.items() if n} == {key: n for key, n in runs_truth.items() if n}


def test_a_good_file_makes_no_backup(rig_factory, tmp_path):  # noqa: F811
    rig = rig_factory(state=True)
    rig.poll()
    run_cycles(rig, range(2))
    rig.restart()
    rig.poll()
    assert not (tmp_path / "state.json.bak").exists()


def test_an_unreadable_file_is_kept_as_a_backup(rig_factory, tmp_path):  # noqa: F811
    (tmp_path / "state.json").write_text("{not json")
    rig = rig_factory(state=True)
    rig.poll()
    assert (tmp_path / "state.json.bak").read_text() == "{not json"


class Strict:
    """Refuses any ``entries`` item that is not an integer."""

    def __init__(self) -> None:
        self.restored = None

    def problem(self, state):
        if not isinstance(state.get("version"), int):
            return "version: unexpected"
        for index, value in enumerate(state.get("entries", [])):
            if not isinstance(value, int):
                return f"entries[{index}]: unexpected str"
        return None

    def restore(self, state):
        self.restored = state


def test_entries_are_left_out_one_by_one_and_a_file_level_problem_discards_it_all():
    history = Strict()
    assert restore_entries(history, {"version": 1, "entries": [1, "x", 2, "y"]}) == [
        "entries[1]: unexpected str", "entries[2]: unexpected str"]
    assert history.restored == {"version": 1, "entries": [1, 2]}
    with pytest.raises(StateProblem, match="version"):
        restore_entries(Strict(), {"version": "1", "entries": []})
    with pytest.raises(StateProblem, match="more than"):
        restore_entries(Strict(), {"version": 1, "entries": ["x"] * (MAX_ENTRIES_LEFT_OUT + 1)})


def test_a_reset_for_changed_buckets_is_logged_once_though_the_file_is_read_twice(caplog):
    # restore_entries reads the file on trial (problem) before restoring it: only the read taken over says so.
    kind = RunKind("build", "build", ("success", "failed"), label_count=1)
    before = RunCounts([kind], (1.0, 2.0), (1.0,))
    with before.lock:
        before.count("build", ("job",), "success", 1.5)
    saved = RunHistory(before, []).to_state()
    after = RunCounts([kind], (1.0, 5.0), (1.0,))
    with caplog.at_level(logging.WARNING):
        assert restore_entries(RunHistory(after, []), saved) == []
    warnings = [r.getMessage() for r in caplog.records if "buckets changed" in r.getMessage()]
    assert len(warnings) == 1
    assert after.tables["build"].runs == {("job", "success"): 0, ("job", "failed"): 0}
