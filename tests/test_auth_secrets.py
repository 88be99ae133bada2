"""No secret of any auth mode reaches a log line (at DEBUG), an error text, the landing page or /metrics."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

from exporter.config import load_config
from exporter.landing import render_landing
from exporter.simulator import AccessKey, IamService, IamUser, World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, run_cli, write_config
from .helpers.iam import DOMAIN, IAM_PROJECT, PASSWORD, USER, password_config

AK, SK = "HPUAKSECRETTEST00001", "sk-Secret-Key-for-logs-7f3a9"
WRONG_PASSWORD = "wrong-Pass-word-4b2e"
PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
SIGNATURE = re.compile(r"[0-9a-f]{64}")


def aksk_config(path: Path, url: str) -> Path:
    path.write_text("\n".join([
        "region: test", "endpoints:", f"  repo: {url}", f"  build: {url}",
        "auth:", "  aksk:", f"    ak: {AK}", "    sk: ${TEST_SK}", f"    project_id: {IAM_PROJECT}",
        "poll:", "  interval_seconds: 60", "  timeout_seconds: 5",
        "projects:", f"  - id: {PROJECT}", "repositories:", "  - id: 2111976239", "    pipelines: [6]",
    ]) + "\n")
    return path


def assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, "a secret leaked"
    assert not SIGNATURE.search(text), "something like a signature or a token hash leaked"


def run_flows(tmp_path: Path, simulator_factory) -> tuple[list[str], list[str]]:
    """Password (ok, revoked, wrong), AK/SK (ok, rotated away) and token modes; returns (texts, secrets)."""
    iam = IamService(users=[IamUser(DOMAIN, USER, PASSWORD, IAM_PROJECT)], access_keys=[AccessKey(AK, SK, IAM_PROJECT)])
    world = World(seed=2, projects={PROJECT: 3}, pipelines={(2111976239, 6): 3})
    sim = simulator_factory(world, iam=iam)  # the static token works too
    texts: list[str] = []
    configs = [
        (password_config(tmp_path / "password.yaml", sim.url, projects=[PROJECT]), {"TEST_IAM_PASSWORD": PASSWORD}),
        (password_config(tmp_path / "wrong.yaml", sim.url, projects=[PROJECT]),
         {"TEST_IAM_PASSWORD": WRONG_PASSWORD}),
        (aksk_config(tmp_path / "aksk.yaml", sim.url), {"TEST_SK": SK}),
        (aksk_config(tmp_path / "bad-sk.yaml", sim.url), {"TEST_SK": SK + "x"}),
        (write_config(tmp_path / "token.yaml", sim.url, projects=[PROJECT]), {}),
    ]
    for path, env in configs:
        now = [time.time()]
        exporter = Exporter(load_config(path, env=env, sources=BUILTIN), clock=lambda now=now: now[0])
        try:
            exporter.poll_once()
            now[0] += 120  # old enough for a 401 to renew it
            iam.revoke_tokens()
            snapshot = exporter.poll_once()
            texts += [exporter.metrics_text().decode(), render_landing(snapshot, exporter.landing_info(), now[0]),
                      repr(exporter.auth),
                      repr(exporter.config)]
            texts += [state.error for state in snapshot.states]
        finally:
            exporter.close()
    return texts, [PASSWORD, WRONG_PASSWORD, SK, SIM_TOKEN, *iam.issued_tokens]


def test_no_secret_in_debug_logs_errors_pages_or_metrics(tmp_path, simulator_factory, caplog):
    caplog.set_level(logging.DEBUG)
    texts, secrets = run_flows(tmp_path, simulator_factory)
    assert len(secrets) > 5  # tokens were issued, so the check below has something to find
    assert any("IAM refused the credentials" in text for text in texts)
    logs = "\n".join(f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records)
    assert "POST /v3/auth/tokens" in logs  # DEBUG logging did capture the HTTP traffic
    assert_no_secret(logs + "\n".join(texts), secrets)


def test_cli_at_debug_level_leaks_no_secret(tmp_path, simulator_factory):
    iam = IamService(users=[IamUser(DOMAIN, USER, PASSWORD, IAM_PROJECT)], access_keys=[AccessKey(AK, SK, IAM_PROJECT)])
    sim = simulator_factory(World(seed=2, projects={PROJECT: 3}, pipelines={(2111976239, 6): 3}), token=None, iam=iam)
    runs = [
        (password_config(tmp_path / "password.yaml", sim.url, projects=[PROJECT]), {"TEST_IAM_PASSWORD": PASSWORD}),
        (aksk_config(tmp_path / "aksk.yaml", sim.url), {"TEST_SK": SK}),
    ]
    output = ""
    for path, env in runs:
        for flags in (["--once"], ["--check-config"]):
            result = run_cli("--config.file", str(path), "--log.level", "debug", *flags, env=env)
            assert result.returncode == 0, result.stderr
            output += result.stdout + result.stderr
    assert iam.issued == 1 and "codearts_up{" in output and f"iam {sim.url};" in output
    assert_no_secret(output, [PASSWORD, SK, *iam.issued_tokens])


def test_an_empty_sk_file_is_a_clear_startup_error(tmp_path, simulator_factory):
    sk_file = tmp_path / "sk"
    sk_file.write_text("\n")
    config = tmp_path / "c.yaml"
    config.write_text(aksk_config(tmp_path / "a.yaml", "http://127.0.0.1:9").read_text()
                      .replace("sk: ${TEST_SK}", f"sk_file: {sk_file}"))
    result = subprocess.run([sys.executable, "-m", "exporter", "--config.file", str(config), "--once"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"sk_file {sk_file} is empty" in result.stderr and "Traceback" not in result.stderr
