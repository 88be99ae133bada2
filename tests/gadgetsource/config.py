"""The gadget section: ``gadgets: {shelves: [name, ...]}``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.validation import Checker, string

SHELF = re.compile(r"[a-z]{1,20}")


@dataclass(frozen=True, slots=True)
class GadgetSection:
    """The shelves to watch."""

    shelves: tuple[str, ...] = ()


def parse_section(check: Checker, top: Mapping[str, object]) -> GadgetSection | None:
    """``gadgets:`` from the top-level mapping; None if invalid."""
    section = check.section("gadgets", top.get("gadgets"), ("shelves",))
    if section is None:
        return None
    items = check.items("gadgets.shelves", section.get("shelves", [])) or []
    shelves = [string(check, f"gadgets.shelves[{index}]", item, pattern=SHELF, expected="a shelf name (a-z)")
               for index, item in enumerate(items)]
    if None in shelves:
        return None
    return GadgetSection(tuple(shelf for shelf in shelves if shelf is not None))
