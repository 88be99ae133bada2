"""The names target: one per configuration, naming the watched CodeArts projects and repositories."""

from __future__ import annotations

from typing import Any

from exporter.snapshot import Target

API = "projectman"
NAMES = "names"  # the key of the one names target


def names_target(options: Any) -> Target:
    """The names target; ``options``: the :class:`NamesSection` it reads."""
    return Target(API, NAMES, options=options)
