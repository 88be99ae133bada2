"""What the simulator answers: an HTTP status, a body, headers, and how to put it on the wire."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, body, extra headers; ``delay``, ``drip`` and ``reset`` shape its delivery
    (seconds before the head, seconds between small pieces of the body, a connection reset instead)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = JSON_CONTENT_TYPE
    delay: float = 0.0
    drip: float = 0.0
    reset: bool = False


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A reply carrying ``payload`` as compact JSON."""
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), headers)
