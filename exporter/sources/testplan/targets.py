"""TestPlan targets: a CodeArts project whose test plans are polled, keyed by the project id."""

from __future__ import annotations

from typing import Any

from exporter.snapshot import Target

API = "testplan"


def project_target(project_id: str, options: Any = None) -> Target:
    """The target of one CodeArts project's test plans; ``options``: its :class:`TestPlanProject` entry."""
    return Target(API, project_id, options=options)
