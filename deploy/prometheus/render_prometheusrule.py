"""Render the Prometheus rule files of this folder as Kubernetes PrometheusRule manifests.

    python deploy/prometheus/render_prometheusrule.py [--runbook-base-url URL]

sets every alert's ``runbook_url`` in the rule files of this folder (and in their promtool unit tests) to
RUNBOOK_BASE_URL (or URL) + ``#<alert name in lower case>``, the alert's section of docs/alerts.md, then
writes deploy/kubernetes/prometheusrule.yaml (from alerts.yml) and prometheusrule-optional.yaml (from
alerts-optional.yml), overlays/sharded/prometheusrule-sharding.yaml (from
sharding-alerts.yml) and prometheusrule-dora.yaml (from dora-rules.yml, the DORA recording rules). tests/test_rules.py checks that the manifests hold exactly the rules of the files.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
KUBERNETES = HERE.parent / "kubernetes"
# Where docs/alerts.md is served. Alertmanager shows runbook_url as a link, so it must be absolute: set
# this (or pass --runbook-base-url) to where your team reads this repository's docs/alerts.md, e.g. your
# Git server's page of that file, and re-run the script.
RUNBOOK_BASE_URL = "https://codearts-exporter.example.com/docs/alerts.md"
# runbook_url: "<any base>#<anchor>", quoted or not, in a rule file or a unit test file
_RUNBOOK = re.compile(r"""^(?P<key>[ \t]*runbook_url:[ \t]*)(?P<quote>["']?)[^"'\n#]*#(?P<anchor>[a-z0-9-]+)(?P=quote)[ \t]*$""",
                      re.M)
# rule file -> (manifest, PrometheusRule name)
RENDERED = {
    "alerts.yml": ("prometheusrule.yaml", "codearts-exporter"),
    "alerts-optional.yml": ("prometheusrule-optional.yaml", "codearts-exporter-optional"),
    "sharding-alerts.yml": ("overlays/sharded/prometheusrule-sharding.yaml", "codearts-exporter-sharding"),
    "dora-rules.yml": ("prometheusrule-dora.yaml", "codearts-exporter-dora"),
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


def with_runbook_base(text: str, base_url: str) -> str:
    """``text`` (a rule file or a unit test file) with every runbook_url on ``base_url``, anchors kept."""
    return _RUNBOOK.sub(lambda m: f'{m["key"]}"{base_url}#{m["anchor"]}"', text)


def set_runbook_base(base_url: str) -> None:
    """Rewrite the runbook_url of every rule file and unit test file of this folder onto ``base_url``."""
    for path in sorted(HERE.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        updated = with_runbook_base(text, base_url)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            sys.stdout.write(f"wrote {path}\n")


def main(argv: list[str] | None = None) -> int:
    """Put every runbook_url on the base URL, then write every manifest."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runbook-base-url", default=RUNBOOK_BASE_URL,
                        help="absolute URL of docs/alerts.md (default: %(default)s)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"https?://[^\s#\"']+", args.runbook_base_url):
        parser.error("--runbook-base-url: expected an absolute http(s) URL without a fragment")
    set_runbook_base(args.runbook_base_url)
    for rule_file, (target, _) in RENDERED.items():
        (KUBERNETES / target).write_text(render(rule_file), encoding="utf-8")
        sys.stdout.write(f"wrote {KUBERNETES / target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
