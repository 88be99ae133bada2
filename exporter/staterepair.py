"""Restoring a state file entry by entry: one bad entry is left out (named), not the whole file.

The readers of the state file (:mod:`exporter.runhistory` and each source's marks) name the first problem
and where it is (``build_marks.<job>[0]``, ``build_runs[12][1]``). Rather than discard every source's counters
for it, the entry that problem is in is left out and the rest read again, up to
:data:`MAX_ENTRIES_LEFT_OUT` entries; a problem that names no entry (the file is not an object, an unknown
version, a reader's own error) still discards the file. A job whose mark was left out starts afresh from
its next listing (its runs since the save are not back-filled, none is counted twice); a counter row left
out restarts at 0, which Prometheus reads as a counter reset.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any, Protocol

from exporter.statefile import MAX_STATE_BYTES, StateProblem

log = logging.getLogger(__name__)

MAX_ENTRIES_LEFT_OUT = 100  # past this, the file is too broken to trust any of it
_WHERE = re.compile(r"^([A-Za-z_]+)(?:\.([^\[:]+)|\[(\d+)\])?(?=[\[:.]|$)")


class Restorable(Protocol):
    """What can be restored from saved state (the run history)."""

    def problem(self, state: Any) -> str | None:
        """What is wrong with ``state``, naming where; None if it can be restored."""

    def restore(self, state: Any) -> None:
        """Take ``state`` over."""


def restore_entries(history: Restorable, state: dict[str, Any]) -> list[str]:
    """Restore ``state`` into ``history`` without the entries that do not fit; returns their problems, in
    order. Raises :class:`StateProblem` (nothing restored) when a problem names no entry, or too many do."""
    data = dict(state)
    left_out: list[str] = []
    while (problem := history.problem(data)) is not None:
        if len(left_out) >= MAX_ENTRIES_LEFT_OUT:
            raise StateProblem(f"more than {MAX_ENTRIES_LEFT_OUT} entries do not fit; the last: {problem}")
        if not _leave_out(data, problem):
            raise StateProblem(problem)
        left_out.append(problem)
    history.restore(data)
    return left_out


def _leave_out(data: dict[str, Any], problem: str) -> bool:
    """Remove from ``data`` the entry ``problem`` names (a copy of its section is changed); False if none."""
    match = _WHERE.match(problem)
    if match is None or match.group(1) not in data or match.group(1) == "version":
        return False
    section, key, index = match.group(1), match.group(2), match.group(3)
    value = data[section]
    if key is not None and isinstance(value, dict):
        found = next((name for name in value if name == key or name[:64] == key), None)
        if found is None:
            return False
        data[section] = {name: entry for name, entry in value.items() if name != found}
    elif index is not None and isinstance(value, list) and int(index) < len(value):
        data[section] = value[:int(index)] + value[int(index) + 1:]
    else:
        del data[section]  # the section itself is malformed: as if the file had none
    return True


def keep_backup(path: str | os.PathLike[str]) -> Path | None:
    """Copy the state file at ``path`` to ``<path>.bak`` before the next save replaces it (a regular file of
    sane size only); the copy's path, or None when there was nothing to keep or it could not be written."""
    source = Path(path)
    backup = source.with_name(source.name + ".bak")
    try:
        info = source.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_STATE_BYTES:
            return None
        shutil.copyfile(source, backup)
    except OSError as err:
        log.error("cannot keep a copy of state file %s as %s: %s", source, backup, err.strerror or type(err).__name__)
        return None
    return backup
