"""The alert rules and the series they read, shared by the rules and dashboard tests."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import yaml

from exporter.sources.builtin import BUILTIN

ROOT = Path(__file__).resolve().parent.parent.parent


RULES_DIR = ROOT / "deploy" / "prometheus"


# Series Prometheus itself adds to every scrape, which rules and panels may use.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"}


def rule_files() -> list[Path]:
    """Every rule file of deploy/prometheus/ (the unit-test file has no groups)."""
    return [path for path in sorted(RULES_DIR.glob("*.yml")) if "groups" in yaml.safe_load(path.read_text())]


def alerts() -> list[dict]:
    """Every alerting rule of every rule file."""
    return [rule for path in rule_files() for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def exported_series() -> set[str]:
    """Every series name the exporter serves (histograms as their _bucket, _sum and _count)."""
    names = set()
    for spec in BUILTIN.specs():
        names.add(spec.sample_name)
        if spec.type == "histogram":
            names |= {spec.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def recorded_series() -> set[str]:
    """Every series the recording rules of the rule files record (``codearts:...``)."""
    return {rule["record"] for path in rule_files() for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (codearts_*, recorded codearts:* and Prometheus' own series)."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label names and values in strings (label_replace's) are not metrics
    names = set(re.findall(r"\bcodearts_[a-z_]+\b", expr)) | set(re.findall(r"\bcodearts:[a-z0-9_:]+", expr))
    names |= {name for name in re.findall(r"\b([a-zA-Z_]+)\{", expr) if name in PROMETHEUS_SERIES}
    return names


def load_script(path: Path) -> ModuleType:
    """Import a script that lives outside the package."""
    name = f"_script_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
