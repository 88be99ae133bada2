"""The names the names target lists: a CodeArts project's or a repository's, by id."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.payload import RecordError, required_dict, text_of

MAX_NAME = 256  # characters of a name kept as a label value


PROJECT, REPOSITORY = "project", "repository"  # what a Name names


@dataclass(frozen=True, slots=True)
class Name:
    """The name of a CodeArts project (by its 32-character id) or a repository (by its id, as text); where the
    name could not be read, the id itself, so every watched one has a name to show."""

    id: str
    name: str
    kind: str = PROJECT


def parse_project(raw: object) -> Name:
    """A project's name from one item of ProjectMan's ``projects`` (``project_id``, ``project_name``)."""
    record = required_dict(raw)
    project_id = text_of(record.get("project_id")).strip()
    name = text_of(record.get("project_name")).strip()[:MAX_NAME]
    if not project_id or not name:
        raise RecordError("a project without project_id or project_name")
    return Name(project_id, name, PROJECT)
