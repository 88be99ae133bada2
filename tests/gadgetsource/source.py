"""The gadget source: the contract's attributes and hooks, tying the modules together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.client import CodeArtsClient, ParsedListing
from exporter.sinks import Sink
from exporter.snapshot import Target, TargetState
from exporter.sources.base import Source
from exporter.validation import Checker

from . import metrics, regions
from .config import GadgetSection, parse_section
from .fetch import THROTTLE_CODE, list_gadgets
from .render import render_shelf
from .targets import API, shelf_target


class GadgetSource(Source):
    """Gadgets on shelves."""

    name = API
    title = "Gadget shelves"
    config_keys = ("gadgets",)
    target_paths = ("gadgets.shelves",)
    job_specs = metrics.JOB_SPECS
    endpoint = True
    regional_endpoints = regions.ENDPOINTS
    default_rate = 4.0
    throttle_codes = frozenset({THROTTLE_CODE})
    throttling = f"the gadget API's HTTP 500 {THROTTLE_CODE}"

    def parse_config(self, check: Checker, top: Mapping[str, object]) -> GadgetSection | None:
        return parse_section(check, top)

    def needs_endpoint(self, top: Mapping[str, object]) -> bool:
        return bool(top.get("gadgets"))  # configurations written before it existed stay valid

    def has_targets(self, section: GadgetSection) -> bool:
        return bool(section.shelves)

    def targets(self, section: GadgetSection) -> tuple[Target, ...]:
        return tuple(shelf_target(shelf) for shelf in section.shelves)

    def summary(self, section: GadgetSection) -> str:
        return f"{len(section.shelves)} gadget shelves"

    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        return list_gadgets(client, target.key)

    def render(self, sink: Sink, state: TargetState) -> None:
        render_shelf(sink, state)


SOURCE = GadgetSource()
