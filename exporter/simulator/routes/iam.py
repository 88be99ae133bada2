"""IAM routes of the simulator: ``POST /v3/auth/tokens``, served only by a simulator given an IAM.

The route is open: the gateway does not authenticate a token request, and the
:class:`~exporter.simulator.iam.IamService` answers wrong methods and bodies in IAM's own error shape.
"""

from __future__ import annotations

import re

from exporter.simulator.iam import TOKENS_PATH
from exporter.simulator.replies import Reply, json_reply
from exporter.simulator.routing import Api, RequestContext, Route

IAM = Api("iam", {})  # IAM's errors come from the IamService, in its own shape


def _has_iam(context: RequestContext) -> bool:
    return context.iam is not None


def _tokens(context: RequestContext) -> Reply:
    if context.iam is None:  # the route is enabled only with an IAM
        raise LookupError("iam_tokens served by a simulator without an IAM")
    answer = context.iam.issue(context.method, context.body)
    return json_reply(answer.status, answer.payload, answer.headers)


ROUTES: tuple[Route, ...] = (
    Route(IAM, "iam_tokens", re.compile(re.escape(TOKENS_PATH) + "/*"), _tokens, method="POST", guarded=False,
          enabled=_has_iam),
)
