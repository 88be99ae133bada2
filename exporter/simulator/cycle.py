"""The deterministic life cycle of one simulated job: runs, their phases, outcomes and durations.

Every job repeats a cycle of ``period`` milliseconds shifted by ``phase``. Run ``n`` is created at
``phase + n * period`` (epoch ms), waits ``queue`` ms (pending), runs for a duration that depends on
its outcome, then stays in its terminal state until run ``n + 1`` is created. Every draw comes from a
64-bit key hashed from (seed, job) with blake2b, mixed with the run index by splitmix64, so the same
inputs give the same answer in every process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
WEIGHT_SCALE = 1000

# Outcome weights out of WEIGHT_SCALE, in the Repo vocabulary (Build maps them to colours).
PIPELINE_PROFILES: dict[str, tuple[tuple[str, int], ...]] = {
    "normal": (("success", 800), ("failed", 120), ("timedout", 30), ("canceled", 30), ("skipped", 20)),
    "manual": (("skipped", 700), ("success", 250), ("canceled", 50)),
    "flaky": (("success", 450), ("failed", 300), ("canceled", 150), ("timedout", 100)),
}
BUILD_PROFILES: dict[str, tuple[tuple[str, int], ...]] = {
    "normal": (("success", 800), ("failed", 130), ("timedout", 30), ("canceled", 40)),
    "flaky": (("success", 500), ("failed", 300), ("canceled", 100), ("timedout", 100)),
}


def digest(*parts: object, size: int = 16) -> bytes:
    """A stable blake2b digest of the parts (never Python's per-process randomised ``hash()``)."""
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
    value = (value + _GOLDEN) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a job; times are epoch ms. A skipped run has ``finished == started`` and never runs."""

    index: int
    draw: int  # 64-bit per-run hash, for per-run details (commit, trigger, user)
    created: int
    started: int
    finished: int
    outcome: str  # success, failed, timedout, canceled, skipped

    def phase_at(self, at_ms: int) -> str:
        """``pending``, ``running`` or ``done`` at ``at_ms`` (which must be at or after ``created``)."""
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
    queue: int  # ms pending before a run starts, at most period / 10
    run: int  # ms, the base running time, 20%..55% of the period
    weights: tuple[tuple[str, int], ...]

    @classmethod
    def derive(cls, key: int, weights: tuple[tuple[str, int], ...]) -> Cycle:
        """The cycle a job with this 64-bit key gets."""
        period = 120_000 + key % 480_001
        phase = (key >> 20) % period
        queue = 2_000 + (key >> 30) % (period // 10 - 1_999)
        run = period * (200 + (key >> 40) % 351) // 1000
        return cls(key, period, phase, queue, run, weights)

    def index_at(self, at_ms: int) -> int:
        """Index of the latest run created at or before ``at_ms`` (may be negative)."""
        return (at_ms - self.phase) // self.period

    def first_index_from(self, at_ms: int) -> int:
        """Index of the first run created at or after ``at_ms``."""
        return -((self.phase - at_ms) // self.period)

    def draw(self, index: int) -> int:
        """The 64-bit per-run hash of run ``index``."""
        return mix(self.key ^ ((index * _GOLDEN) & MASK64))

    def outcome(self, index: int) -> str:
        """How run ``index`` ends."""
        return self._outcome(self.draw(index))

    def _outcome(self, draw: int) -> str:
        ticket = draw % WEIGHT_SCALE
        for outcome, weight in self.weights:
            if ticket < weight:
                return outcome
            ticket -= weight
        return self.weights[-1][0]

    def run_at(self, index: int) -> Run:
        """Run ``index`` with its timestamps and outcome."""
        draw = self.draw(index)
        outcome = self._outcome(draw)
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

