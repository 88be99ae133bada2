"""Docs that must stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.config import load_config
from exporter.metrics import markdown_table

ROOT = Path(__file__).resolve().parent.parent


def test_metrics_doc_table_is_generated_from_the_code():
    text = (ROOT / "docs" / "metrics.md").read_text()
    match = re.search(r"<!-- BEGIN GENERATED TABLE -->\n(.*)<!-- END GENERATED TABLE -->", text, re.S)
    assert match, "docs/metrics.md lost its generated-table markers"
    assert match.group(1) == markdown_table(), "run: python -m exporter.metrics and paste the table"


QUICK_START_DEMO = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/codearts-exporter --demo"
QUICK_START_TESTS = "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/python -m pytest"


def test_readme_starts_with_the_two_quick_start_commands_each_in_a_venv():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    assert [block.strip() for block in blocks[:2]] == [QUICK_START_DEMO, QUICK_START_TESTS]
    assert readme.index("## Quick start") == readme.index("## "), "the quick start must be the first section"


def test_ci_runs_the_readme_test_command_and_fails_when_it_fails():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    # set -e does not stop at a failure inside an && list: the command must end in an explicit exit.
    assert f"{QUICK_START_TESTS} || exit $?" in lines
    assert "set -euo pipefail" in lines


def test_example_config_loads():
    config = load_config(ROOT / "config.example.yaml", env={
        "CODEARTS_TOKEN": "t", "CODEARTS_PASSWORD": "p", "HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"})
    assert config.repositories and config.projects
