"""Gadget targets: a shelf, keyed by its name."""

from __future__ import annotations

from exporter.snapshot import Target

API = "gadget"


def shelf_target(shelf: str) -> Target:
    """The target of one shelf."""
    return Target(API, shelf)
