"""Corrupt state files start the exporter with one error line and a fresh state; partial ones keep counting."""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path

import pytest

from exporter.statefile import load_state
from exporter.wiring import Exporter

from .conftest import make_history
from .helpers.historyrig import Rig, build_truth, run_cycles, series


def state_problem(data: object) -> str | None:
    """What the run history of the built-in sources finds wrong with saved data."""
    return make_history(None).problem(data)

DEEP = "[" * 200_000 + "]" * 200_000
OTHER_VALUES = (None, True, -1, 2**80, 1.5, "x", [], {}, [[1]])


@pytest.fixture
def saved(simulator_factory, tmp_path) -> tuple[Rig, dict]:
    """A rig that polled a few cycles with a state file, and that file's content."""
    rig = Rig(tmp_path, simulator_factory, state=True)
    rig.poll()
    run_cycles(rig, range(4))
    yield rig, json.loads((tmp_path / "state.json").read_text())
    rig.close()


def start(rig: Rig, caplog) -> list[str]:
    """Restart the rig's exporter on the state file as it now is; the error lines it logged."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        rig.restart()
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("text", "named"), [
    ("[]", "the file: expected an object, got list"),
    ('{"version": 1, "build_marks": []}', "build_marks: expected an object, got list"),
    ('{"version": 1, "build_marks": {"j": [Infinity, [], []]}}', "Infinity is not a JSON number"),
    ('{"version": 1, "buckets": 5}', "buckets: expected an array, got int 5"),
    (DEEP, "nested too deep"),
    ("\udcff", "cannot read it"),
], ids=["list", "marks-list", "infinity", "buckets-int", "deep", "not-utf8"])
def test_each_corrupt_state_file_starts_with_one_error_line_and_a_fresh_state(saved, tmp_path, caplog, text, named):
    rig, _ = saved
    (tmp_path / "state.json").write_text(text, errors="surrogateescape")
    errors = start(rig, caplog)
    assert len(errors) == 1 and named in errors[0], errors
    assert set(series(rig.samples(), "codearts_build_runs_total").values()) <= {0.0}
    rig.poll()  # and it polls


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Places in a JSON document: every top-level key, then the first two items of each container below,
    down to four levels."""
    found = [prefix] if prefix else []
    if len(prefix) >= 4:
        return found
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) \
        else []
    items = items if not prefix else items[:2]
    for key, inner in items:
        found += paths(inner, (*prefix, key))
    return found


def test_any_json_value_where_another_is_expected_never_crashes_the_start(saved, tmp_path, caplog):
    rig, good = saved
    tried = 0
    for path in paths(good):
        for other in OTHER_VALUES:
            state = copy.deepcopy(good)
            place = state
            for key in path[:-1]:
                place = place[key]
            if place[path[-1]] == other:
                continue
            place[path[-1]] = other
            (tmp_path / "state.json").write_text(json.dumps(state))
            errors = start(rig, caplog)
            assert len(errors) <= 1, (path, other, errors)
            assert not errors or "state file" in errors[0]
            tried += 1
    assert tried > 300  # the test means something
    rig.poll()


def test_marks_without_their_counter_rows_keep_counting(saved, tmp_path, caplog):
    rig, state = saved
    state["build_runs"] = []  # the marks stay, the histograms stay: the rows a count adds to are gone
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert start(rig, caplog) == []
    rig.poll()
    restarted = rig.polls[-1]
    run_cycles(rig, range(4, 12))
    assert "KeyError" not in caplog.text
    counted = series(rig.samples(), "codearts_build_runs_total")
    truth = build_truth(rig.world, restarted, rig.now[0])[0]
    assert sum(truth.values()) > 0
    for key, runs in truth.items():
        assert counted[key] >= runs, key  # every run since the restart is counted (from the restored marks on)


def test_a_fifo_as_state_path_is_refused_without_blocking(tmp_path, caplog):
    fifo = tmp_path / "state.fifo"
    os.mkfifo(fifo)
    assert load_state(fifo) is None
    assert "not a regular file" in caplog.text


def test_non_finite_and_oversized_numbers_are_problems():
    row = [["p", "j", "job", "success"], [0, 0, 0, 0, 0], 1e308 * 10]
    assert state_problem({"version": 1, "build_marks": {}, "pipeline_seen": {}, "build_runs": [],
                          "pipeline_runs": [], "build_durations": [row], "build_queued": [],
                          "pipeline_durations": []}) == "build_durations[0][2]: unexpected float Infinity"
    assert "build_runs[0][1]" in state_problem({"version": 1, "build_marks": {}, "pipeline_seen": {},
                                                "build_runs": [[["p", "j", "job", "success"], 2**60]]})


def test_the_state_written_by_the_exporter_passes_its_own_check(saved):
    _, state = saved
    assert state_problem(state) is None


def test_exporter_starts_on_an_unreadable_state_path(tmp_path, caplog, saved):
    rig, _ = saved
    (tmp_path / "state.json").unlink()
    (tmp_path / "state.json").mkdir()
    errors = start(rig, caplog)
    assert len(errors) == 1 and "not a regular file" in errors[0]
    assert isinstance(rig.exporter, Exporter)
    Path(tmp_path / "state.json").rmdir()


def test_a_failing_state_write_is_counted_in_a_metric(simulator_factory, tmp_path, caplog):
    rig = Rig(tmp_path, simulator_factory, state=True)
    try:
        assert rig.samples()[("codearts_state_write_failures_total", frozenset())] == 0
        (tmp_path / "state.json").mkdir()  # os.replace cannot put a file where a directory is
        rig.poll()
        rig.poll()
        assert rig.samples()[("codearts_state_write_failures_total", frozenset())] == 2
        assert "cannot write state file" in caplog.text
    finally:
        rig.close()


def test_a_file_without_a_sources_tables_restores_that_source_empty_and_the_others_whole(saved):
    rig, state = saved
    older = {key: value for key, value in state.items() if not key.startswith("pipeline_")}  # before Repo counted
    history = make_history(None, config=rig.exporter.config)
    assert history.problem(older) is None
    history.restore(older)
    restored = history.to_state()
    assert restored["build_runs"] == state["build_runs"] and restored["build_marks"] == state["build_marks"]
    assert restored["pipeline_runs"] == [] and restored["pipeline_seen"] == {}
