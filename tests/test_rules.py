"""The alert rules: promtool checks and unit tests, their docs, and their PrometheusRule rendering."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from .helpers.rules import (
    PROMETHEUS_SERIES,
    ROOT,
    RULES_DIR,
    alerts,
    exported_series,
    load_script,
    metric_names,
    recorded_series,
    rule_files,
)

UNIT_TESTS = sorted(RULES_DIR.glob("*_test.yml"))
ALERTS_DOC = ROOT / "docs" / "alerts.md"
RENDER = RULES_DIR / "render_prometheusrule.py"
PROMTOOL = shutil.which("promtool")
# On CI promtool is installed by .ci/run, so its absence there is a failure, not a skip.
needs_promtool = pytest.mark.skipif(PROMTOOL is None and os.environ.get("CI") != "true",
                                    reason="promtool not installed (apt-get install prometheus)")
SEVERITIES = ("critical", "warning", "info")


@needs_promtool
def test_promtool_accepts_every_rule_file():
    assert PROMTOOL, "promtool must be installed on CI"
    files = rule_files()
    assert {path.name for path in files} == {"alerts.yml", "alerts-optional.yml", "sharding-alerts.yml",
                                         "dora-rules.yml"}
    result = subprocess.run([PROMTOOL, "check", "rules", *map(str, files)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


@needs_promtool
def test_promtool_accepts_the_example_prometheus_config():
    assert PROMTOOL, "promtool must be installed on CI"
    example = RULES_DIR / "prometheus.example.yml"
    result = subprocess.run([PROMTOOL, "check", "config", str(example)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (scrape,) = yaml.safe_load(example.read_text())["scrape_configs"]
    assert scrape["honor_labels"] is True
    down = next(rule for rule in alerts() if rule["alert"] == "CodeArtsExporterDown")
    assert f'up{{job="{scrape["job_name"]}"}}' in down["expr"]


@needs_promtool
def test_promtool_unit_tests_pass():
    assert PROMTOOL, "promtool must be installed on CI"
    result = subprocess.run([PROMTOOL, "test", "rules", *map(str, UNIT_TESTS)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS) == len(rule_files())


def test_unit_tests_load_every_rule_file_and_see_every_alert_fire_and_not_fire():
    loaded = set()
    fires: dict[str, list[int]] = {}
    quiet: dict[str, list[int]] = {}
    cases = []
    for path in UNIT_TESTS:
        tests = yaml.safe_load(path.read_text())
        loaded |= set(tests["rule_files"])
        cases += tests["tests"]
    assert loaded == {path.name for path in rule_files()}
    for case in cases:
        for check in case.get("alert_rule_test", []):
            when = _minutes(check["eval_time"])
            (fires if check["exp_alerts"] else quiet).setdefault(check["alertname"], []).append(when)
    for rule in alerts():
        name = rule["alert"]
        assert name in fires, f"{name} is never tested firing"
        assert name in quiet, f"{name} is never tested not firing"
        if "for" in rule:  # pending at for - 1 min, firing at or after it: some quiet check precedes a firing one
            assert min(quiet[name]) < max(fires[name]), f"{name}: its for: {rule['for']} is not tested"


def _minutes(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([mh])", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "h" else 1)


def test_every_alert_has_severity_annotations_and_a_runbook_section():
    doc = ALERTS_DOC.read_text()
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"CodeArts[A-Za-z]+", name)
        severity = rule["labels"]["severity"]
        assert severity in SEVERITIES, name
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        assert rule["annotations"]["runbook_url"] == f"{load_script(RENDER).RUNBOOK_BASE_URL}#{name.lower()}"
        section = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
        assert section, f"docs/alerts.md has no section ## {name}"
        text = section.group(1)
        assert f"**Severity:** {severity}" in text, name
        assert "**Runbook:**" in text and "**Threshold:**" in text and "**For:**" in text, name
        assert f"**For:** {rule.get('for', '0m')}" in text, name
        assert f"`{_one_line(rule['expr'])}`" in text, f"{name}: the doc's expression differs from the rule's"


def _one_line(expr: str) -> str:
    return re.sub(r"\s+", " ", expr).strip()


def test_rules_use_only_metrics_the_exporter_serves():
    served = exported_series() | recorded_series() | PROMETHEUS_SERIES
    for rule in alerts():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= served, f"{rule['alert']} uses unknown metrics {names - served}"


def test_prometheusrule_manifests_are_rendered_from_the_rule_files():
    render = load_script(RULES_DIR / "render_prometheusrule.py")
    assert set(render.RENDERED) == {path.name for path in rule_files()}
    for rule_file, (manifest_name, object_name) in render.RENDERED.items():
        manifest_path = ROOT / "deploy" / "kubernetes" / manifest_name
        text = manifest_path.read_text()
        assert text == render.render(rule_file), "run: python deploy/prometheus/render_prometheusrule.py"
        manifest = yaml.safe_load(text)
        assert manifest["apiVersion"] == "monitoring.coreos.com/v1" and manifest["kind"] == "PrometheusRule"
        assert manifest["metadata"]["name"] == object_name
        assert manifest["spec"]["groups"] == yaml.safe_load((RULES_DIR / rule_file).read_text())["groups"]


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub (and most Markdown renderers) give the headings of a page."""
    return {re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", markdown, re.M)}


def test_every_runbook_url_is_absolute_on_the_one_base_url_and_its_anchor_exists():
    base = load_script(RENDER).RUNBOOK_BASE_URL
    assert re.fullmatch(r"https://[^#\s]+/alerts\.md", base)
    anchors = _github_anchors(ALERTS_DOC.read_text())
    files = [*RULES_DIR.glob("*.yml"), *(ROOT / "deploy" / "kubernetes").rglob("prometheusrule*.yaml")]
    urls = [url for path in files for url in re.findall(r"runbook_url:\s*[\"']?([^\"'\s]+)", path.read_text())]
    assert len(urls) > 2 * len(alerts()), "every rule file, unit test and manifest carries runbook links"
    for url in urls:
        page, _, anchor = url.partition("#")
        assert page == base, url
        assert anchor in anchors, f"{url}: docs/alerts.md has no such heading"


def test_one_setting_moves_every_runbook_url_to_another_base():
    render = load_script(RENDER)
    for path in RULES_DIR.glob("*.yml"):
        text = path.read_text()
        moved = render.with_runbook_base(text, "https://git.example.org/ops/docs/alerts.md")
        assert render.RUNBOOK_BASE_URL not in moved
        assert moved.count("https://git.example.org/ops/docs/alerts.md#") == text.count("runbook_url:")
        assert render.with_runbook_base(moved, render.RUNBOOK_BASE_URL) == text, "nothing else changes"


@needs_promtool
def test_unit_tests_fail_without_the_minimum_runs_of_the_ratio_alerts(tmp_path):
    """The promtool tests hold cases (one failed run out of one) that only the minimum-runs clause keeps quiet."""
    assert PROMTOOL, "promtool must be installed on CI"
    rules = (RULES_DIR / "alerts.yml").read_text()
    minimums = re.findall(r"\n\s*and sum by \([^)]*\) \(increase\([^\n]*\)\) >= 5(?=,?\n)", rules)
    assert len(minimums) == 2, "CodeArtsBuildJobFlaky and CodeArtsApiErrors each need a minimum count"
    for minimum in minimums:
        rules = rules.replace(minimum, "")
    (tmp_path / "alerts.yml").write_text(rules)
    (tmp_path / "alerts_test.yml").write_text((RULES_DIR / "alerts_test.yml").read_text())
    result = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "alerts_test.yml")], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode != 0
    report = result.stdout + result.stderr
    assert 'job_id="j5"' in report and 'job_id="j6"' in report and 'instance="c:9877"' in report, report
