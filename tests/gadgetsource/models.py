"""Gadget records."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.payload import RecordError


@dataclass(frozen=True, slots=True)
class Gadget:
    """One gadget on a shelf."""

    id: str
    watts: float


def parse_gadget(raw: object) -> Gadget:
    """A gadget from ``{"id": ..., "watts": ...}``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("watts"), int | float):
        raise RecordError("expected {id: string, watts: number}")
    return Gadget(raw["id"], float(raw["watts"]))
