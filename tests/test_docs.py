"""Docs that must stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.config import load_config
from exporter.metrics import markdown_table
from exporter.registry import all_specs

ROOT = Path(__file__).resolve().parent.parent


def test_metrics_doc_table_is_generated_from_the_code():
    text = (ROOT / "docs" / "metrics.md").read_text()
    match = re.search(r"<!-- BEGIN GENERATED TABLE -->\n(.*)<!-- END GENERATED TABLE -->", text, re.S)
    assert match, "docs/metrics.md lost its generated-table markers"
    assert match.group(1) == markdown_table(all_specs()), "run: python -m exporter.registry and paste the table"


def test_readme_quick_start_is_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    assert blocks[0].strip() == "pip install . && codearts-exporter --demo"
    assert blocks[1].strip() == "pip install '.[test]' && python -m pytest"
    assert "python3 -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_example_config_loads():
    config = load_config(ROOT / "config.example.yaml", env={
        "CODEARTS_TOKEN": "t", "CODEARTS_PASSWORD": "p", "HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"})
    assert config.section("repo").repositories and config.section("build")
