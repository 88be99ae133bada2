"""The names source's samples: an info series per named project or repository. No I/O."""

from __future__ import annotations

from exporter.sinks import Sink
from exporter.snapshot import TargetState
from exporter.sources.projectman import metrics as m
from exporter.sources.projectman.models import PROJECT, REPOSITORY, Name


def render_names(sink: Sink, state: TargetState) -> None:
    """``codearts_project_info`` and ``codearts_repo_repository_info``, one series per id (sorted)."""
    names: list[Name] = sorted(state.records, key=lambda name: name.id)
    for spec, kind in ((m.PROJECT_INFO, PROJECT), (m.REPOSITORY_INFO, REPOSITORY)):
        for name in names:
            if name.kind == kind:
                sink.add(spec, (name.id, name.name), 1)
