"""The families of the names source: one info series per watched CodeArts project and repository."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric_spec

PROJECT_INFO = metric_spec(
    "codearts_project_info", "gauge",
    "Always 1; the name of a CodeArts project the exporter watches (from ProjectMan, where it has an endpoint and "
    "may list projects).",
    ("project_id", "project"), "names")
REPOSITORY_INFO = metric_spec(
    "codearts_repo_repository_info", "gauge",
    "Always 1; the name of a CodeArts Repo repository the exporter watches.",
    ("repository_id", "repository"), "names")

JOB_SPECS: tuple[MetricSpec, ...] = (PROJECT_INFO, REPOSITORY_INFO)
