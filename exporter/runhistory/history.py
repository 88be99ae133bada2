"""The run history of every source: each source's part counts its runs, this drives the parts.

The poller calls :meth:`RunHistory.after_listing` after each successful listing (no request: a part notes
what the listing tells, e.g. which build jobs ran) and, once every listing of the cycle is in, runs
:meth:`RunHistory.catch_up_tasks` on its workers (a part's requests for the records behind what it noted,
within its budget). :meth:`RunHistory.view` is the immutable copy a snapshot carries;
:meth:`RunHistory.to_state` / :meth:`RunHistory.restore` carry counts and marks over a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from exporter.runhistory.counts import HistoryView, RunCounts, RunKind, RunTables
from exporter.runhistory.persistence import STATE_VERSION, tables_from_state, tables_to_state
from exporter.snapshot import Target
from exporter.statefile import StateProblem, mapping, shown

Task = Callable[[], None]


class HistoryPart(Protocol):
    """One source's share of the run history; it writes ``counts`` under ``counts.lock``."""

    kind: RunKind

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Note what a successful listing of ``target`` tells about finished runs (no request)."""

    def catch_up_tasks(self, within: float | None) -> list[Task]:
        """The requests this cycle makes for the runs noted, as tasks for the poll workers; a task not started
        ``within`` seconds from now does nothing."""

    def marks_to_state(self) -> dict[str, Any]:
        """The part's marks as JSON-ready data (the caller holds ``counts.lock``)."""

    def marks_from_state(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Read saved marks (ValueError if they do not fit); the returned step takes them over."""


class RunHistory:
    """The run counters of every source with run history, and the parts that count them."""

    def __init__(self, counts: RunCounts, parts: Iterable[HistoryPart]) -> None:
        self.counts = counts
        self.parts = {part.kind.name: part for part in parts}

    def part(self, kind: str) -> HistoryPart | None:
        """The part counting ``kind`` (a source name), if that source has run history."""
        return self.parts.get(kind)

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Hand a successful listing to the part of its source (sources without run history ignore it)."""
        part = self.parts.get(target.api)
        if part is not None:
            part.after_listing(target, records)

    def catch_up_tasks(self, within: float | None = None) -> list[Task]:
        """Every part's requests of this cycle."""
        return [task for part in self.parts.values() for task in part.catch_up_tasks(within)]

    def view(self) -> HistoryView:
        """An immutable copy of every job's run history, for a snapshot."""
        return self.counts.view()

    def to_state(self) -> dict[str, Any]:
        """Counts and marks as JSON-ready data (one consistent copy)."""
        with self.counts.lock:
            state: dict[str, Any] = {"version": STATE_VERSION}
            state |= tables_to_state(self.counts)
            for part in self.parts.values():
                state |= part.marks_to_state()
            return state

    def problem(self, state: Any) -> str | None:
        """What is wrong with saved data, naming where (``build_marks.<job>[0]``); None if it can be restored."""
        try:
            self._read(state, say_resets=False)  # restore() says it, once, when it takes the data over
        except ValueError as err:
            return str(err)
        return None

    def _read(self, state: Any, *, say_resets: bool = True) -> tuple[list[Callable[[], None]], dict[str, RunTables]]:
        data = mapping(state, "the file")
        if data.get("version") != STATE_VERSION:
            raise StateProblem(f"unsupported state version {shown(data.get('version'))}")
        # Parts missing from the file (a source added since) start empty; their part of it is read strictly.
        try:
            return ([part.marks_from_state(data) for part in self.parts.values()],
                    tables_from_state(self.counts, data, say_resets=say_resets))
        except (KeyError, TypeError, AttributeError, IndexError) as err:  # a part that reads less strictly
            raise StateProblem(f"malformed ({type(err).__name__}: {str(err)[:80]})") from None

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take over what :meth:`to_state` saved; raises ValueError naming the first problem (nothing changed)
        if it does not fit."""
        steps, tables = self._read(state)
        with self.counts.lock:
            for step in steps:
                step()
            self.counts.replace_tables(tables)
