"""Deploy targets: a CodeArts project whose applications are polled, keyed by the project id."""

from __future__ import annotations

from typing import Any

from exporter.snapshot import Target

API = "deploy"


def project_target(project_id: str, options: Any = None) -> Target:
    """The target of one CodeArts project's applications; ``options``: its :class:`DeployProject` entry."""
    return Target(API, project_id, options=options)
