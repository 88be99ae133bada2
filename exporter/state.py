"""The exporter's state file: JSON written atomically, so a crash leaves the old file or the new, never half.

Holds what must survive a restart for counters to stay exact (run history marks and counts). A file
that is not what :func:`state_problem` expects, down to every value's type and range, is not used:
one error line names the first problem and counting starts afresh (a corrupt file used to crash the
start-up, and in Kubernetes loop the pod until someone deleted it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporter import metrics as m

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 256 * 1024 * 1024  # far above a real file (a few MB for thousands of jobs)
MAX_COUNT = 2**53  # above this an integer no longer survives the float of the exposition
# Label values per row (the run status last), as the run metrics have them.
TABLES = {"build_runs": len(m.BUILD_RUNS.labels), "pipeline_runs": len(m.PIPELINE_JOB_RUNS.labels)}
HISTOGRAMS = {"build_durations": len(m.BUILD_RUNS.labels), "build_queued": len(m.BUILD_RUNS.labels) - 1,
              "pipeline_durations": len(m.PIPELINE_JOB_RUNS.labels)}


def load_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved state, or None if there is none yet or it cannot be used (one error line: counting starts afresh)."""
    data = _read(Path(path))
    if data is None:
        return None
    problem = state_problem(data)
    if problem is not None:
        log.error("state file %s not used (%s); run counters start afresh without back-filling", path, problem)
        return None
    return data


def _read(path: Path) -> Any:
    try:
        info = path.stat()
        # A FIFO or a device would block the start-up, silently, in read().
        if not stat.S_ISREG(info.st_mode):
            raise _Unusable("not a regular file")
        if info.st_size > MAX_STATE_BYTES:
            raise _Unusable(f"larger than {MAX_STATE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
        return json.loads(text, parse_constant=_no_constant)
    except FileNotFoundError:
        return None
    except _Unusable as err:
        reason = str(err)
    except (OSError, UnicodeDecodeError) as err:
        reason = f"cannot read it: {getattr(err, 'strerror', None) or type(err).__name__}"
    except RecursionError:
        reason = "nested too deep"
    except ValueError as err:
        reason = f"not valid JSON: {err}"
    log.error("state file %s not used (%s); run counters start afresh without back-filling", path, reason)
    return None


class _Unusable(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def state_problem(data: Any) -> str | None:
    """The first thing wrong with the content of a state file, naming where (``build_marks.<job>[0]``), or None."""
    try:
        _check_state(data)
    except _Unusable as err:
        return str(err)
    return None


def _check_state(data: Any) -> None:
    mapping = _mapping(data, "the file")
    if not _integer(mapping.get("version")):
        raise _Unusable(f"version: expected an integer, got {_shown(mapping.get('version'))}")
    for key in ("buckets", "queued_buckets"):
        if key in mapping:
            _list_of(mapping[key], key, _finite)
    for job_id, mark in _mapping(_required(mapping, "build_marks"), "build_marks").items():
        where = f"build_marks.{job_id[:64]}"
        high, above, marker = _exactly(mark, where, 3)
        _check(high, f"{where}[0]", _count)
        _list_of(above, f"{where}[1]", _count)
        _list_of(marker, f"{where}[2]", _scalar)
    for full_key, seen in _mapping(_required(mapping, "pipeline_seen"), "pipeline_seen").items():
        key = full_key[:64]
        for index, item in enumerate(_list(seen, f"pipeline_seen.{key}")):
            job_id, created = _exactly(item, f"pipeline_seen.{key}[{index}]", 2)
            _check(job_id, f"pipeline_seen.{key}[{index}][0]", _count)
            _check(created, f"pipeline_seen.{key}[{index}][1]", lambda value: value is None or _finite(value))
    for table, size in TABLES.items():
        for index, row in enumerate(_list(_required(mapping, table), table)):
            labels, value = _exactly(row, f"{table}[{index}]", 2)
            _labels(labels, f"{table}[{index}][0]", size)
            _check(value, f"{table}[{index}][1]", _count)
    for table, size in HISTOGRAMS.items():
        for index, row in enumerate(_list(_required(mapping, table), table)):
            labels, counts, total = _exactly(row, f"{table}[{index}]", 3)
            _labels(labels, f"{table}[{index}][0]", size)
            _list_of(counts, f"{table}[{index}][1]", _count)
            _check(total, f"{table}[{index}][2]", lambda value: _finite(value) and value >= 0)


def _labels(value: Any, where: str, size: int) -> None:
    _exactly(value, where, size)
    _list_of(value, where, lambda part: isinstance(part, str))


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> bool:
    return _integer(value) and 0 <= value <= MAX_COUNT


def _finite(value: Any) -> bool:
    return (_integer(value) and abs(value) <= MAX_COUNT) or (isinstance(value, float) and math.isfinite(value))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _finite(value)


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:40]}" if not isinstance(value, dict | list) \
        else type(value).__name__


def _required(mapping: dict[str, Any], key: str) -> Any:
    if key not in mapping:
        raise _Unusable(f"{key}: missing")
    return mapping[key]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unusable(f"{where}: expected an object, got {_shown(value)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Unusable(f"{where}: expected an array, got {_shown(value)}")
    return value


def _exactly(value: Any, where: str, size: int) -> list[Any]:
    items = _list(value, where)
    if len(items) != size:
        raise _Unusable(f"{where}: expected {size} items, got {len(items)}")
    return items


def _check(value: Any, where: str, valid: Callable[[Any], bool]) -> None:
    if not valid(value):
        raise _Unusable(f"{where}: unexpected {_shown(value)}")


def _list_of(value: Any, where: str, valid: Callable[[Any], bool]) -> None:
    for index, item in enumerate(_list(value, where)):
        _check(item, f"{where}[{index}]", valid)


def save_state(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same directory, fsync, os.replace."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
