"""A toy source, defined entirely under tests/: what adding a CodeArts API takes, in one folder.

``toys:`` names a base URL and toy boxes; each box is a target whose items (``GET {url}/boxes/{name}``, a JSON
array of ``{"id": ..., "size": ...}``) become ``codearts_toy_item_size{box, item}``. No core module knows it:
the test puts :data:`SOURCE` in its own table of sources (``BUILTIN.plus(SOURCE)``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from exporter.client import CodeArtsClient, ParsedListing
from exporter.errors import PayloadError
from exporter.metrics import metric_spec
from exporter.pagination import PAGE_NUMBER_READINGS, Page
from exporter.payload import RecordError
from exporter.sinks import Sink
from exporter.snapshot import Target, TargetState
from exporter.sources.base import Source
from exporter.validation import Checker, integer, string, url

API = "toy"
BOX_NAME = re.compile(r"[a-z]{1,20}")
ITEM_SIZE = metric_spec("codearts_toy_item_size", "gauge", "Size of a toy in a box.", ("box", "item"), "toy")
BOX_ITEMS = metric_spec("codearts_toy_box_items", "gauge", "Toys in a box.", ("box",), "toy")


@dataclass(frozen=True, slots=True)
class ToySection:
    url: str
    boxes: tuple[str, ...]
    max_items: int


@dataclass(frozen=True, slots=True)
class Toy:
    id: str
    size: float


def parse_toy(raw: object) -> Toy:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("size"), int | float):
        raise RecordError("expected {id: string, size: number}")
    return Toy(raw["id"], float(raw["size"]))


class ToySource(Source):
    name = API
    title = "Toy boxes"
    config_keys = ("toys",)
    target_paths = ("toys.boxes",)
    job_specs = (ITEM_SIZE, BOX_ITEMS)

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> ToySection | None:
        section = check.section("toys", top.get("toys"), ("url", "boxes", "max_items"))
        if section is None:
            return None
        if not section:
            return ToySection("", (), 0)
        before = len(check.problems)
        base = url(check, "toys.url", section.get("url"))
        items = check.items("toys.boxes", section.get("boxes")) or []
        boxes = [string(check, f"toys.boxes[{index}]", item, pattern=BOX_NAME, expected="a box name (a-z)")
                 for index, item in enumerate(items)]
        most = integer(check, "toys.max_items", section.get("max_items"), 1, 100, 10)
        if len(check.problems) > before or base is None or most is None:
            return None
        return ToySection(base, tuple(box for box in boxes if box is not None), most)

    def has_targets(self, section: ToySection) -> bool:
        return bool(section.boxes)

    def targets(self, section: ToySection) -> tuple[Target, ...]:
        return tuple(Target(API, box) for box in section.boxes)

    def base_url(self, section: ToySection, endpoint: str | None) -> str:
        return section.url

    def summary(self, section: ToySection) -> str:
        return f"{len(section.boxes)} toy boxes"

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        address = f"{client.base_url(API)}/boxes/{target.key}"

        def decode(response: requests.Response) -> Page:
            body = client.decode_json(response)
            if not isinstance(body, list):
                raise PayloadError("expected a JSON array of toys", url=address, status=response.status_code)
            return Page(body, len(body))

        return client.listing(API, address, lambda index: {"page": index}, decode, PAGE_NUMBER_READINGS, parse_toy)

    def render(self, sink: Sink, state: TargetState) -> None:
        for toy in sorted(state.records, key=lambda toy: toy.id):
            sink.add(ITEM_SIZE, (state.target.key, toy.id), toy.size)
        sink.add(BOX_ITEMS, (state.target.key,), len(state.records))


SOURCE = ToySource()
