"""Tolerant parsing of CodeArts records, starting from the documented example payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter.payload import RecordError, parse_timestamp
from exporter.sources.build.models import normalise_build_status, parse_build_job
from exporter.sources.repo.models import parse_pipeline_job

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def epoch(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def test_repo_seed_example_parses_with_its_misspelt_key():
    (raw,) = load("repo_pipeline_jobs_200.json")
    job = parse_pipeline_job(raw)
    assert job.id == 31930
    assert (job.name, job.stage, job.status, job.ref) == ("Task 1.", "external", "success", "dev")
    assert job.sha == "1c46c505c84853887efe2ea9ea02a1333bae2237"
    assert job.created == epoch(2025, 5, 17, 3, 2, 25)
    assert job.started == epoch(2025, 5, 17, 3, 2, 25)
    assert job.finished == epoch(2025, 5, 17, 3, 2, 56)
    assert job.updated == epoch(2025, 5, 17, 3, 2, 56)  # read from the key spelled 'updated_at"'


def test_build_seed_example_parses():
    body = load("build_project_jobs_200.json")
    job = parse_build_job(body["jobs"][0])
    assert job.id == "6d27a9dcac204fbe9f5aee88740de3d4"
    assert job.name == "APITest-V6-RepositoryHistory-hz0vwK"
    assert job.last_build_time == 1754360164.0
    assert job.health_score == 0
    assert job.last_build_duration == 0
    # No last_build_status in the example, but last_job_running_status says Running.
    assert job.status == "running" and job.running
    assert not job.disabled
    assert (job.branch, job.scm_type, job.trigger_type, job.build_type, job.repo_id) == (
        "master", "codehub", "Manual", "branch", "569802")


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-05-17T11:02:25.000+08:00", epoch(2025, 5, 17, 3, 2, 25)),
    ("2025-05-17T03:02:25Z", epoch(2025, 5, 17, 3, 2, 25)),
    ("2025-05-17T03:02:25.5Z", epoch(2025, 5, 17, 3, 2, 25) + 0.5),
    ("2025-05-17T03:02:25.123456789+00:00", epoch(2025, 5, 17, 3, 2, 25) + 0.123456),
    ("2025-05-17T03:02:25", epoch(2025, 5, 17, 3, 2, 25)),
    ("2025-05-17 03:02:25", epoch(2025, 5, 17, 3, 2, 25)),
    (1747450945000, 1747450945.0),
    (1747450945, 1747450945.0),
    ("1747450945000", 1747450945.0),
    (1747450945000.0, 1747450945.0),
])
def test_timestamps_in_every_seen_form(text, expected):
    assert parse_timestamp(text) == pytest.approx(expected)


@pytest.mark.parametrize("value", [None, "", "   ", "not a date", 0, -5, float("nan"), float("inf"), True, [], {}])
def test_unreadable_timestamps_are_unknown(value):
    assert parse_timestamp(value) is None


@pytest.mark.parametrize(("colour", "running", "expected"), [
    ("blue", None, "success"), ("red", None, "failed"), ("timeout", None, "timedout"),
    ("aborted", None, "aborted"), ("building", None, "running"), ("none", None, "none"),
    ("BLUE", None, "success"), ("purple", None, "unknown"), (None, "Running", "running"),
    (None, "Finished", "unknown"), ("", None, "unknown"),
])
def test_build_colours_are_normalised(colour, running, expected):
    assert normalise_build_status(colour, running) == expected


def test_unknown_pipeline_status_becomes_unknown():
    assert parse_pipeline_job({"id": 5, "status": "exploded"}).status == "unknown"


def test_missing_and_null_fields_are_tolerated():
    job = parse_pipeline_job({"id": "7", "name": None, "stage": None, "created_at": None})
    assert job.id == 7 and job.name == "job-7" and job.stage == "" and job.created is None
    build = parse_build_job({"id": "abc", "health_score": None, "build_time": "oops", "disabled": "true"})
    assert build.name == "abc" and build.health_score is None and build.last_build_duration is None
    assert build.disabled


@pytest.mark.parametrize("raw", [None, [], "x", 5, {"id": None}, {"id": 0}, {"id": 2**31}, {"id": True},
                                 {"id": "abc"}, {"name": "no id"}])
def test_pipeline_records_without_a_valid_id_are_rejected(raw):
    with pytest.raises(RecordError):
        parse_pipeline_job(raw)


@pytest.mark.parametrize("raw", [None, [], {"id": ""}, {"id": None}, {"job_name": "no id"}, {"id": "x" * 200}])
def test_build_records_without_a_valid_id_are_rejected(raw):
    with pytest.raises(RecordError):
        parse_build_job(raw)


def test_a_lone_surrogate_from_json_becomes_a_question_mark_so_it_can_be_served():
    import json

    from exporter.sources.build.models import parse_build_job

    job = parse_build_job(json.loads('{"id": "j1", "job_name": "deploy-\\ud800"}'))
    assert job.name == "deploy-?" and job.name.encode("utf-8")


def test_a_digit_that_is_not_a_number_is_no_timestamp():
    from exporter.payload import parse_timestamp

    assert parse_timestamp("²") is None and parse_timestamp("-²") is None  # str.isdigit() says yes, float() no


def test_a_pipeline_job_id_of_unicode_digits_is_a_record_error():
    import pytest

    from exporter.payload import RecordError
    from exporter.sources.repo.models import parse_pipeline_job

    with pytest.raises(RecordError):
        parse_pipeline_job({"id": "²"})


def test_a_build_number_of_unicode_digits_is_no_run_number():
    from exporter.sources.build.models import build_number_of, parse_build_job

    job = parse_build_job({"id": "j1", "build_number": "12"})
    assert build_number_of(job.build_number) == 12 and build_number_of("²") is None
    assert [build_number_of(value) for value in ("#12", 12.0, "12.0", " 12 ", "12.5", "0", "-3", "#", "", None)] == \
        [12, 12, 12, 12, None, None, None, None, None, None]
