"""Unit-test reports of builds as records: one build's summary, and what a job's reports add up to. No I/O (the
renderer reads these)."""

from __future__ import annotations

from dataclasses import dataclass

RESULTS = ("passed", "failed", "error", "other")  # the ``result`` label, in the order of the case counts


@dataclass(frozen=True, slots=True)
class TestSummary:
    """The case counts of one build's unit-test report: passed, failed, error, other (RESULTS' order)."""

    __test__ = False  # not a pytest test class, whatever its name

    build_no: int
    cases: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class TestTally:
    """What a job's unit-test reports add up to: case counts per result (passed, failed, error, other), the
    reports counted, and the latest build with a report. Immutable: snapshots share it."""

    __test__ = False  # not a pytest test class, whatever its name

    cases: tuple[int, int, int, int]
    reports: int
    last: TestSummary

    def plus(self, summary: TestSummary) -> TestTally:
        """This tally with one more report."""
        cases = tuple(a + b for a, b in zip(self.cases, summary.cases, strict=True))
        last = summary if summary.build_no > self.last.build_no else self.last
        return TestTally(cases, self.reports + 1, last)  # type: ignore[arg-type]
