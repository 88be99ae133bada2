"""Typed records of CodeArts TestPlan payloads (a plan of ``ShowPlanList``) and their tolerant parsers.

Rates come as strings, ``"33.3%"`` or ``"33.3"`` (the docs show the first; codearts-deploy-dora-tests-api.md
section 7 item 9 says neither is confirmed live): both read as 0.333. ``"N/A"``, an empty or unreadable rate
or one outside 0-100 % is no reading (the plan stays; its pass ratio is not exported, and counted skipped).
Counts that are not non-negative integers are no reading either. Dates are ``yyyy-MM-dd``, zone-less.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from exporter.assumptions import contradicted
from exporter.payload import MAX_INT32, RecordError, number_of, required_dict, text_of

MAX_NAME = 256
MAX_ID = 64
OTHER_STAGE = "other"  # a current_stage outside the documented four (never watched, counted in the log)


@dataclass(frozen=True, slots=True)
class TestPlan:
    """One test plan as the listing shows it; None marks a field that was absent or unreadable."""

    __test__ = False  # not a pytest test class, whatever its name

    id: str
    name: str
    stage: str  # current_stage: create, design, execute, report (or other)
    iteration: str  # the iteration's name, "" if none
    pass_ratio: float | None  # execute_stage.case_pass_rate, 0..1
    executed: int | None  # execute_stage.executed_case_count
    defects: int | None  # execute_stage.defect_count
    resolved: int | None  # execute_stage.completed_defect_count
    overdue_days: int | None  # expire_day (> 0: overdue by that many days)
    end_date: date | None
    rate_text: str = ""  # the pass rate as sent, when it could not be read (for the log)

    @property
    def open_defects(self) -> int | None:
        """Defects not completed: all minus completed, when both are known and consistent."""
        if self.defects is None or self.resolved is None or self.resolved > self.defects:
            return None
        return self.defects - self.resolved


NO_RATE = ("", "N/A", "NA", "-")  # what a plan with no executed case may show: no reading, as expected


def parse_rate(value: object) -> float | None:
    """A rate string (``"33.3%"``, ``"33.3"``, or a number) as a ratio 0..1; None if it is no reading (anything
    but a plain absence is reported as contradicting ``rate_format``)."""
    text = "" if isinstance(value, bool) else text_of(value).strip()
    number = number_of(text[:-1].strip() if text.endswith("%") else text)
    if number is not None and 0 <= number <= 100:
        return round(number / 100.0, 8)
    if value is not None and text.upper() not in NO_RATE:
        contradicted("rate_format", f"case_pass_rate {text[:32]!r} is no percentage")
    return None


def count_of(value: object) -> int | None:
    """A case or defect count: a JSON integer 0..2^31-1 (a string or a negative number is no reading)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_INT32 else None


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(text_of(value).strip()[:10])
    except ValueError:
        return None


def _days(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if abs(value) <= 100_000 else None


def _stage(value: object) -> str:
    stage = text_of(value).strip().lower()
    return stage if stage in ("create", "design", "execute", "report") else OTHER_STAGE


def _name_of(value: object) -> str:
    return text_of(value.get("name"))[:MAX_NAME] if isinstance(value, dict) else ""


def parse_plan(raw: object) -> TestPlan:
    """A :class:`TestPlan` from one item of the plan listing; :class:`RecordError` without a ``plan_id``."""
    record = required_dict(raw)
    plan_id = text_of(record.get("plan_id")).strip()
    if not plan_id or len(plan_id) > MAX_ID:
        raise RecordError(f"plan_id must be a non-empty string, got {record.get('plan_id')!r:.40}")
    execute = record.get("execute_stage")
    execute = execute if isinstance(execute, dict) else {}
    rate = execute.get("case_pass_rate")
    ratio = parse_rate(rate)
    return TestPlan(
        id=plan_id,
        name=text_of(record.get("name"))[:MAX_NAME] or plan_id,
        stage=_stage(record.get("current_stage")),
        iteration=_name_of(record.get("iteration")),
        pass_ratio=ratio,
        executed=count_of(execute.get("executed_case_count")),
        defects=count_of(execute.get("defect_count")),
        resolved=count_of(execute.get("completed_defect_count")),
        overdue_days=_days(record.get("expire_day")),
        end_date=_date(record.get("end_date")),
        rate_text="" if ratio is not None else text_of(rate)[:32],
    )
