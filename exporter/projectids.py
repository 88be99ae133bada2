"""Which project id is which: the IAM project id (auth) against CodeArts project ids (targets).

Both are 32 hex characters and both are called "project id", so they are easily swapped, and a region name
(the IAM project's name) is easily given for its id. Each mistake would only show as a 401 or 404 at the
first poll; these checks name it before, with the README's table of ids in one line (:data:`WHICH_ID`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

IAM_PROJECT_ID = re.compile(r"[0-9a-fA-F]{32}")
REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")  # cn-north-4, ap-southeast-3, eu-west-101, la-south-2
# The README's table of ids as one row per id, " | " between them (a ConfigError joins problems with "; ").
WHICH_ID = ("(which id is which: auth.*.project_id = IAM project id, the region's project in IAM, "
            "GET https://iam.<region>.myhuaweicloud.com/v3/projects?name=<region> | projects[].id, "
            "pipeline_projects[].id, discovery.projects[].project_id = CodeArts project id, from ProjectMan "
            "GET /v4/projects | repositories[].id = repository id, an integer)")


def iam_project_id_problem(value: str, shown: str, *, password: bool) -> str | None:
    """Why ``value`` cannot be an IAM project id (``shown``: how to quote it), or None if it can be one."""
    if IAM_PROJECT_ID.fullmatch(value):
        return None
    if REGION_NAME.fullmatch(value):
        instead = f" (or project_name: {value})" if password else ""
        return (f"{shown} is a region name, not an IAM project id: give the region's IAM project id, 32 hex "
                f"characters{instead} {WHICH_ID}")
    return f"expected an IAM project id, 32 hex characters, got {shown} {WHICH_ID}"


def swapped_ids(iam: tuple[str, str] | None, codearts: Iterable[tuple[str, str]]) -> list[str]:
    """A warning for each CodeArts project id (``(setting, id)`` pairs) equal to the IAM project id ``iam``:
    the same id cannot be both, so one of them is in the wrong place."""
    if iam is None:
        return []
    iam_path, iam_id = iam
    return [f"{iam_path} equals {path} ({iam_id}): an IAM project id and a CodeArts project id are never the "
            f"same, so one of them is in the wrong place {WHICH_ID}"
            for path, project_id in codearts if project_id.lower() == iam_id.lower()]
