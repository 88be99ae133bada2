"""Contract tests: the published example body of every CodeArts operation the exporter uses, served over real
HTTP and read by the exporter's own request functions.

The bodies come from Huawei's API Explorer definitions (tests/fixtures/apiexplorer/, README there): the whole
example where the definition has one, else one built from the schema's per-field ``example`` values; the Repo
pipeline jobs example is the seed page's (tests/fixtures/repo_pipeline_jobs_200.json). Each test asserts what
the exporter makes of it, field by field, and which assumptions (docs/reliability.md) the example itself
contradicts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from exporter.sources.build.fetch import build_brief_records, build_history_page, build_records_page, list_build_jobs
from exporter.sources.pipeline.config import PipelineProject
from exporter.sources.pipeline.fetch import list_pipelines, run_detail, runs_page
from exporter.sources.repo.fetch import list_pipeline_jobs

from .helpers.upstreamclient import PROJECT, client_for
from .hostile import HostileServer, response

FIXTURES = Path(__file__).parent / "fixtures"
EXPLORER = FIXTURES / "apiexplorer"


def _from_schema(schema: dict[str, Any], definitions: dict[str, Any], depth: int = 0) -> Any:
    if depth > 12:
        return None
    if "$ref" in schema:
        return _from_schema(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions, depth + 1)
    if "example" in schema and schema.get("type") not in ("object", "array"):
        return schema["example"]
    if schema.get("type") == "object" or "properties" in schema:
        return {key: _from_schema(value, definitions, depth + 1)
                for key, value in (schema.get("properties") or {}).items()}
    if schema.get("type") == "array":
        return [_from_schema(schema.get("items", {}), definitions, depth + 1)]
    return schema.get("example")


def published(operation: str) -> Any:
    """The 200 answer of ``operation`` (``Service_Operation``) as its definition publishes it."""
    definition = json.loads((EXPLORER / f"{operation}.json").read_text())
    (_, methods), = definition["paths"].items()
    (_, spec), = methods.items()
    answer = spec["responses"]["200"]
    example = (answer.get("examples") or {}).get("application/json")
    return example if example is not None else _from_schema(answer["schema"], definition["definitions"])


def serving(body: Any, headers: dict[str, str] | None = None):
    """A server answering every request with ``body``, and a client to it."""
    return HostileServer(lambda server, conn, request: conn.sendall(response(200, body, headers)))


def contradicted(client) -> dict[tuple[str, str], int]:
    return {key: n for key, n in client.stats.assumptions.counts().items() if n}


def test_the_build_job_list_example_reads_as_one_successful_job():
    with serving(published("CodeArtsBuild_ShowJobListByProjectId")) as server:
        client = client_for(server.url)
        listing = list_build_jobs(client, PROJECT)
    job, = listing.records
    assert (job.id, job.name, job.status, job.health_score, job.last_build_time, job.disabled) == (
        "2a86c3c1ed18416399279fe6........", "demo", "success", 75.0, 1608004535.0, True)
    assert listing.complete and contradicted(client) == {}
    assert job.build_number == ""  # the published job list has no build_number (Build history relies on it)


def test_the_build_records_example_reads_as_an_aborted_run():
    with serving(published("CodeArtsBuild_ListRecords")) as server:
        client = client_for(server.url)
        page = build_records_page(client, "a3270d84-ddc7-4288-b985-f801871b260d", 1, 10)
    run, = page.runs
    assert (run.number, run.status, run.duration, run.queued, run.finished) == (2, "aborted", 0.0, 0.0, True)
    assert contradicted(client) == {}


def test_the_brief_records_example_reads_schedule_failure_as_failed():
    with serving(published("CodeArtsBuild_ListBriefRecord")) as server:
        client = client_for(server.url)
        pages = build_brief_records(client, ["string"], 10)
    run, = pages["string"].runs
    assert (run.number, run.status, run.duration, run.queued) == (227, "failed", 0.0, 0.0)
    assert contradicted(client) == {}


def test_the_job_history_example_with_one_record_as_an_object_is_read():
    body = published("CodeArtsBuild_ShowListHistory")
    assert isinstance(body["history_records"], dict)  # the published example is not the array its schema says
    with serving(body) as server:
        client = client_for(server.url)
        page = build_history_page(client, "f9d6c8466d614a9788e9a0acf6c15f46", 0, 10)
    run, = page.runs
    assert (run.number, run.status, run.duration, run.queued) == (55, "failed", 16.0, None)
    assert contradicted(client) == {}


@pytest.fixture
def project() -> PipelineProject:
    return PipelineProject("958a367001a24870a1002349e2e35914")


def test_the_pipeline_list_example_reads_as_a_failed_latest_run_with_its_stage(project):
    with serving(published("CodeArtsPipeline_ListPipelines")) as server:
        client = client_for(server.url)
        client.base_urls["pipeline"] = server.url
        listing = list_pipelines(client, project)
    pipeline, = listing.records
    assert (pipeline.id, pipeline.name, pipeline.project_name) == (
        "6d7fcc4192b14d928dd86dcc0ab5a88f", "git-mvn-upload-演示demo勿动", "测试项目")
    run = pipeline.latest
    assert run is not None
    assert (run.number, run.status, run.trigger, run.branch, run.start, run.end, run.duration) == (
        11, "failed", "Manual", "other", 1674962399.0, 1674962423.0, 24.0)
    stage, = run.stages
    assert (stage.name, stage.status, stage.duration) == ("阶段_1", "failed", 24.0)
    assert stage.start == 1674962399.0  # "2023-01-29 11:19:59" read in the project's zone (UTC+8)
    # The example says 14,355 pipelines and lists one: the walk ends, named, not looping.
    assert not listing.complete and contradicted(client) == {}


def test_the_pipeline_runs_example_reads_as_one_failed_run(project):
    with serving(published("CodeArtsPipeline_ListPipelineRuns")) as server:
        client = client_for(server.url)
        client.base_urls["pipeline"] = server.url
        page = runs_page(client, project, "6d7fcc4192b14d928dd86dcc0ab5a88f", 0, 10)
    run, = page.runs
    assert (run.id, run.number, run.status, run.duration, page.total) == (
        "6fd46591ad9f46dda269af2868e27f41", 11, "failed", 24.0, 11)


def test_the_run_detail_example_reads_its_jobs_and_pause(project):
    body = published("CodeArtsPipeline_ShowPipelineRunDetail")
    with serving(body) as server:
        client = client_for(server.url)
        client.base_urls["pipeline"] = server.url
        detail = run_detail(client, project, "7bcedd0f556a4baead77105f8b238dde", "7ba7be7de80c4b819f4c9e3c8ea79c7b")
    job, = detail.jobs
    assert (detail.run_id, detail.paused, job.stage, job.name, job.status) == (
        "7ba7be7de80c4b819f4c9e3c8ea79c7b", 1.0, "阶段_1", "clone-build-upload", "success")
    assert (job.duration, job.queued) == (37.0, 1.0)  # job 1674998128000..1674998165000 ms, stage from ...127000
    assert contradicted(client) == {}


def test_the_repo_pipeline_jobs_seed_example_reads_as_one_successful_job():
    body = json.loads((FIXTURES / "repo_pipeline_jobs_200.json").read_text())
    with serving(body, {"X-Total": "1"}) as server:
        client = client_for(server.url)
        listing = list_pipeline_jobs(client, 2111976239, 5)
    job, = listing.records
    assert (job.id, job.name, job.stage, job.status, job.ref) == (31930, "Task 1.", "external", "success", "dev")
    assert (job.started, job.finished) == (1747450945.0, 1747450976.0)  # 11:02:25 and 11:02:56 at +08:00
    assert listing.complete and contradicted(client) == {}


def test_the_build_job_list_seed_example_reads_as_one_running_job():
    body = json.loads((FIXTURES / "build_project_jobs_200.json").read_text())
    with serving(body) as server:
        client = client_for(server.url)
        listing = list_build_jobs(client, PROJECT)
    job, = listing.records
    assert (job.id, job.status, job.running, job.health_score, job.last_build_time, job.build_number) == (
        "6d27a9dcac204fbe9f5aee88740de3d4", "running", True, 0.0, 1754360164.0, "1")
    assert listing.complete and contradicted(client) == {}


def published_words(operation: str, heading: str) -> set[str]:
    """The status words a definition enumerates under a description starting with ``heading``."""
    text = (EXPLORER / f"{operation}.json").read_text()
    words: set[str] = set()
    for description in re.findall(r'"description": "(\*\*参数解释\*\*:\\n' + heading + r'[^"]*)"', text):
        words |= set(re.findall(r"- ([A-Z_]+):", description))
    return words


def test_every_published_pipeline_status_word_has_an_exported_status():
    from exporter.sources.pipeline.models import run_status, stage_status
    runs = published_words("CodeArtsPipeline_ListPipelineRuns", "流水线运行实例状态")
    stages = published_words("CodeArtsPipeline_ListPipelineRuns", "流水线阶段状态") | published_words(
        "CodeArtsPipeline_ShowPipelineRunDetail", "状态")
    assert runs == {"COMPLETED", "RUNNING", "FAILED", "CANCELED", "PAUSED", "SUSPEND", "IGNORED"}
    assert len(stages) == 14
    assert {word: run_status(word) for word in runs if run_status(word) == "unknown"} == {}
    assert {word: stage_status(word) for word in stages if stage_status(word) == "unknown"} == {}


def test_every_published_build_record_status_has_an_outcome():
    from exporter.sources.build.models import run_status
    examples = {"SUCCESS", "FAILURE", "ABORTED", "SCHEDULE_FAILURE"}  # docs and the definitions' examples
    assert {word: run_status(word, "2024-08-12T02:31:01+0800") for word in examples} == {
        "SUCCESS": "success", "FAILURE": "failed", "ABORTED": "aborted", "SCHEDULE_FAILURE": "failed"}
