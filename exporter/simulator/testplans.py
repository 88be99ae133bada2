"""The simulated CodeArts TestPlan service: projects of test plans that move through their stages over time.

Pure data, no I/O; a plan's state is a pure function of (seed, project id, its index, the moment asked about).

Rules:

- Plan ``index`` of a project: id ``hex_id("codearts-sim/testplan", project, index)``, name ``release-<n>``
  for ``index % 3 == 0``, else ``sprint-<index>``; iteration ``Iteration <index // 4 + 1>`` (none for
  ``index % 7 == 6``).
- Each plan lives PLAN_DAYS days from a start that repeats every PLAN_DAYS + 2 days (a new round of the same
  plan): stage ``create`` for its first tenth, ``design`` to a quarter, ``execute`` to its end date, then
  ``report``. ``index % 8 == 7`` is an old plan, its round ended 60 days ago, frozen in ``report``.
  ``index % 5 == 4`` never finishes executing on time: it stays in ``execute`` two days past its end date.
- Cases: ``case_count`` 20..99; executed cases grow linearly through ``execute`` to all of them in ``report``;
  each executed case passes unless its draw says otherwise (a fifth fail on flaky plans, ``index % 6 == 1``,
  a twentieth on the others). ``case_pass_rate`` is ``"<passed/executed, 2 decimals>%"``, ``"N/A"`` while
  nothing ran; defects are one per three failed cases, completed progressively, all by ``report``.
- ``expire_day``: days past the end date while not in ``report`` (negative before it), 0 in ``report``.
- ``offset`` counts items (``paging="item"``) or pages from 0 (``paging="page"``); answered HTTP 201.
- ``denied`` project ids answer HTTP 403; ``not_array`` ones answer HTTP 201 with an object instead of an array;
  ``overrides`` (plan id -> fields) are laid over that plan's payload, to show bad input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.simulator.cycle import hex_id, key64

TESTPLAN_PAGING_MODES: tuple[str, ...] = ("item", "page")
DAY_MS = 86_400_000
PLAN_DAYS = 14
ROUND_DAYS = PLAN_DAYS + 2
STAGES: tuple[str, ...] = ("create", "design", "execute", "report")


def plan_kind(index: int) -> str:
    """What the ``index``-th plan of a project is: old (ended 60 days ago), late (overdue), flaky or normal."""
    if index % 8 == 7:
        return "old"
    if index % 5 == 4:
        return "late"
    return "flaky" if index % 6 == 1 else "normal"


def day(ms: int) -> str:
    """``yyyy-MM-dd`` of epoch ms (UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


@dataclass(frozen=True, slots=True)
class SimPlan:
    """A plan's static fields."""

    project_id: str
    index: int
    id: str
    name: str
    iteration: str
    cases: int
    phase_ms: int  # where its rounds start, within ROUND_DAYS
    kind: str
    failed_by: tuple[int, ...]  # failed_by[n]: how many of its first n cases fail


@dataclass(frozen=True, slots=True)
class PlanTruth:
    """A plan at a moment, as the service shows it."""

    stage: str
    start_ms: int
    end_ms: int
    executed: int
    passed: int
    defects: int
    completed_defects: int
    expire_day: int

    @property
    def pass_rate(self) -> str:
        """``case_pass_rate`` as the API writes it."""
        return "N/A" if self.executed == 0 else f"{100.0 * self.passed / self.executed:.2f}%"


@dataclass(slots=True)
class TestPlanService:
    """The test plans of every simulated project, and the quirks the tests switch on."""

    __test__ = False  # not a pytest test class, whatever its name

    seed: int = 0
    projects: Mapping[str, int] = field(default_factory=dict)
    paging: str = "item"
    denied: set[str] = field(default_factory=set)
    not_array: set[str] = field(default_factory=set)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    _plans: dict[str, tuple[SimPlan, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.paging not in TESTPLAN_PAGING_MODES:
            raise ValueError(f"testplan paging must be one of {TESTPLAN_PAGING_MODES}, got {self.paging!r}")
        for project_id, size in self.projects.items():
            self._plans[project_id] = tuple(self._plan(project_id, index) for index in range(size))

    def _plan(self, project_id: str, index: int) -> SimPlan:
        plan_id = hex_id("codearts-sim/testplan", project_id, index)
        shape = key64("codearts-sim/testplan-shape", self.seed, plan_id)
        name = f"release-{index // 3 + 1}" if index % 3 == 0 else f"sprint-{index}"
        iteration = "" if index % 7 == 6 else f"Iteration {index // 4 + 1}"
        cases, kind = 20 + shape % 80, plan_kind(index)
        failed_by = [0]
        for case in range(cases):
            failed_by.append(failed_by[-1] + self._fails(plan_id, kind, case))
        return SimPlan(project_id, index, plan_id, name, iteration, cases, (shape >> 8) % (ROUND_DAYS * DAY_MS),
                       kind, tuple(failed_by))

    # -- what the route reads --------------------------------------------------------------------------

    def start(self, offset: int, limit: int) -> int:
        """The first item index an ``offset`` designates under the paging mode."""
        return offset if self.paging == "item" else offset * limit

    def plans(self, project_id: str) -> tuple[SimPlan, ...] | None:
        """A project's plans, by index; None if the project is unknown."""
        return self._plans.get(project_id)

    def payload(self, plan: SimPlan, at_ms: int) -> dict[str, Any]:
        """The ``TestPlanDetail`` of a plan at ``at_ms``."""
        truth = self.truth(plan, at_ms)
        payload = {
            "plan_id": plan.id, "name": plan.name, "project_id": plan.project_id, "current_stage": truth.stage,
            "start_date": day(truth.start_ms), "end_date": day(truth.end_ms),
            "finish_date": day(truth.end_ms) if truth.stage == "report" else "",
            "expire_day": truth.expire_day,
            "iteration": {"id": str(100_000 + plan.index // 4), "name": plan.iteration} if plan.iteration else {},
            "owner": {"id": hex_id("codearts-sim/user", plan.index % 3), "name": "sim-tester"},
            "design_stage": {"case_count": plan.cases, "issue_count": 3, "issue_covered_count": "3"},
            "execute_stage": {"case_pass_rate": truth.pass_rate, "executed_case_count": truth.executed,
                              "defect_count": truth.defects, "completed_defect_count": truth.completed_defects},
            "report_stage": {"case_complete_rate": f"{100.0 * truth.executed / plan.cases:.2f}%"},
        }
        return payload | self.overrides.get(plan.id, {})

    # -- ground truth ----------------------------------------------------------------------------------

    def truth(self, plan: SimPlan, at_ms: int) -> PlanTruth:
        """Plan ``plan`` as it stands at ``at_ms``."""
        if plan.kind == "old":  # its round ended 60 days ago; frozen in report since
            end = (at_ms // DAY_MS - 60) * DAY_MS + plan.phase_ms % DAY_MS
            return self._state(plan, end - PLAN_DAYS * DAY_MS, end, end + DAY_MS, 0)
        round_ms = ROUND_DAYS * DAY_MS
        start = (at_ms - plan.phase_ms) // round_ms * round_ms + plan.phase_ms
        return self._state(plan, start, start + PLAN_DAYS * DAY_MS, at_ms,
                           2 * DAY_MS if plan.kind == "late" else 0)

    def _state(self, plan: SimPlan, start: int, end: int, at: int, late: int) -> PlanTruth:
        elapsed = (at - start) / (end + late - start)
        stage = ("create" if elapsed < 0.1 else "design" if elapsed < 0.25 else
                 "execute" if at < end + late else "report")
        executed = (plan.cases if stage == "report" else
                    int(plan.cases * (elapsed - 0.25) / 0.75) if stage == "execute" else 0)
        failed = plan.failed_by[executed]
        defects = failed // 3
        completed = defects if stage == "report" else defects // 2
        expire = 0 if stage == "report" else (at - end) // DAY_MS
        return PlanTruth(stage, start, end, executed, executed - failed, defects, completed, expire)

    def _fails(self, plan_id: str, kind: str, case: int) -> bool:
        draw = key64("codearts-sim/testplan-case", self.seed, plan_id, case) % 100
        return draw < (20 if kind == "flaky" else 5)
