"""Fault modes of the simulator: wrong answers, throttling, gateway errors, slow or broken delivery,
expired tokens; and the settings that pick a fault for a share of requests.

Each action takes the :class:`~exporter.simulator.routing.Api` of the route, a function giving the
normal answer (called only when the fault needs it) and the setting's ``delay``, and returns the reply
to send.
"""

from __future__ import annotations

import enum
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from io import BufferedIOBase

from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api

Action = Callable[[Api, Callable[[], Reply], float], Reply]

APIGW_THROTTLED = {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached: "
                   "policy user over ratelimit,limit:10,time:1 second"}
GATEWAY_ERRORS = {
    502: {"error_code": "APIGW.0202", "error_msg": "Bad gateway"},
    503: {"error_code": "APIGW.0203", "error_msg": "Service unavailable"},
    504: {"error_code": "CH.080504", "error_msg": "Request timed out"},
}
TOKEN_EXPIRED = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: "
                 "The token must be updated"}
DRIP_PIECE = 64  # bytes per piece of a slow-drip body
DEFAULT_DELAYS = {"latency": 1.0, "slow_drip": 0.05, "throttled_retry_after": 1.0}


class Fault(enum.Enum):
    """A misbehaviour the simulator can be told to show for a route or one target."""

    TRUNCATED_JSON = "truncated_json"  # 200, the right headers, the body cut in half
    HTTP_500 = "http_500"  # the API's internal-error body
    NOT_FOUND = "not_found"  # the API's not-found body
    BAD_REQUEST = "bad_request"  # the API's invalid-parameter body (HTTP 400)
    LATENCY = "latency"  # the normal answer after a delay (default 1 s; clearing the faults ends it early)
    THROTTLED = "throttled"  # 429 APIGW.0308 without Retry-After
    THROTTLED_RETRY_AFTER = "throttled_retry_after"  # 429 APIGW.0308 with Retry-After (default 1 s)
    BUILD_THROTTLED = "build_throttled"  # Build: HTTP 500 CB.00060211; Repo: 429
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    RESET = "reset"  # the connection is reset instead of answered
    WRONG_CONTENT_TYPE = "wrong_content_type"  # 200 with an HTML page
    SLOW_DRIP = "slow_drip"  # the normal answer, its body 64 bytes at a time (default 0.05 s apart)
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a fault name, not a password; 401 "The token must be updated"


@dataclass(frozen=True, slots=True)
class FaultSetting:
    """A fault for a route or target: shown on a ``rate`` share of requests (0..1), with a ``delay``,
    on the next ``times`` requests only when that is set."""

    fault: Fault
    rate: float = 1.0
    delay: float | None = None
    times: int | None = None

    def delay_for(self) -> float:
        """The setting's delay, or the fault's default."""
        return self.delay if self.delay is not None else DEFAULT_DELAYS.get(self.fault.value, 0.0)


def _gateway(status: int) -> Action:
    return lambda api, respond, delay: json_reply(status, GATEWAY_ERRORS[status])


def _throttled(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    return json_reply(429, APIGW_THROTTLED)


def _throttled_retry_after(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    return json_reply(429, APIGW_THROTTLED, (("Retry-After", f"{delay:g}"),))


def _build_throttled(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    # CodeArts Build throttles with its own HTTP 500; an API without a throttle reply gets the gateway's 429.
    return api.throttle_reply or json_reply(429, APIGW_THROTTLED)


def _truncated(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    reply = respond()
    return replace(reply, body=reply.body[: len(reply.body) // 2])


def _latency(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    return replace(respond(), delay=delay)


def _slow_drip(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    return replace(respond(), drip=delay)


def _reset(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    return Reply(0, b"", reset=True)


def _wrong_content_type(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    # What a misconfigured proxy or a login portal answers: 200, HTML.
    return Reply(200, b"<html><body><h1>Welcome</h1><p>Please log in.</p></body></html>",
                 content_type="text/html; charset=utf-8")


def _token_expired(api: Api, respond: Callable[[], Reply], delay: float) -> Reply:
    return json_reply(401, TOKEN_EXPIRED)


# How each fault answers. Extend by adding a Fault member and a row here.
ACTIONS: dict[Fault, Action] = {
    Fault.TRUNCATED_JSON: _truncated,
    Fault.HTTP_500: lambda api, respond, delay: api.error(500),
    Fault.NOT_FOUND: lambda api, respond, delay: api.error(404),
    Fault.BAD_REQUEST: lambda api, respond, delay: api.error(400),
    Fault.LATENCY: _latency,
    Fault.THROTTLED: _throttled,
    Fault.THROTTLED_RETRY_AFTER: _throttled_retry_after,
    Fault.BUILD_THROTTLED: _build_throttled,
    Fault.HTTP_502: _gateway(502),
    Fault.HTTP_503: _gateway(503),
    Fault.HTTP_504: _gateway(504),
    Fault.RESET: _reset,
    Fault.WRONG_CONTENT_TYPE: _wrong_content_type,
    Fault.SLOW_DRIP: _slow_drip,
    Fault.TOKEN_EXPIRED: _token_expired,
}


def reset_connection(connection: socket.socket, reader: BufferedIOBase) -> None:
    """Close with an RST (linger 0) rather than a FIN: the client sees "connection reset by peer".
    The reader made from the socket is closed too, or the socket would not really close yet."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reader.close()
    connection.close()


def drip(out: BufferedIOBase, head: bytes, body: bytes, pause: float) -> None:
    """Send the head, then the body ``DRIP_PIECE`` bytes at a time with ``pause`` seconds between."""
    out.write(head)
    out.flush()
    for start in range(0, len(body), DRIP_PIECE):
        time.sleep(pause)
        out.write(body[start:start + DRIP_PIECE])
        out.flush()
