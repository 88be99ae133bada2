"""The exporter's state file: JSON written atomically, so a crash leaves the old file or the new, never half.

Holds what must survive a restart for counters to stay exact (run history marks and counts). This module
reads the file (a regular file, of bounded size, JSON without NaN or Infinity, an object with an integer
``version``) and gives the readers of its content (:mod:`exporter.runhistory`) checks that name the first
problem and where it is (``build_marks.<job>[0]``); a file that fails them is not used: one error line, and
counting starts afresh (a corrupt file used to crash the start-up, and in Kubernetes loop the pod until
someone deleted it).
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

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 256 * 1024 * 1024  # far above a real file (a few MB for thousands of jobs)
MAX_COUNT = 2**53  # above this an integer no longer survives the float of the exposition


def load_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved state, or None if there is none yet or it cannot be read (one error line: counting starts
    afresh); its content is checked by its readers."""
    data = _read(Path(path))
    if data is None:
        return None
    try:
        state = mapping(data, "the file")
        check(state.get("version"), "version", integer)
    except StateProblem as err:
        log.error("state file %s not used (%s); run counters start afresh without back-filling", path, err)
        return None
    return state


def _read(path: Path) -> Any:
    try:
        info = path.stat()
        # A FIFO or a device would block the start-up, silently, in read().
        if not stat.S_ISREG(info.st_mode):
            raise StateProblem("not a regular file")
        if info.st_size > MAX_STATE_BYTES:
            raise StateProblem(f"larger than {MAX_STATE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
        return json.loads(text, parse_constant=_no_constant)
    except FileNotFoundError:
        return None
    except StateProblem as err:
        reason = str(err)
    except (OSError, UnicodeDecodeError) as err:
        reason = f"cannot read it: {getattr(err, 'strerror', None) or type(err).__name__}"
    except RecursionError:
        reason = "nested too deep"
    except ValueError as err:
        reason = f"not valid JSON: {err}"
    log.error("state file %s not used (%s); run counters start afresh without back-filling", path, reason)
    return None


class StateProblem(ValueError):
    """What is wrong with the state file's content, and where (the message)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# --- checks for the readers of the content: each names where the first problem is ------------------------

def integer(value: Any) -> bool:
    """An integer, not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def count(value: Any) -> bool:
    """A count: an integer 0..2**53 (above, it no longer survives the float of the exposition)."""
    return integer(value) and 0 <= value <= MAX_COUNT


def finite(value: Any) -> bool:
    """A finite number (NaN and Infinity are refused when the file is read)."""
    return (integer(value) and abs(value) <= MAX_COUNT) or (isinstance(value, float) and math.isfinite(value))


def scalar(value: Any) -> bool:
    """null, a string, a boolean or a finite number."""
    return value is None or isinstance(value, str | bool) or finite(value)


def shown(value: Any) -> str:
    """A value's type and the start of its JSON, for a message."""
    return f"{type(value).__name__} {json.dumps(value)[:40]}" if not isinstance(value, dict | list) \
        else type(value).__name__


def required(section: dict[str, Any], key: str) -> Any:
    """``section[key]``, which must be there."""
    if key not in section:
        raise StateProblem(f"{key}: missing")
    return section[key]


def mapping(value: Any, where: str) -> dict[str, Any]:
    """``value``, which must be an object."""
    if not isinstance(value, dict):
        raise StateProblem(f"{where}: expected an object, got {shown(value)}")
    return value


def items(value: Any, where: str) -> list[Any]:
    """``value``, which must be an array."""
    if not isinstance(value, list):
        raise StateProblem(f"{where}: expected an array, got {shown(value)}")
    return value


def exactly(value: Any, where: str, size: int) -> list[Any]:
    """``value``, which must be an array of ``size`` items."""
    found = items(value, where)
    if len(found) != size:
        raise StateProblem(f"{where}: expected {size} items, got {len(found)}")
    return found


def check(value: Any, where: str, valid: Callable[[Any], bool]) -> None:
    """Raise a :class:`StateProblem` naming ``where`` unless ``valid(value)``."""
    if not valid(value):
        raise StateProblem(f"{where}: unexpected {shown(value)}")


def list_of(value: Any, where: str, valid: Callable[[Any], bool]) -> list[Any]:
    """``value``, an array whose every item is valid."""
    found = items(value, where)
    for index, item in enumerate(found):
        check(item, f"{where}[{index}]", valid)
    return found


def labels(value: Any, where: str, size: int) -> list[str]:
    """``value``, an array of ``size`` strings (a series' label values)."""
    exactly(value, where, size)
    return list_of(value, where, lambda part: isinstance(part, str))


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
