"""Pipeline targets: a CodeArts project whose pipelines are polled, keyed by the project id."""

from __future__ import annotations

from typing import Any

from exporter.snapshot import Target

API = "pipeline"


def project_target(project_id: str, options: Any = None) -> Target:
    """The target of one CodeArts project's pipelines; ``options``: its :class:`PipelineProject` entry."""
    return Target(API, project_id, options=options)
