"""Fault modes of the simulator beyond wrong answers: throttling, gateway errors, slow or broken
delivery, expired tokens; and the settings that pick a fault for a share of requests.

Each action takes the API flavour (``repo``/``build``), a function giving the normal answer (called
only when the fault needs it) and the setting's ``delay``, and returns the reply to send.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from exporter.simulator.replies import Reply, json_reply

Action = Callable[[str, Callable[[], Reply], float], Reply]

APIGW_THROTTLED = {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached: "
                   "policy user over ratelimit,limit:10,time:1 second"}
BUILD_THROTTLED = {"error_code": "CB.00060211", "error_msg": "Too many requests. Try again later."}
GATEWAY_ERRORS = {
    502: {"error_code": "APIGW.0202", "error_msg": "Bad gateway"},
    503: {"error_code": "APIGW.0203", "error_msg": "Service unavailable"},
    504: {"error_code": "CH.080504", "error_msg": "Request timed out"},
}
TOKEN_EXPIRED = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: "
                 "The token must be updated"}
DRIP_PIECE = 64  # bytes per piece of a slow-drip body
DEFAULT_DELAYS = {"latency": 1.0, "slow_drip": 0.05, "throttled_retry_after": 1.0}


@dataclass(frozen=True, slots=True)
class FaultSetting:
    """A fault for a route or target: shown on a ``rate`` share of requests (0..1), with a ``delay``,
    on the next ``times`` requests only when that is set."""

    fault: Any  # a server.Fault
    rate: float = 1.0
    delay: float | None = None
    times: int | None = None

    def delay_for(self) -> float:
        """The setting's delay, or the fault's default."""
        return self.delay if self.delay is not None else DEFAULT_DELAYS.get(self.fault.value, 0.0)


def _gateway(status: int) -> Action:
    return lambda api, respond, delay: json_reply(status, GATEWAY_ERRORS[status])


def _throttled(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    return json_reply(429, APIGW_THROTTLED)


def _throttled_retry_after(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    return json_reply(429, APIGW_THROTTLED, (("Retry-After", f"{delay:g}"),))


def _build_throttled(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    # CodeArts Build throttles with HTTP 500; the Repo side of the gateway throttles with 429.
    return json_reply(500, BUILD_THROTTLED) if api == "build" else json_reply(429, APIGW_THROTTLED)


def _latency(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    return replace(respond(), delay=delay)


def _slow_drip(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    return replace(respond(), drip=delay)


def _reset(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    return Reply(0, b"", reset=True)


def _wrong_content_type(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    # What a misconfigured proxy or a login portal answers: 200, HTML.
    return Reply(200, b"<html><body><h1>Welcome</h1><p>Please log in.</p></body></html>",
                 content_type="text/html; charset=utf-8")


def _token_expired(api: str, respond: Callable[[], Reply], delay: float) -> Reply:
    return json_reply(401, TOKEN_EXPIRED)


ACTIONS: dict[str, Action] = {
    "latency": _latency,
    "throttled": _throttled,
    "throttled_retry_after": _throttled_retry_after,
    "build_throttled": _build_throttled,
    "http_502": _gateway(502),
    "http_503": _gateway(503),
    "http_504": _gateway(504),
    "reset": _reset,
    "wrong_content_type": _wrong_content_type,
    "slow_drip": _slow_drip,
    "token_expired": _token_expired,
}


def reset_connection(connection: socket.socket, reader: BinaryIO) -> None:
    """Close with an RST (linger 0) rather than a FIN: the client sees "connection reset by peer".
    The reader made from the socket is closed too, or the socket would not really close yet."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reader.close()
    connection.close()


def drip(out: BinaryIO, head: bytes, body: bytes, pause: float) -> None:
    """Send the head, then the body ``DRIP_PIECE`` bytes at a time with ``pause`` seconds between."""
    out.write(head)
    out.flush()
    for start in range(0, len(body), DRIP_PIECE):
        time.sleep(pause)
        out.write(body[start:start + DRIP_PIECE])
        out.flush()
