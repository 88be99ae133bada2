"""Paging quirks the simulator can show, shared by the routes of every API.

What a Repo ``offset`` counts (items, or pages from 0 or 1) and what a Build ``page_index`` counts (pages
from 0, or from 1 with 0 repeating page 1 or refused) are undocumented; the simulator serves each mode
so the exporter's paging is tested against all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REPO_PAGING_MODES: tuple[str, ...] = ("item", "page0", "page1")
BUILD_PAGING_MODES: tuple[str, ...] = ("zero", "one-repeat", "one-reject")
MAX_PAGE = 100


def int_param(query: Mapping[str, list[str]], name: str, default: int) -> int | None:
    """The integer query parameter ``name``, ``default`` if absent or empty, None if not an integer."""
    values = query.get(name)
    text = values[0].strip() if values else ""
    if not text:
        return default
    if not re.fullmatch(r"-?\d{1,12}", text):
        return None
    return int(text)


def repo_start(mode: str, offset: int, limit: int) -> int:
    """The first item index a Repo ``offset`` designates under a paging mode."""
    if mode == "item":
        return offset
    if mode == "page0":
        return offset * limit
    return (max(offset, 1) - 1) * limit


def build_start(mode: str, page_index: int, page_size: int) -> int | None:
    """The first item index a Build ``page_index`` designates under a paging mode; None if refused."""
    if mode == "zero":
        return page_index * page_size
    if mode == "one-reject" and page_index == 0:
        return None
    return (max(page_index, 1) - 1) * page_size
