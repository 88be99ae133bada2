"""Build targets: a CodeArts project whose build jobs are polled, keyed by the project id."""

from __future__ import annotations

from typing import Any

from exporter.snapshot import Target

API = "build"


def project_target(project_id: str, options: Any = None) -> Target:
    """The target of one CodeArts Build project; ``options``: its :class:`ProjectTarget` entry (name filters)."""
    return Target(API, project_id, options=options)
