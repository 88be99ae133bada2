"""Deadlines over whole socket exchanges, which per-read socket timeouts cannot give.

A peer that sends one byte just inside every read timeout keeps a blocking read alive for ever. A
:class:`Watchdog` holds (deadline, socket) pairs and, on one background thread, shuts a socket down
for reading and writing when its deadline passes: the blocked ``recv`` or ``send`` of whichever thread
owns it returns at once (end of stream or an error), and that thread unwinds as after any broken
connection. One thread serves every watch, so a watch costs a heap push, not a timer thread.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True, slots=True)
class Watch:
    """One socket watched until ``at`` (monotonic seconds); :attr:`fired` once it was shut down."""

    at: float
    sequence: int
    sock: socket.socket | None = field(compare=False)
    fired: bool = field(default=False, compare=False)


def shut(sock: object) -> None:
    """Shut a socket (or a TLS socket, or urllib3's TLS-in-TLS transport) down both ways; never raises."""
    raw = getattr(sock, "socket", sock)  # urllib3's SSLTransport wraps the real socket
    if not isinstance(raw, socket.socket):
        return
    with contextlib.suppress(OSError):
        # socket.socket's own shutdown, not SSLSocket's: that one also drops the TLS state under the
        # thread still reading, which could then read raw TLS records as plain bytes.
        socket.socket.shutdown(raw, socket.SHUT_RDWR)


class Watchdog:
    """Shuts watched sockets down at their deadlines, on one daemon thread started on first use."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, name: str = "watchdog") -> None:
        self._clock = clock
        self._name = name
        self._cond = threading.Condition()
        self._heap: list[Watch] = []
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, at: float, sock: socket.socket) -> Watch:
        """Shut ``sock`` down at monotonic time ``at`` unless :meth:`cancel` comes first."""
        entry = Watch(at, next(self._sequence), sock)
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if self._heap[0] is entry:
                self._cond.notify()
        return entry

    def cancel(self, entry: Watch) -> None:
        """Stop watching (the entry leaves the heap when its time comes: cancelling is O(1))."""
        with self._cond:
            entry.sock = None

    def pending(self) -> int:
        """Watches not yet fired or cancelled (for tests and diagnostics)."""
        with self._cond:
            return sum(1 for entry in self._heap if entry.sock is not None)

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._next_due()
            if due is not None:
                shut(due)

    def _next_due(self) -> socket.socket | None:
        """Wait (under the lock) for the earliest live watch to come due; its socket, marked fired."""
        while True:
            while self._heap and self._heap[0].sock is None:
                heapq.heappop(self._heap)
            if not self._heap:
                self._cond.wait()
                continue
            wait = self._heap[0].at - self._clock()
            if wait > 0:
                self._cond.wait(wait)
                continue
            entry = heapq.heappop(self._heap)
            sock, entry.sock, entry.fired = entry.sock, None, True
            return sock


WATCHDOG = Watchdog()
"""The process's watchdog, shared by the upstream client and the HTTP server."""
