"""The names source's samples: an info series per named project or repository. No I/O."""

from __future__ import annotations

from exporter.sinks import Sink
from exporter.snapshot import TargetState
from exporter.sources.projectman import metrics as m
from exporter.sources.projectman.models import Name
from exporter.sources.projectman.targets import PROJECTS


def render_names(sink: Sink, state: TargetState) -> None:
    """``codearts_project_info`` or ``codearts_repo_repository_info``, one series per id (sorted)."""
    spec = m.PROJECT_INFO if state.target.key == PROJECTS else m.REPOSITORY_INFO
    names: list[Name] = sorted(state.records, key=lambda name: name.id)
    for name in names:
        sink.add(spec, (name.id, name.name), 1)
