"""One exporter per state file: an exclusive lock on ``<state.path>.lock`` held for the process's life.

Two exporters (two shards, say) writing one state file each restore the other's counts and counted the same
runs twice (63 against a truth of 56). The second to start refuses, naming the path and the holder's pid. The
lock is ``flock``: the kernel drops it when the holder dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class StateLockError(RuntimeError):
    """Another exporter holds the state file's lock."""


class StateLock:
    """The held lock of one state file; :meth:`release` (or process exit) lets another exporter take it."""

    def __init__(self, state_path: str | os.PathLike[str]) -> None:
        """Take the lock of ``state_path`` or raise :class:`StateLockError` naming it (OSError if the lock file
        cannot be opened)."""
        self.path = Path(str(state_path) + ".lock")
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise StateLockError(f"state file {state_path} is in use by another exporter (pid {holder}, lock "
                                 f"{self.path}); give each exporter (each shard) its own state.path") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Let the state file go (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
