"""What a route of the simulator declares, and what its handler is given.

A :class:`Route` names the :class:`Api` it belongs to (whose error bodies the server uses for refused
or faulted requests), the counter and fault name of the route, the path it matches, the :class:`Target`
its paths name (for faults on one target) and the handler that answers it from a
:class:`RequestContext`. The server applies auth, the method check and faults before the handler is
called, so handlers only read the world and build a :class:`Reply`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from exporter.simulator.iam import IamService
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.world import World


@dataclass(frozen=True, slots=True)
class Api:
    """A CodeArts API as the simulator's core sees it: its name and how it says no."""

    name: str  # repo, build, iam, gateway
    errors: Mapping[int, tuple[str, str]]  # HTTP status -> (error_code, error_msg)
    throttle_reply: Reply | None = None  # how the service itself throttles; None: only the gateway's 429
    nested: bool = False  # errors as ``{"error": {"code", "message"}, "status": "failed"}`` (CodeArts Deploy)

    def error(self, status: int) -> Reply:
        """The API's error body for a status, e.g. ``{"error_code":"CB.00060200","error_msg":"Invalid parameter"}``."""
        code, message = self.errors[status]
        return json_reply(status, error_body(code, message, nested=self.nested))


def error_body(code: str, message: str, *, nested: bool = False) -> dict[str, object]:
    """A CodeArts error body: ``{error_code, error_msg}``, or Deploy's nested ``{error: {code, message}, status}``."""
    if nested:
        return {"error": {"code": code, "message": message}, "status": "failed"}
    return {"error_code": code, "error_msg": message}


# What answers a path no route matches.
GATEWAY = Api("gateway", {404: ("APIGW.0101", "The API does not exist or has not been published in the environment")})


@dataclass(frozen=True, slots=True)
class Target:
    """A kind of target a route's path names, as ``set_fault`` spells it (``build:<project_id>``)."""

    pattern: str  # a regular expression for the fault key, e.g. r"build:[^/]+"
    key: Callable[[re.Match[str]], str]  # the fault key of a matched path


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request as a handler sees it, with the parts of the simulator it may read."""

    method: str
    target: str  # the path with its query, as received
    query: Mapping[str, list[str]]
    body: bytes
    match: re.Match[str]  # the route's path pattern on the path
    world: World
    repo_paging: str
    build_paging: str
    iam: IamService | None


Handler = Callable[[RequestContext], Reply]


def always(context: RequestContext) -> bool:
    """Every simulator serves the route."""
    return True


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the route table."""

    api: Api
    name: str  # the route's request counter and fault name, e.g. build_records
    path: re.Pattern[str]  # matched against the whole path, without the query
    handler: Handler
    target: Target | None = None  # None: faults can be set on the route only
    method: str = "GET"  # a guarded route answers any other method with the API's 405
    # False: no gateway auth, method check or faults; the handler answers everything (IAM tokens).
    guarded: bool = True
    enabled: Callable[[RequestContext], bool] = always  # False: the path is unknown to this simulator
