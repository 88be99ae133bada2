"""Name targets: the project list (ProjectMan) and the watched repositories (Repo), one target each."""

from __future__ import annotations

from typing import Any

from exporter.snapshot import Target

API = "projectman"
PROJECTS = "projects"  # the key of the target listing CodeArts projects' names
REPOSITORIES = "repositories"  # the key of the target reading the watched repositories' names


def names_target(key: str, options: Any) -> Target:
    """The target ``key`` (PROJECTS or REPOSITORIES); ``options``: the :class:`NamesSection` it reads."""
    return Target(API, key, options=options)
