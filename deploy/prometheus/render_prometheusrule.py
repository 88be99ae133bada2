"""Render the Prometheus rule files of this folder as Kubernetes PrometheusRule manifests.

    python deploy/prometheus/render_prometheusrule.py

writes deploy/kubernetes/prometheusrule.yaml (from alerts.yml) and prometheusrule-optional.yaml (from
alerts-optional.yml) and overlays/sharded/prometheusrule-sharding.yaml (from
sharding-alerts.yml). tests/test_rules.py checks that the manifests hold exactly the rules of the files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
KUBERNETES = HERE.parent / "kubernetes"
# rule file -> (manifest, PrometheusRule name)
RENDERED = {
    "alerts.yml": ("prometheusrule.yaml", "codearts-exporter"),
    "alerts-optional.yml": ("prometheusrule-optional.yaml", "codearts-exporter-optional"),
    "sharding-alerts.yml": ("overlays/sharded/prometheusrule-sharding.yaml", "codearts-exporter-sharding"),
}


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL expressions) as literal blocks, as the rule files do."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def manifest(rules: dict[str, Any], name: str) -> dict[str, Any]:
    """The PrometheusRule object carrying the groups of a rule file."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "codearts-exporter", "app.kubernetes.io/component": "alerting"},
        },
        "spec": {"groups": rules["groups"]},
    }


def render(rule_file: str) -> str:
    """The manifest text for one rule file of this folder."""
    target, name = RENDERED[rule_file]
    rules = yaml.safe_load((HERE / rule_file).read_text(encoding="utf-8"))
    header = (f"# Generated from deploy/prometheus/{rule_file} by deploy/prometheus/render_prometheusrule.py:\n"
              "# edit the rule file and re-run the script, never this file.\n")
    body = yaml.dump(manifest(rules, name), Dumper=_Dumper, sort_keys=False, width=1_000, allow_unicode=True)
    return header + body


def main() -> int:
    """Write every manifest."""
    for rule_file, (target, _) in RENDERED.items():
        (KUBERNETES / target).write_text(render(rule_file), encoding="utf-8")
        sys.stdout.write(f"wrote {KUBERNETES / target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
