"""Build targets: a CodeArts project whose build jobs are polled, keyed by the project id."""

from __future__ import annotations

from exporter.snapshot import Target

API = "build"


def project_target(project_id: str) -> Target:
    """The target of one CodeArts Build project."""
    return Target(API, project_id)
