"""Docs that must stay true to the code."""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import bcrypt
import yaml

from exporter.config import load_config, parse_config
from exporter.metrics import markdown_table
from exporter.sources.builtin import BUILTIN
from exporter.webconfig import BasicAuth, load_web_config

ROOT = Path(__file__).resolve().parent.parent


def test_metrics_doc_table_is_generated_from_the_code():
    text = (ROOT / "docs" / "metrics.md").read_text()
    match = re.search(r"<!-- BEGIN GENERATED TABLE -->\n(.*)<!-- END GENERATED TABLE -->", text, re.S)
    assert match, "docs/metrics.md lost its generated-table markers"
    assert match.group(1) == markdown_table(BUILTIN.specs()), \
        "run: python -m exporter.sources.builtin and paste the table"


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
        "CODEARTS_TOKEN": "t", "CODEARTS_PASSWORD": "p", "HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"},
        sources=BUILTIN)
    assert config.section("repo").repositories and config.section("build").projects


def test_readme_connecting_section_configuration_is_valid(tmp_path):
    """The first real configuration the README suggests validates, placeholders filled in."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Connecting a real account"):readme.index("## Running against CodeArts")]
    assert "--print-example-config" in section
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    sk = tmp_path / "sk"
    sk.write_text("secret\n")
    text = (blocks[-1].replace("<IAM project id>", "0a1b2c3d4e5f60718293a4b5c6d7e8f9")
            .replace("<CodeArts project id>", "6ecbc5bac7c8442fb3d2563d53c13582")
            .replace("/run/secrets/codearts-sk", str(sk)))
    config = parse_config(yaml.safe_load(text), env={"HUAWEICLOUD_SDK_AK": "AK"}, sources=BUILTIN)
    assert config.discovers() and config.section("build").projects
    for setting in ("auth.aksk.project_id", "projects[].id", "repositories[].id", "repositories[].pipelines",
                    "discovery.projects[].project_id"):
        assert f"`{setting}`" in section


def test_history_doc_does_not_call_discovery_unimplemented():
    text = (ROOT / "docs" / "history.md").read_text()
    assert "not implemented" not in text
    assert "](discovery.md)" in text


def test_readme_bcrypt_one_liner_makes_a_hash_the_web_config_accepts(tmp_path):
    readme = (ROOT / "README.md").read_text()
    [command] = [line for line in re.findall(r"```sh\n(.*?)```", readme, re.S) if "import bcrypt" in line]
    argv = shlex.split(command.strip())
    assert argv[:2] == [".venv/bin/python", "-c"]
    # No controlling terminal, so getpass reads the password from stdin.
    result = subprocess.run([sys.executable, "-c", argv[2]], input="s3cret\n", capture_output=True, text=True,
                            timeout=30, check=True, start_new_session=True)
    hashed = result.stdout.strip()
    assert bcrypt.checkpw(b"s3cret", hashed.encode())
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    auth = BasicAuth(load_web_config(web).users)
    assert auth.check("Basic " + base64.b64encode(b"prometheus:s3cret").decode())
    assert not auth.check("Basic " + base64.b64encode(b"prometheus:wrong").decode())


def _services() -> list[str]:
    """Each registered source of CI data's CodeArts service, as its title names it ("CodeArts Repo pipelines"
    -> "CodeArts Repo"): a source added later is found here without editing this test. The names source
    (no targets of its own to configure) is not one."""
    return [" ".join(source.title.split()[:2]) for source in BUILTIN if source.target_paths]


def test_readme_help_package_and_example_configmaps_name_every_source():
    services = _services()
    assert services[:4] == ["CodeArts Repo", "CodeArts Build", "CodeArts Pipeline", "CodeArts Deploy"], "the sources"
    readme = (ROOT / "README.md").read_text()
    first_paragraph = readme.split("\n\n", 2)[1]
    description = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"]
    help_text = " ".join(subprocess.run([sys.executable, "-m", "exporter", "--help"], capture_output=True,
                                        text=True, check=True).stdout.split())
    for service in services:
        assert service in first_paragraph and service in description and service in help_text, service
    for path in ("base/config.yaml", "overlays/password/config.yaml"):
        config = yaml.safe_load((ROOT / "deploy" / "kubernetes" / path).read_text())  # configMapGenerator input
        configured = {source.name for source in BUILTIN
                      if any(config.get(key) for key in source.target_paths if "." not in key)}
        assert configured == {source.name for source in BUILTIN if source.target_paths}, path


def test_architecture_doc_says_who_owns_every_core_module():
    # docs/architecture.md "Who owns what" is the map a newcomer reads; a core module missing from it is a
    # module nobody was told about.
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text.split("## Who owns what", 1)[1].split("\nRules the tests hold", 1)[0]
    named = set(re.findall(r"`([a-z_]+)\.py`", table))
    core = {path.stem for path in (ROOT / "exporter").glob("*.py")} - {"__init__"}
    assert core - named == set()
