"""The deterministic life cycle of one simulated job: runs, their phases, outcomes and durations.

Every job repeats a cycle of ``period`` milliseconds shifted by ``phase``. Run ``n`` is created at
``phase + n * period`` (epoch ms), waits ``queue`` ms (pending), runs for a duration that depends on
its outcome, then stays in its terminal state until run ``n + 1`` is created.

Every draw derives from the job's 64-bit ``key`` (blake2b of seed and job id) mixed with the run
number by splitmix64, so the same inputs give the same answer in every process (Python's ``hash()``
is randomised per process and is never used). Outcomes come eight runs to a hash: byte ``n % 8`` of
``mix(key ^ (n // 8) * G)`` is run ``n``'s ticket out of 256, looked up in the job's outcome profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

MASK64 = (1 << 64) - 1
_BLOCK_SALT = 0x9E3779B97F4A7C15
_RUN_SALT = 0xD1B54A32D192ED03
TICKETS = 256

# Outcome weights out of TICKETS, in the Repo vocabulary (Build maps them to its colours).
PIPELINE_PROFILES: dict[str, tuple[tuple[str, int], ...]] = {
    "normal": (("success", 205), ("failed", 31), ("timedout", 8), ("canceled", 7), ("skipped", 5)),
    "manual": (("skipped", 179), ("success", 64), ("canceled", 13)),
    "flaky": (("success", 115), ("failed", 77), ("canceled", 38), ("timedout", 26)),
}
BUILD_PROFILES: dict[str, tuple[tuple[str, int], ...]] = {
    "normal": (("success", 205), ("failed", 33), ("timedout", 8), ("canceled", 10)),
    "flaky": (("success", 128), ("failed", 77), ("canceled", 25), ("timedout", 26)),
}


def digest(*parts: object, size: int = 16) -> bytes:
    """A stable blake2b digest of the parts joined by U+001F."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=size).digest()


def hex_id(*parts: object, chars: int = 32) -> str:
    """A stable lowercase hex identifier of ``chars`` characters (even, at most 128)."""
    return digest(*parts, size=chars // 2).hex()


def key64(*parts: object) -> int:
    """A stable 64-bit integer derived from the parts."""
    return int.from_bytes(digest(*parts, size=8), "big")


def mix(value: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def outcome_table(weights: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """The outcome of each of the 256 tickets under a profile."""
    table = tuple(outcome for outcome, weight in weights for _ in range(weight))
    if len(table) != TICKETS:
        raise ValueError(f"outcome weights must add up to {TICKETS}: {weights}")
    return table


class Run(NamedTuple):
    """One run of a job; times are epoch ms. A skipped run has ``finished == started`` and never runs."""

    ordinal: int  # which run of the cycle this is (``Cycle.run_at(ordinal)``); not ``index``, a tuple method
    draw: int  # 64-bit per-run hash, for per-run details (durations, commit, trigger, user)
    created: int
    started: int
    finished: int
    outcome: str  # success, failed, timedout, canceled, skipped

    def phase_at(self, at_ms: int) -> str:
        """``pending``, ``running`` or ``done`` at ``at_ms`` (at or after ``created``)."""
        if at_ms < self.started:
            return "pending"
        if at_ms < self.finished:
            return "running"
        return "done"

    @property
    def duration(self) -> int:
        """Milliseconds spent running (0 for a skipped run)."""
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class Cycle:
    """The timing and outcome law of one job."""

    key: int
    period: int  # ms between run creations, 120_000..600_000
    phase: int  # ms, 0..period-1
    queue: int  # ms pending before a run starts, 2_000..period/10
    run: int  # ms, the base running time, 20%..55% of the period
    table: tuple[str, ...]  # outcome per ticket

    @classmethod
    def derive(cls, key: int, table: tuple[str, ...]) -> Cycle:
        """The cycle a job with this 64-bit key and outcome table (see :func:`outcome_table`) gets."""
        period = 120_000 + key % 480_001
        phase = (key >> 20) % period
        queue = 2_000 + (key >> 30) % (period // 10 - 1_999)
        run = period * (200 + (key >> 40) % 351) // 1000
        return cls(key, period, phase, queue, run, table)

    def index_at(self, at_ms: int) -> int:
        """Index of the latest run created at or before ``at_ms`` (may be negative)."""
        return (at_ms - self.phase) // self.period

    def first_index_from(self, at_ms: int) -> int:
        """Index of the first run created at or after ``at_ms``."""
        return -((self.phase - at_ms) // self.period)

    def outcome(self, index: int) -> str:
        """How run ``index`` ends."""
        block = mix(self.key ^ (((index >> 3) * _BLOCK_SALT) & MASK64))
        return self.table[(block >> ((index & 7) << 3)) & 0xFF]

    def count(self, outcome: str, first: int, last: int) -> int:
        """How many of the runs ``first..last`` (inclusive) end in ``outcome``."""
        found = 0
        block_index, block = None, 0
        for index in range(first, last + 1):
            if index >> 3 != block_index:
                block_index = index >> 3
                block = mix(self.key ^ ((block_index * _BLOCK_SALT) & MASK64))
            found += self.table[(block >> ((index & 7) << 3)) & 0xFF] == outcome
        return found

    def run_at(self, index: int) -> Run:
        """Run ``index`` with its timestamps and outcome."""
        draw = mix(self.key ^ ((index * _RUN_SALT) & MASK64))
        outcome = self.outcome(index)
        created = self.phase + index * self.period
        started = created + self.queue
        return Run(index, draw, created, started, started + self._duration(outcome, draw), outcome)

    def _duration(self, outcome: str, draw: int) -> int:
        jitter = (draw >> 10) % 301  # 0..300 per mille
        if outcome == "skipped":
            return 0
        if outcome == "timedout":
            return self.run * 13 // 10  # the job's timeout
        if outcome == "canceled":
            return max(1_000, self.run * (200 + jitter * 4 // 3) // 1000)
        return self.run * (850 + jitter) // 1000

    def latest(self, at_ms: int) -> Run:
        """The latest run created at or before ``at_ms``."""
        return self.run_at(self.index_at(at_ms))


PIPELINE_TABLES: dict[str, tuple[str, ...]] = {name: outcome_table(w) for name, w in PIPELINE_PROFILES.items()}
BUILD_TABLES: dict[str, tuple[str, ...]] = {name: outcome_table(w) for name, w in BUILD_PROFILES.items()}
