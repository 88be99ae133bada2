"""Credentials that belong together (an AK and its SK, or one token), re-read when their files change.

A rotated key pair must reach a running exporter without a restart, and never half of it: a request signed
with the new AK and the old SK is refused. The rules, for the ``*_file`` settings:

- Each request looks at the files' identity (device, inode, size, mtime; ``os.stat`` follows symlinks, so
  the Kubernetes swap of a Secret's ``..data`` link shows as a new inode). When every file of the group
  changed, the group is read again and used from then on: the next request after a rotation already has it.
- A read is consistent: the files are looked at before and after reading them all, and read again if one
  changed meanwhile (the swap happened between the AK and the SK).
- When only some files of a group changed (a pair written by hand, one file at a time), the pair in use is
  kept: the other half is probably on its way. A 401 settles it: after a refusal the files are read as
  they are and, if that gives other values than the refused ones, the request is retried once with them.
- A file that cannot be read (mid-rotation, or removed) keeps the values in use; only a 401 then fails.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from exporter.auth.secretfile import SecretSource
from exporter.errors import CredentialsError
from exporter.validation import Secret

log = logging.getLogger(__name__)

CONSISTENT_READ_ATTEMPTS = 3
Stamp = tuple[int, int, int, int] | None  # (device, inode, size, mtime in ns) of a file; None: not a file
Check = Callable[[tuple[Secret, ...]], None]  # raises CredentialsError naming what does not fit


@dataclass(frozen=True, slots=True)
class KeySet:
    """The values of a group in use, and their version (it grows by one each time they change)."""

    values: tuple[Secret, ...]
    version: int


def _stamp(source: SecretSource) -> Stamp:
    if source.path is None:
        return None
    try:
        found = os.stat(source.path)
    except OSError:
        return (-1, -1, -1, -1)  # unreadable now: differs from any real file, and from itself never
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


class KeyFiles:
    """A group of secrets read together; :meth:`current` per request, :meth:`renewed_since` after a 401.

    ``check`` validates a freshly read group (e.g. the AK's characters) and raises :class:`CredentialsError`.
    The group is read at construction: an unreadable or invalid file fails at start, not at the first poll.
    """

    def __init__(self, sources: Sequence[SecretSource], check: Check | None = None) -> None:
        self._sources = tuple(sources)
        self._check = check
        self._lock = threading.Lock()
        self._waiting_logged = False
        self._unreadable_logged = False
        values, self._stamps = self._read()
        self._keys = KeySet(values, 0)

    @property
    def watched(self) -> bool:
        """True when some secret of the group lives in a file (and may change while the exporter runs)."""
        return any(source.from_file for source in self._sources)

    def current(self) -> KeySet:
        """The values to use now: read again first when every file of the group changed since they were read."""
        if not self.watched:
            return self._keys
        with self._lock:
            stamps = self._stamp_all()
            changed = [source for source, old, new in zip(self._sources, self._stamps, stamps, strict=True)
                       if source.from_file and old != new]
            if not changed:
                return self._keys
            files = [source for source in self._sources if source.from_file]
            if len(changed) < len(files):
                self._log_half_change(changed, files)
                return self._keys
            self._adopt("changed", force=False)
            return self._keys

    def renewed_since(self, version: int | None) -> bool:
        """After CodeArts refused the values of ``version``: True if other values are in use now (another
        thread took them, or the files, read as they are, hold new ones), so a retry is worth it."""
        with self._lock:
            if version is not None and self._keys.version > version:
                return True
            if not self.watched:
                return False
            return self._adopt("refused", force=True)

    def _adopt(self, why: str, *, force: bool) -> bool:
        """Read the group (the caller holds the lock); True if that changed the values in use."""
        try:
            values, stamps = self._read()
        except CredentialsError as err:
            if force:
                log.error("after a 401, %s", err)
            elif not self._unreadable_logged:
                self._unreadable_logged = True
                log.warning("%s; the credentials read before stay in use", err)
            return False
        self._stamps = stamps
        self._waiting_logged = self._unreadable_logged = False
        if values == self._keys.values:
            return False
        self._keys = KeySet(values, self._keys.version + 1)
        names = ", ".join(f"{source.field}_file" for source in self._sources if source.from_file)
        log.info("%s %s: using the credentials read from it now (version %d)",
                 names, "changed" if why == "changed" else "re-read after a 401", self._keys.version)
        return True

    def _read(self) -> tuple[tuple[Secret, ...], tuple[Stamp, ...]]:
        """Every value of the group and the stamps they were read under, read again while files move."""
        for _ in range(CONSISTENT_READ_ATTEMPTS):
            before = self._stamp_all()
            values = tuple(source.read() for source in self._sources)
            after = self._stamp_all()
            if before == after:
                break
        if self._check is not None:
            self._check(values)
        return values, after

    def _stamp_all(self) -> tuple[Stamp, ...]:
        return tuple(_stamp(source) for source in self._sources)

    def _log_half_change(self, changed: list[SecretSource], files: list[SecretSource]) -> None:
        if self._waiting_logged:
            return
        self._waiting_logged = True
        moved = ", ".join(f"{source.field}_file" for source in changed)
        still = ", ".join(f"{source.field}_file" for source in files if source not in changed)
        log.warning("%s changed but %s did not: keeping the credentials in use until it changes too, or "
                    "CodeArts refuses them (a pair is never mixed)", moved, still)

    def __repr__(self) -> str:
        return f"KeyFiles({', '.join(repr(source) for source in self._sources)})"
