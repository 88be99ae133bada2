"""The command line: exit codes, one-line errors, --check-config, --version, --help, --demo."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from exporter import __version__

from .conftest import run_cli, wait_until

ROOT = Path(__file__).resolve().parent.parent

VALID = """\
region: cn-north-4
auth:
  token: s3cr3t-token-value-42
projects:
  - id: 6ecbc5bac7c8442fb3d2563d53c13582
"""

INVALID = {
    "bad_yaml": ("region: [cn-north-4\nauth: {token: x}\n", r"YAML|yaml|line"),
    "unknown_key": (VALID + "polling: 5\n", r'unknown key "polling"'),
    "wrong_type": (VALID + "poll:\n  concurrency: many\n", r"poll\.concurrency"),
    "missing_auth": ("region: cn-north-4\nprojects:\n  - id: 6ecbc5bac7c8442fb3d2563d53c13582\n", r"auth"),
    "empty_targets": ("region: cn-north-4\nauth:\n  token: x\nprojects: []\n", r"target|projects|repositories"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_config_exits_2_with_one_line(tmp_path, case):
    text, pattern = INVALID[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    result = run_cli("--config.file", str(path), "--check-config")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    assert "s3cr3t-token-value-42" not in result.stderr


def test_missing_config_file_exits_2_naming_it(tmp_path):
    result = run_cli("--config.file", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nope.yaml" in result.stderr


def test_check_config_summarises_without_secrets(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    result = run_cli("--config.file", str(path), "--check-config")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK: 1 build project, the names of 1 project from ProjectMan "
                                     "every 300s; authentication by token (a ready IAM token; it is not renewed); ")
    assert "Auth" not in result.stdout and "in flight" in result.stdout, "English, no class names"
    assert "s3cr3t-token-value-42" not in result.stdout + result.stderr


def test_check_config_warns_when_the_iam_project_id_is_also_a_codearts_project_id(tmp_path):
    swapped = "6ecbc5bac7c8442fb3d2563d53c13582"
    path = tmp_path / "swapped.yaml"
    aksk = f"  aksk:\n    ak: HPUAEXAMPLE\n    sk: s3cr3t-sk\n    project_id: {swapped}\n"
    path.write_text(VALID.replace("  token: s3cr3t-token-value-42\n", aksk)
                    + f"discovery:\n  projects:\n    - project_id: {swapped}\n")
    result = run_cli("--config.file", str(path), "--check-config")
    assert result.returncode == 0, result.stderr  # a warning: the ids may yet be right, only CodeArts can tell
    assert "configuration OK" in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert [line.split(" (")[0] for line in warnings] == [
        "codearts-exporter: warning: auth.aksk.project_id equals discovery.projects[0].project_id",
        "codearts-exporter: warning: auth.aksk.project_id equals projects[0].id"]
    assert all("which id is which: auth.*.project_id = IAM project id" in line for line in warnings)
    assert "s3cr3t-sk" not in result.stdout + result.stderr


def test_version_and_help():
    version = run_cli("--version")
    assert version.returncode == 0 and __version__ in version.stdout
    usage = run_cli("--help")
    for flag in ("--config.file", "--web.listen-address", "--log.level", "--once", "--check-config", "--demo"):
        assert flag in usage.stdout


def test_no_config_and_no_demo_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2 and "--demo" in result.stderr and "--print-example-config" in result.stderr


def test_the_example_configuration_is_printed_from_the_package_and_help_says_so(tmp_path):
    result = run_cli("--print-example-config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "config.example.yaml").read_text()
    assert "--print-example-config" in run_cli("--help").stdout
    config = tmp_path / "config.yaml"
    config.write_text(result.stdout)
    checked = run_cli("--check-config", "--config.file", str(config), env={
        "CODEARTS_TOKEN": "t", "CODEARTS_PASSWORD": "p", "HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"})
    assert checked.returncode == 0 and "configuration OK" in checked.stdout, checked.stderr


def test_bad_listen_address_is_a_usage_error(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    result = run_cli("--config.file", str(path), "--web.listen-address", "nonsense")
    assert result.returncode == 2 and "--web.listen-address" in result.stderr


def test_once_exits_1_when_a_target_fails(tmp_path):
    path = tmp_path / "down.yaml"
    path.write_text(VALID.replace("region: cn-north-4", "region: x\nendpoints:\n  repo: http://127.0.0.1:9\n"
                                  "  build: http://127.0.0.1:9\npoll:\n  timeout_seconds: 2"))
    result = run_cli("--once", "--config.file", str(path))
    assert result.returncode == 1
    assert 'codearts_up{api="build",target="6ecbc5bac7c8442fb3d2563d53c13582"} 0.0' in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"codearts-exporter --once: 0 of 1 target up, 0 jobs read, 0 failing or timed out, "
                        r"in \d+\.\d s; down: build 6ecbc5bac7c8442fb3d2563d53c13582 \(their errors are in the log "
                        r"above\)", last), last


def test_demo_serves_living_metrics_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--demo", "--web.listen-address", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    try:
        url = None
        for line in process.stderr:
            match = re.search(r"metrics at (http://\S+)/metrics", line)
            if match:
                url = match.group(1)
                break
        assert url, "the demo did not say where its metrics are"
        wait_until(lambda: requests.get(f"{url}/readyz", timeout=5).status_code == 200)
        body = requests.get(f"{url}/metrics", timeout=5).text
        assert 'codearts_up{api="build"' in body and "codearts_build_job_status{" in body
        assert "codearts_repo_pipeline_job_status{" in body
        assert ' 0.0' not in "".join(line for line in body.splitlines() if line.startswith("codearts_up{"))
        # The demo discovers the head pipelines of a repository's open merge requests (max_pipelines: 5).
        assert 'codearts_discovery_up{id="2111976240",source="repository"} 1.0' in body
        discovered = re.findall(r'^codearts_up\{api="repo",target="2111976240/\d+"\} 1\.0$', body, re.MULTILINE)
        assert 1 <= len(discovered) <= 5
        # Pipeline detail is on: the job duration panels have data.
        wait_until(lambda: "codearts_pipeline_last_run_job_duration_seconds{" in
                   requests.get(f"{url}/metrics", timeout=5).text)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
