"""A shelf's samples; no I/O."""

from __future__ import annotations

from exporter.sinks import Sink
from exporter.snapshot import TargetState

from .metrics import WATTS


def render_shelf(sink: Sink, state: TargetState) -> None:
    """One sample per gadget."""
    for gadget in sorted(state.records, key=lambda gadget: gadget.id):
        sink.add(WATTS, (state.target.key, gadget.id), gadget.watts)
