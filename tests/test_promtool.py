"""`promtool check metrics` (Debian's prometheus package) on a real scrape of the exporter."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from exporter.config import load_config
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import write_config

PROMTOOL = shutil.which("promtool")
# On CI promtool is installed by .ci/run, so its absence there is a failure, not a skip.
needs_promtool = pytest.mark.skipif(PROMTOOL is None and os.environ.get("CI") != "true",
                                    reason="promtool not installed (apt-get install prometheus)")


@needs_promtool
def test_promtool_finds_nothing_to_complain_about(tmp_path, simulator_factory):
    assert PROMTOOL, "promtool must be installed on CI"
    world = World.generated(projects=2, jobs_per_project=30, repositories=1, pipelines_per_repo=2,
                            jobs_per_pipeline=12)
    sim = simulator_factory(world)
    repos: dict[int, list[int]] = {}
    for repo, pipeline in world.pipeline_keys():
        repos.setdefault(repo, []).append(pipeline)
    config = write_config(tmp_path / "c.yaml", sim.url, repositories=repos, projects=world.project_ids())
    exporter = Exporter(load_config(config, sources=BUILTIN))
    try:
        assert exporter.poll_once().all_up()
        body = exporter.metrics_text()
    finally:
        exporter.close()
    assert b"codearts_build_job_status{" in body
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b"", result.stdout + result.stderr
