"""A build's unit-test summary: ``GET /v1/report/{job_id}/summary?build_no=`` (ShowReportSummary), read into a
:class:`TestSummary`, or an answer that there is none.

The API-def's response example gives ``result.summary`` with ``total``, ``success``, ``failures``, ``errors``,
``others`` and ``build_no`` (its schema-level examples are scrambled: ``errors: "2024-08-12T02:31:01+0800"``),
so the types are trusted, not those values: a count must be a JSON integer >= 0 and ``total`` the sum of the
four parts, or the summary is unreadable. What the API answers for a build without tests is not documented
(codearts-deploy-dora-tests-api.md section 7 item 8): a 404, a 4xx with a Build error code (``CB.*``) or a
summary that is null all read as "no report"; a 5xx (Build's throttle code included) is a failed request, asked
again later. ``execution_time`` (its unit is undocumented) is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.client import CodeArtsClient
from exporter.errors import ClientError, CodeArtsError, NotFoundError
from exporter.payload import MAX_INT32
from exporter.sources.build.targets import API
from exporter.sources.build.testmodels import TestSummary

TESTS_API = "build_tests"  # the skip-counter label of unit-test summaries
_FIELDS = ("success", "failures", "errors", "others")  # the summary's fields, in that order


@dataclass(frozen=True, slots=True)
class ReportAnswer:
    """What asking for one build's report gave: a summary, or none and why (a skip reason: ``no_report``,
    ``malformed``, ``wrong_build``)."""

    summary: TestSummary | None
    reason: str = ""


NO_REPORT = ReportAnswer(None, "no_report")


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_INT32 else None


def parse_summary(body: Any, build_no: int) -> ReportAnswer:
    """The answer a ShowReportSummary body gives for build ``build_no``."""
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        return ReportAnswer(None, "malformed")
    summary = result.get("summary")
    if summary is None:
        return NO_REPORT
    if not isinstance(summary, dict):
        return ReportAnswer(None, "malformed")
    parts = [_count(summary.get(name)) for name in _FIELDS]
    total = _count(summary.get("total"))
    if total is None or None in parts or sum(part or 0 for part in parts) != total:
        return ReportAnswer(None, "malformed")
    number = summary.get("build_no")
    if number is not None and (isinstance(number, bool) or number != build_no):
        return ReportAnswer(None, "wrong_build")
    passed, failed, error, other = (part or 0 for part in parts)
    return ReportAnswer(TestSummary(build_no, (passed, failed, error, other)))


def means_no_report(err: CodeArtsError) -> bool:
    """True if an error answer says the build has no report (a 404, or a 4xx with a Build error code), rather
    than that the request failed (credentials, throttling, a server or network fault: asked again later)."""
    return isinstance(err, NotFoundError) or (isinstance(err, ClientError) and err.error_code.startswith("CB."))


def fetch_summary(client: CodeArtsClient, job_id: str, build_no: int) -> ReportAnswer:
    """Ask for one build's unit-test summary (on the Build rate limit). Raises :class:`CodeArtsError` when the
    request failed, so the build is asked again later."""
    url = f"{client.base_url(API)}/v1/report/{job_id}/summary"
    try:
        response = client.get(API, url, {"build_no": build_no})
    except CodeArtsError as err:
        if means_no_report(err):
            return NO_REPORT
        raise
    return parse_summary(client.decode_json(response), build_no)
