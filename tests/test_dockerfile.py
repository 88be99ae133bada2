"""The Dockerfile, read as data (no Docker engine here), and the wheel it installs, run from a fresh venv."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests
import yaml

from exporter.cli import build_parser

from .conftest import run_cli, wait_until
from .helpers.process import ExporterProcess

ROOT = Path(__file__).resolve().parent.parent


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append(pending)
        pending = ""
    assert not pending, "dangling line continuation"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in logical]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction, args in instructions((ROOT / "Dockerfile").read_text()):
        if instruction == "FROM":
            found.append([])
        found[-1].append((instruction, args))
    return found


def only(stage: list[tuple[str, str]], instruction: str) -> str:
    values = [args for name, args in stage if name == instruction]
    assert len(values) == 1, f"expected one {instruction} in the final stage, got {values}"
    return values[0]


def quick_start_command() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    first = re.findall(r"```sh\n(.*?)```", readme, re.S)[0].strip()
    return shlex.split(first.split("&&")[-1])


CONSTRAINTS = ROOT / "constraints.txt"


def test_two_stages_on_python_slim_and_the_final_one_copies_only_the_venv():
    build, final = stages()
    base, _, alias = build[0][1].partition(" AS ")
    assert alias == "build" and final[0] == ("FROM", base)
    # a full Python version and the Debian release, not a moving tag like python:3.12-slim
    assert re.fullmatch(r"python:3\.12\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert any(name == "RUN" and "pip wheel" in args and "python -m venv /opt/venv" in args for name, args in build)
    copies = [args for name, args in final if name in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    assert not [args for name, args in final if name == "RUN"], "the final stage must not run installers"
    assert "/opt/venv/bin" in only(final, "ENV").split("PATH=", 1)[1].split()[0]


def test_user_is_numeric_and_not_root():
    user = only(stages()[-1], "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, user
    assert not gid or (gid.isdigit() and int(gid) != 0), user


def test_exposed_port_is_the_default_listen_port():
    final = stages()[-1]
    assert only(final, "EXPOSE") == "9877"
    assert build_parser().get_default("listen_address") == ":9877"


def test_the_image_reads_the_configuration_the_kubernetes_manifests_mount_and_never_defaults_to_the_demo():
    final = stages()[-1]
    entrypoint, cmd = json.loads(only(final, "ENTRYPOINT")), json.loads(only(final, "CMD"))
    assert entrypoint == ["codearts-exporter"]
    args = build_parser().parse_args(cmd)
    assert not args.demo and args.config_file == "/etc/codearts-exporter/config.yaml"
    deployment = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "base" / "deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert build_parser().parse_args(container["args"]).config_file == args.config_file
    demo = quick_start_command()  # the README's runs the venv's console script
    assert [Path(demo[0]).name, *demo[1:]] == [*entrypoint, "--demo"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["codearts-exporter"] == "exporter.cli:main"


def test_a_container_started_without_configuration_says_what_it_needs(tmp_path):
    """The image's command, run where nothing is mounted at the configuration path."""
    cmd = json.loads(only(stages()[-1], "CMD"))
    missing = str(tmp_path / "etc" / "config.yaml")
    cmd[cmd.index("/etc/codearts-exporter/config.yaml")] = missing
    result = run_cli(*cmd, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"codearts-exporter: no configuration file at {missing}: ")
    for needed in (f"-v $PWD/config.yaml:{missing}:ro", "--print-example-config", "--demo", "credentials"):
        assert needed in line


def healthcheck_command() -> list[str]:
    check = only(stages()[-1], "HEALTHCHECK")
    assert "--interval=" in check and "--timeout=" in check
    return json.loads(check.split("CMD", 1)[1])


def test_healthcheck_probes_healthz_with_python_and_fails_when_nothing_answers(tmp_path):
    command = healthcheck_command()
    assert command[0] == "python" and "/healthz" in command[-1] and "127.0.0.1:9877" in command[-1]
    process = ExporterProcess(tmp_path, "health", "--demo")
    try:
        wait_until(lambda: "serving metrics on http://" in process.log.read_text(), timeout=30)
        port = re.search(r"serving metrics on http://127\.0\.0\.1:(\d+)", process.log.read_text()).group(1)
        probe = [sys.executable, *command[1:-1], command[-1].replace("9877", port)]
        assert subprocess.run(probe, capture_output=True, timeout=20, check=False).returncode == 0
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "ok\n"
    finally:
        process.stop()
    assert subprocess.run(probe, capture_output=True, timeout=20, check=False).returncode != 0


def test_dockerignore_keeps_tests_and_local_state_out_of_the_build_context():
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") + 1:][:5] == ["!pyproject.toml", "!README.md", "!exporter/", "!constraints.txt",
                                                  "!config.example.yaml"]
    copied = [args.split() for name, args in stages()[0] if name == "COPY"]
    assert copied == [["pyproject.toml", "README.md", "constraints.txt", "config.example.yaml", "./"],
                      ["exporter/", "exporter/"]]
    # the package's example is a link to the repository's, so the build context must hold its target
    link = ROOT / "exporter" / "config.example.yaml"
    assert link.is_symlink() and link.resolve() == (ROOT / "config.example.yaml").resolve()


def test_the_build_stage_installs_the_dependencies_at_the_pinned_versions():
    [install] = [args for name, args in stages()[0] if name == "RUN" and "/opt/venv/bin/pip install" in args]
    command = install.split("/opt/venv/bin/pip install", 1)[1].split("&&")[0].split()
    assert command[:2] == ["--constraint", "constraints.txt"] and command[2] == "/wheels/*.whl"
    pins = pinned()
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0]
        assert canonical(name) in pins, f"{name} is not pinned in constraints.txt"
    readme = (ROOT / "README.md").read_text()
    assert "pip freeze --exclude codearts-exporter > constraints.txt" in readme, "the refresh command is documented"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; every line an exact pin."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonical(name)] = version
    return pins


@pytest.mark.integration
def test_the_wheel_installs_into_a_fresh_venv_and_its_console_script_runs(tmp_path):
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=120)
    [wheel] = wheels.glob("*.whl")
    listing = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True,
                             check=True).stdout
    assert "exporter/demo.yaml" in listing and "exporter/config.example.yaml" in listing and "tests/" not in listing
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    # as the Dockerfile's build stage does: the pins are complete (pip adds nothing unpinned) and consistent
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--constraint", str(CONSTRAINTS), str(wheel)],
                   check=True, capture_output=True, timeout=180)
    frozen = subprocess.run([str(venv / "bin" / "pip"), "freeze", "--exclude", "codearts-exporter"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert {canonical(line.partition("==")[0]): line.partition("==")[2] for line in frozen.split()} == pinned()
    script = venv / "bin" / "codearts-exporter"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30, check=True)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert version.stdout.strip() == f"codearts-exporter {project['version']}"
    example = subprocess.run([str(script), "--print-example-config"], capture_output=True, text=True, timeout=30,
                             check=True, cwd=tmp_path)
    assert example.stdout == (ROOT / "config.example.yaml").read_text()
    demo = subprocess.run([str(script), "--demo", "--once"], capture_output=True, text=True, timeout=60,
                          check=False, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert 'codearts_up{api="build",target="6ecbc5bac7c8442fb3d2563d53c13582"} 1.0' in demo.stdout
