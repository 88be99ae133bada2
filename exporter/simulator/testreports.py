"""Simulated CodeArts Build unit-test summaries (``GET /v1/report/{job_id}/summary?build_no=``): which builds have
a report, and its counts. Pure data, no I/O; a pure function of (seed, job id, build number, the run).

Rules:

- A job's test profile is ``profile(seed, job_id)``: ``none`` (a quarter of the jobs: no test step; the API
  answers HTTP 404 ``CB.00060214``), ``empty`` (another quarter: HTTP 200 whose ``summary`` is null), else
  ``tests``: every finished build has a report (a build still going has none yet: 404).
- A report's counts: ``total`` 40..239 plus the build number modulo 7; a failed or timed-out build has 1..5
  ``failures`` and one ``errors`` in three; a successful build has none, except one in eight that is green
  while 1..3 tests fail (a step that ignores test failures); ``others`` (skipped) 0..3; ``success`` the rest.
- ``overrides`` (job id -> fields) are laid over every summary of that job, to show bad input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from exporter.simulator.cycle import Run, key64

PROFILES: tuple[str, ...] = ("none", "empty", "tests", "tests")


def profile(seed: int, job_id: str) -> str:
    """``none``, ``empty`` or ``tests``: whether and how a job's builds report unit tests."""
    return PROFILES[key64("codearts-sim/test-profile", seed, job_id) % len(PROFILES)]


def summary(seed: int, job_id: str, number: int, run: Run) -> dict[str, int]:
    """The case counts of build ``number`` (a finished run) of a job whose profile is ``tests``."""
    draw = key64("codearts-sim/test-report", seed, job_id, number)
    total = 40 + key64("codearts-sim/test-total", seed, job_id) % 200 + number % 7
    failures = errors = 0
    if run.outcome in ("failed", "timedout"):
        failures, errors = 1 + draw % 5, int((draw >> 8) % 3 == 0)
    elif run.outcome == "success" and (draw >> 16) % 8 == 0:
        failures = 1 + (draw >> 24) % 3  # green, while tests fail
    others = (draw >> 32) % 4
    return {"total": total, "success": total - failures - errors - others, "failures": failures,
            "errors": errors, "others": others}


def report_body(seed: int, job_id: str, number: int, run: Run,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ShowReportSummary body of a finished build of a ``tests`` job (the API-def's response example's
    shape: one summary, and one sub-summary for its only test step)."""
    counts = summary(seed, job_id, number, run)
    summary_body = {**counts, "execution_time": 500 + key64("codearts-sim/test-time", seed, job_id, number) % 90_000,
                    "is_success": counts["failures"] + counts["errors"] == 0,
                    "genrate_time": time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(run.finished // 1000)),
                    "build_no": number, "job_id": job_id, "root_id": f"{job_id[:16]}{number:016d}",
                    "stage_name": "stage2", "region": "sim-region-1",
                    "success_density": round(counts["success"] / counts["total"], 4)}
    summary_body |= dict(overrides or {})
    return {"status": "success", "error": None, "result": {"summary": summary_body, "sub_summarys": [summary_body]}}
