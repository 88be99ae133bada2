"""The families of CodeArts TestPlan: each watched plan's pass ratio, executed cases, defects and delay."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric_spec

PLAN_LABELS = ("project_id", "plan_id", "plan")
STAGE_LABELS = (*PLAN_LABELS, "stage")

PASS_RATIO = metric_spec(
    "codearts_testplan_case_pass_ratio", "gauge",
    "Share of a test plan's cases that passed, 0 to 1 (execute_stage.case_pass_rate; absent while CodeArts "
    "gives no number, e.g. N/A), by the plan's current stage.",
    STAGE_LABELS, "testplan")
EXECUTED = metric_spec(
    "codearts_testplan_executed_cases", "gauge",
    "Cases of a test plan executed so far (execute_stage.executed_case_count).",
    STAGE_LABELS, "testplan")
DEFECTS = metric_spec(
    "codearts_testplan_defects", "gauge",
    "Defects of a test plan by state: open (found, not completed) or resolved (completed).",
    (*STAGE_LABELS, "state"), "testplan")
OVERDUE = metric_spec(
    "codearts_testplan_overdue_days", "gauge",
    "Days a test plan is past its end date (expire_day; 0 when it is not overdue).",
    STAGE_LABELS, "testplan")
INFO = metric_spec(
    "codearts_testplan_info", "gauge",
    "Always 1; a watched test plan's name and iteration (\"\" when it has none).",
    (*PLAN_LABELS, "iteration"), "testplan")
PLANS = metric_spec(
    "codearts_testplan_plans", "gauge",
    "Number of watched test plans of a project by current stage (each watched stage, from zero).",
    ("project_id", "stage"), "testplan")

JOB_SPECS: tuple[MetricSpec, ...] = (PASS_RATIO, EXECUTED, DEFECTS, OVERDUE, INFO, PLANS)
