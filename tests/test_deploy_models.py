"""CodeArts Deploy payloads: the published example bodies (API Explorer, ListAllApp and
ListDeployTaskHistoryByDate, tests/fixtures/deploy_*.json) parse into the records they describe, and the
parsers take what the docs leave open (fractions, durations past a day, missing end times, unknown words)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from exporter.errors import AuthError, NotFoundError, PayloadError
from exporter.payload import RecordError
from exporter.sources.deploy.config import DeployProject
from exporter.sources.deploy.fetch import error_in_body, history_dates
from exporter.sources.deploy.models import (
    DeployTask,
    deploy_status,
    parse_application,
    parse_detail_tasks,
    parse_duration,
    parse_record,
)

FIXTURES = Path(__file__).parent / "fixtures"
CST = timezone(timedelta(hours=8))
PROJECT = DeployProject("1ff8aa6dda4643bd9cbdbb588fb24bde", zone=CST)


def at(text: str, zone: timezone = CST) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_the_published_application_list_example_parses_into_its_last_deployment():
    body = json.loads((FIXTURES / "deploy_applications_list_200.json").read_text())
    assert body["total_num"] == 1 and error_in_body(body, "u", 200) is None  # no status field: not an error
    (app,) = [parse_application(item, PROJECT) for item in body["result"]]
    assert (app.id, app.name, app.deploy_system, app.disabled) == ("cb439d016d8641c8a44c177a121fad15", "Test",
                                                                   "deployTemplate", True)
    assert app.tasks == (DeployTask("e700f15965694253940502911220d76b", "failed", 4),)  # its one task's: the app's
    last = app.last
    assert last is not None and app.status == "failed" and last.release_id == 4
    assert (last.start, last.end) == (at("2023-08-18 09:40:16"), at("2023-08-18 09:40:33"))
    assert last.duration == 17 == last.reported
    assert app.marker == (4, "failed")


def test_the_published_history_example_parses_newest_first_with_both_keys():
    body = json.loads((FIXTURES / "deploy_task_history_200.json").read_text())
    records = [parse_record(item, CST) for item in body["result"]]
    assert [(r.release_id, r.execution_id, r.status, r.kind) for r in records] == [
        (20, "50f18ce454a64ea5a62a33d56617b831", "success", "install"),
        (19, "f757fbe93d35494ba0ff73b34e2f79aa", "failed", "install")]
    assert [r.duration for r in records] == [16 * 60 + 53, 15 * 60 + 31]
    assert [r.key for r in records] == ["20", "19"]
    assert records[0].end == at("2022-04-15 15:20:17")


def test_times_are_read_in_the_configured_zone_with_or_without_a_fraction():
    utc = DeployProject(PROJECT.id, zone=UTC)
    item = {"id": "a" * 32, "name": "x", "execution_state": "succeeded", "release_id": 3,
            "execution_time": "2023-08-18 09:40:16.0", "end_time": "2023-08-18 09:40:33"}
    assert parse_application(item, PROJECT).last.start == at("2023-08-18 09:40:16")
    assert parse_application(item, utc).last.start == at("2023-08-18 09:40:16", UTC)
    assert parse_application(item, utc).last.start - parse_application(item, PROJECT).last.start == 8 * 3600


@pytest.mark.parametrize(("text", "seconds"), [
    ("00:00:17", 17), ("27:14:09", 27 * 3600 + 14 * 60 + 9), ("1 day 03:14:09", 86_400 + 3 * 3600 + 14 * 60 + 9),
    ("2 days 00:00:01", 2 * 86_400 + 1), ("00:01:02.5", 62), ("", None), ("17", None), ("00:61:00", None),
    (None, None)])
def test_durations_past_a_day_and_in_day_form_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("end", ["", None, "absent", "2023-08-18 09:40:00"])
def test_an_empty_missing_or_earlier_end_time_means_not_finished(end):
    item = {"id": "a" * 32, "name": "x", "execution_state": "running", "release_id": 3,
            "execution_time": "2023-08-18 09:40:16", "duration": "00:00:05"}
    if end != "absent":
        item["end_time"] = end
    last = parse_application(item, PROJECT).last
    assert last.end is None and not last.finished and last.duration is None


def test_a_finished_deployment_without_an_end_time_takes_deploys_own_duration():
    item = {"id": "a" * 32, "name": "x", "execution_state": "timeout", "release_id": 3,
            "execution_time": "2023-08-18 09:40:16", "end_time": "", "duration": "27:14:09"}
    last = parse_application(item, PROJECT).last
    assert last.status == "timedout" and last.finished and last.duration == 27 * 3600 + 14 * 60 + 9


def test_every_documented_state_word_maps_and_any_other_is_unknown():
    words = {"succeeded": "success", "failed": "failed", "timeout": "timedout", "abort": "aborted",
             "not_started": "canceled", "running": "running", "pending": "pending", "not_executed": "never",
             "SUCCEEDED": "success", "rolled_back": "unknown", "": "unknown"}
    assert {word: deploy_status(word) for word in words} == words


def test_a_never_deployed_application_has_no_last_deployment():
    app = parse_application({"id": "a" * 32, "name": "x", "execution_state": "not_executed", "release_id": None,
                             "execution_time": "", "arrange_infos": [{"id": "t" * 32}, {"id": "t" * 32}]}, PROJECT)
    assert app.last is None and app.status == "never" and app.tasks == (DeployTask("t" * 32, "", None),)


def test_records_without_an_identity_are_malformed():
    with pytest.raises(RecordError):
        parse_record({"state": "succeeded", "start_time": "2023-08-18 09:40:16"}, CST)
    with pytest.raises(RecordError):
        parse_application({"name": "no id"}, PROJECT)
    with pytest.raises(RecordError):  # the run history counts by release_id
        parse_record({"execution_id": "e" * 32, "state": "failed"}, CST)


def test_both_error_shapes_and_a_status_other_than_success_are_errors_in_a_200():
    nested = json.loads((FIXTURES / "deploy_error_nested.json").read_text())
    assert isinstance(error_in_body(nested, "u", 200), PayloadError)
    assert "DEV.CH.10001" in str(error_in_body(nested, "u", 200))
    denied = error_in_body({"error": {"code": "Deploy.00011154", "message": "no"}, "status": "failed"}, "u", 200)
    assert isinstance(denied, AuthError) and denied.error_code == "Deploy.00011154"
    gone = error_in_body({"error_code": "Deploy.00011020", "error_msg": "deleted"}, "u", 200)
    assert isinstance(gone, NotFoundError)
    odd = error_in_body({"status": "failed", "result": []}, "u", 200)
    assert isinstance(odd, PayloadError) and "status 'failed'" in str(odd)
    assert error_in_body({"status": "success", "result": []}, "u", 200) is None


def test_the_history_window_spans_at_most_30_days_with_a_day_ahead():
    dates = history_dates(datetime(2026, 3, 1).date(), 28)
    assert dates == {"start_date": "2026-02-01", "end_date": "2026-03-02"}
    start, end = (datetime.fromisoformat(dates[key]) for key in ("start_date", "end_date"))
    assert (end - start).days <= 30


def test_the_published_application_detail_example_gives_each_tasks_release_id():
    body = json.loads((FIXTURES / "deploy_application_info_200.json").read_text())
    assert error_in_body(body, "u", 200) is None  # "status": "success"
    assert parse_detail_tasks(body) == (DeployTask("685a6f3b80264e7d96f2ba308f8414e5", "Draft", 0),)
    with pytest.raises(RecordError):
        parse_detail_tasks({"status": "success"})


def test_an_application_with_several_tasks_leaves_their_release_ids_to_its_detail():
    item = {"id": "a" * 32, "name": "x", "execution_state": "succeeded", "release_id": 7,
            "arrange_infos": [{"id": "1" * 32, "state": "succeeded"}, {"id": "2" * 32, "state": "failed"}]}
    app = parse_application(item, PROJECT)
    assert [task.release_id for task in app.tasks] == [None, None] and not app.task_releases_known
