"""The Grafana dashboards: generated from grafana/generate.py, well-formed, over metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .helpers.rules import PROMETHEUS_SERIES, alerts, exported_series, load_script, metric_names, recorded_series

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"
PROVISIONING = ROOT / "grafana" / "provisioning"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
generate = load_script(ROOT / "grafana" / "generate.py")


def dashboards() -> dict[str, dict]:
    """Every dashboard file, parsed, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict) -> list[dict]:
    """Every panel that is not a row."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_dashboard_files_are_what_the_generator_writes():
    expected = {dashboard.filename: generate.dashboard_text(dashboard) for dashboard in generate.ALL_DASHBOARDS}
    found = {path.name: path.read_text() for path in DASHBOARDS_DIR.glob("*.json")}
    assert set(found) == set(expected)
    for name, text in expected.items():
        assert found[name] == text, f"{name} differs: run python grafana/generate.py"


def test_dashboards_doc_lists_every_panel_as_generated():
    text = (ROOT / "docs" / "dashboards.md").read_text()
    match = re.search(r"<!-- BEGIN GENERATED PANELS -->\n(.*)<!-- END GENERATED PANELS -->", text, re.S)
    assert match, "docs/dashboards.md lost its generated-section markers"
    assert match.group(1) == generate.doc_section(), "run python grafana/generate.py"
    for dashboard in dashboards().values():
        for panel in panels(dashboard):
            assert f"| {panel['title']} ({panel['type']}) |" in match.group(1)


def test_the_six_dashboards_exist_with_unique_uids():
    found = dashboards()
    assert set(found) == {"codearts-overview.json", "codearts-build-job.json", "codearts-repo-pipeline.json",
                          "codearts-pipeline.json", "codearts-deploy.json", "codearts-exporter.json",
                          "codearts-tests.json", "codearts-dora.json"}
    uids = [dashboard["uid"] for dashboard in found.values()]
    assert len(set(uids)) == len(uids)


def test_every_panel_and_query_uses_the_datasource_variable():
    for name, dashboard in dashboards().items():
        variables = dashboard["templating"]["list"]
        assert variables[0]["name"] == "datasource" and variables[0]["type"] == "datasource", name
        assert variables[0]["query"] == "prometheus"
        for variable in variables[1:]:
            assert variable["datasource"] == DATASOURCE, (name, variable["name"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(set(ids)) == len(ids), name
        for panel in panels(dashboard):
            assert panel["datasource"] == DATASOURCE, (name, panel["title"])
            assert panel["targets"] and panel["description"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, (name, panel["title"])


def test_template_variables_are_selected_with_regex_matchers():
    """A multi-value variable expands to ``a|b`` (or ``.*`` for All): only ``=~`` selects with it."""
    for name, dashboard in dashboards().items():
        variable_names = [v["name"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
        texts = [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]
        texts += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
        for text in texts:
            for used in re.findall(r"\$(\w+)", text):
                if used.startswith("__") or used.isdigit():  # Grafana's own, or label_replace's "$1"
                    continue
                assert used in variable_names, f"{name}: unknown variable ${used} in {text}"
                assert f'=~"${used}"' in text, f"{name}: ${used} must be used as =~\"${used}\" in {text}"


def test_panels_fit_the_grid():
    for name, dashboard in dashboards().items():
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, (name, panel["title"])


def test_queries_use_only_metrics_the_exporter_serves():
    served = exported_series() | recorded_series() | PROMETHEUS_SERIES
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel["targets"]:
                used = metric_names(target["expr"])
                assert used, (name, panel["title"], target["expr"])
                assert used <= served, f"{name}: {panel['title']} uses unknown metrics {used - served}"


def test_provisioning_files_load_the_dashboards_and_a_prometheus_datasource():
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "codearts.yaml").read_text())
    assert datasources["apiVersion"] == 1
    assert [source["type"] for source in datasources["datasources"]] == ["prometheus"]
    # $__rate_interval is derived from timeInterval: it must be the scrape interval the examples use
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.example.yml").read_text())
    monitor = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "base" / "servicemonitor.yaml").read_text())
    [source] = datasources["datasources"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert source["jsonData"]["timeInterval"] == scrape["global"]["scrape_interval"] == endpoint["interval"]
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "codearts.yaml").read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_token_expiry_panel_turns_red_where_the_token_alert_fires():
    (rule,) = [rule for rule in alerts() if rule["alert"] == "CodeArtsTokenExpiringSoon"]
    threshold = float(re.fullmatch(r"codearts_auth_token_expiry_timestamp_seconds - time\(\) < (\d+)\s*",
                                   rule["expr"])[1])
    (panel,) = [panel for panel in panels(dashboards()["codearts-exporter.json"])
                if panel["title"] == "Token expires in"]
    assert panel["targets"][0]["expr"] == 'codearts_auth_token_expiry_timestamp_seconds{instance=~"$instance"} - time()'
    assert panel["fieldConfig"]["defaults"]["unit"] == "s"
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [{"color": "red", "value": None}, {"color": "green", "value": threshold}]
