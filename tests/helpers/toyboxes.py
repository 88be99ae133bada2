"""The toy source's upstream: boxes of toys, served by a JsonServer (test_toy_source, test_fifth_source)."""

from __future__ import annotations

BOXES = {"red": {"car": 3, "ball": 1.5}, "blue": {"kite": 7}, "green": {}, "amber": {"yoyo": 2, "top": 4},
         "plum": {"train": 12}, "teal": {"drum": 5}}


def boxes(path: str, query: str) -> tuple[int, object]:
    """``GET /boxes/{name}``: the box's toys on the first page, nothing after it; 404 for an unknown box."""
    name = path.removeprefix("/boxes/")
    toys = [{"id": toy, "size": size} for toy, size in BOXES.get(name, {}).items()] if "page=0" in query else []
    return (200 if name in BOXES else 404), toys
