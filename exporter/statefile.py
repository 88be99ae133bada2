"""The exporter's state file: JSON written atomically, so a crash leaves the old file or the new, never half.

Holds what must survive a restart for counters to stay exact (run history marks and counts).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def load_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved state, or None if there is none yet or it cannot be read (logged: counting starts afresh)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        log.error("cannot read state file %s (%s); starting without it", path, type(err).__name__)
        return None
    try:
        data = json.loads(text)
    except ValueError:
        log.error("state file %s is not valid JSON; starting without it", path)
        return None
    if not isinstance(data, dict):
        log.error("state file %s does not hold an object; starting without it", path)
        return None
    return data


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
