"""The one reader of upstream error answers, for CodeArts and IAM alike: error bodies and ``Retry-After``."""

from __future__ import annotations

import json
import math
from email.utils import formatdate

import pytest
import requests

from exporter.upstream import error_fields, retry_after

NOW = 1_750_000_000.0
CEILING = 300.0


@pytest.mark.parametrize(("header", "asked", "seconds"), [
    ("30", 30.0, 30.0),
    (" 30 ", 30.0, 30.0),
    ("0", 0.0, 0.0),
    ("0.5", 0.5, 0.5),
    ("86400", 86400.0, CEILING),
    ("1e12", 1e12, CEILING),
    ("1e400", math.inf, CEILING),
    ("inf", math.inf, CEILING),
    ("Infinity", math.inf, CEILING),
    (formatdate(NOW + 120, usegmt=True), 120.0, 120.0),
    (formatdate(NOW - 120, usegmt=True), 0.0, 0.0),  # a date already past: no wait
    ("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799.0 - NOW, CEILING),
    ("Sun, 06 Nov 1994 08:49:37 -0000", 0.0, 0.0),  # a date without a zone is UTC
])
def test_a_retry_after_is_read_as_seconds_and_capped_at_the_ceiling(header, asked, seconds):
    wait = retry_after(header, now=NOW, ceiling=CEILING)
    assert wait is not None and wait.asked == asked and wait.seconds == seconds
    assert wait.clamped == (asked > CEILING)


@pytest.mark.parametrize("header", [None, "", "nan", "NaN", "-1", "-inf", "soon", "Fri, 32 Foo 2026 99:00:00 GMT"])
def test_an_unreadable_retry_after_leaves_the_callers_own_backoff(header):
    assert retry_after(header, now=NOW, ceiling=CEILING) is None


def answer(body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = 400
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return response


@pytest.mark.parametrize(("body", "fields"), [
    ({"error": {"code": 401, "title": "Unauthorized", "message": "wrong"}}, ("401", "wrong")),  # IAM, Keystone style
    ({"error_code": "CB.00060211", "error_msg": "busy"}, ("CB.00060211", "busy")),  # Build, Repo
    ({"errorCode": "DEVCP.00010000", "errorMsg": "unknown"}, ("DEVCP.00010000", "unknown")),
    ({"code": "X", "message": "y"}, ("X", "y")),
    ({"error_code": "E" * 100, "error_msg": "m" * 500}, ("E" * 64, "m" * 200)),
    ({"error_msg": "line\nforged"}, ("", "line\\nforged")),
    ([1, 2], ("", "")),
    (b"\xff not json", ("", "")),
])
def test_every_error_body_shape_reads_through_one_reader(body, fields):
    assert error_fields(answer(body)) == fields
