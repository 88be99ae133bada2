"""The TestPlan source's samples: each watched plan of a project, per project. No I/O."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from exporter.sinks import Sink
from exporter.snapshot import TargetState
from exporter.sources.testplan import metrics as m
from exporter.sources.testplan.config import DEFAULT_STAGES, TestPlanProject
from exporter.sources.testplan.models import TestPlan


def today(at: float | None) -> date:
    """The date plans' ages are measured against: the poll's date in UTC (dates carry no zone; a cutoff of
    days makes the hours between zones immaterial)."""
    return datetime.fromtimestamp(at, UTC).date() if at is not None else datetime.now(UTC).date()


def is_current(plan: TestPlan, max_age_days: int, on: date) -> bool:
    """False once a plan's end date is more than ``max_age_days`` days before ``on`` (no end date: current)."""
    return plan.end_date is None or plan.end_date + timedelta(days=max_age_days) >= on


def current_plans(state: TargetState) -> list[TestPlan]:
    """The project's watched plans that are not too old at the poll time, by id."""
    project = state.target.options
    max_age = project.max_age_days if isinstance(project, TestPlanProject) else TestPlanProject("").max_age_days
    on = today(state.data_at)
    return sorted((plan for plan in state.records if is_current(plan, max_age, on)), key=lambda plan: plan.id)


def render_project(sink: Sink, state: TargetState) -> None:
    """The families of one project's last good listing."""
    project_id = state.target.key
    project = state.target.options
    per_stage: Counter[str] = Counter()
    for plan in current_plans(state):
        labels = (project_id, plan.id, plan.name, plan.stage)
        per_stage[plan.stage] += 1
        if plan.pass_ratio is not None:
            sink.add(m.PASS_RATIO, labels, plan.pass_ratio)
        if plan.executed is not None:
            sink.add(m.EXECUTED, labels, plan.executed)
        if plan.open_defects is not None and plan.resolved is not None:
            sink.add(m.DEFECTS, (*labels, "open"), plan.open_defects)
            sink.add(m.DEFECTS, (*labels, "resolved"), plan.resolved)
        if plan.overdue_days is not None:
            sink.add(m.OVERDUE, labels, max(0, plan.overdue_days))
        sink.add(m.INFO, (project_id, plan.id, plan.name, plan.iteration), 1)
    for stage in project.stages if isinstance(project, TestPlanProject) else DEFAULT_STAGES:
        sink.add(m.PLANS, (project_id, stage), per_stage[stage])
