"""Horizontal sharding: which targets this replica polls, and its share of the tenant's API budget.

Each target has a stable key (``repo:<repository_id>/<pipeline_id>``, ``build:<project_id>``); the
jump consistent hash of Lamping and Veach (2014) maps it to one of ``total`` shards, so every target is
polled by exactly one replica, no replica needs to know the others, and growing from M to M+1 shards
moves only about 1/(M+1) of the targets (the rest keep their shard and their series' owner).

A target may name a group to be sharded by instead (``Target.shard_group``): Repo's discovered pipelines are
sharded by the repository they were found in, because only the shard that owns a repository lists its merge
requests, so only that shard can know its pipelines (see docs/discovery.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.snapshot import Target

_MASK64 = (1 << 64) - 1
_JUMP_MULTIPLIER = 2862933555777941757  # the 64-bit LCG of the paper
_ORDINAL = re.compile(r"^(?P<name>.+)-(?P<ordinal>\d+)$")


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in ``range(buckets)`` of a 64-bit ``key`` (jump consistent hash)."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def key_hash(key: str) -> int:
    """A 64-bit hash of a string that every process and Python version agrees on (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def shard_key(target: Target) -> str:
    """The stable key a target is sharded by: ``<api>:<key>`` (``repo:<repository_id>/<pipeline_id>``,
    ``build:<project_id>``), or the group it names (a discovered pipeline's repository)."""
    return target.shard_group or f"{target.api}:{target.key}"


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """This replica is shard ``index`` (0-based) of ``total``; ``ShardSpec(0, 1)`` is unsharded."""

    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.total < 1:
            raise ValueError(f"--total-shards must be at least 1, got {self.total}")
        if not 0 <= self.index < self.total:
            raise ValueError(f"--shard must be in 0..{self.total - 1} for --total-shards {self.total}, "
                             f"got {self.index}")

    def owns_key(self, key: str) -> bool:
        """True if the target with this stable key belongs to this shard."""
        return self.total == 1 or jump_hash(key_hash(key), self.total) == self.index

    def owns(self, target: Target) -> bool:
        """True if this shard polls ``target``."""
        return self.owns_key(shard_key(target))

    def select(self, targets: Iterable[Target]) -> tuple[Target, ...]:
        """The targets this shard polls, in their given order."""
        return tuple(target for target in targets if self.owns(target))

    def share(self, rate: float) -> float:
        """This shard's part of a tenant-wide budget (e.g. ``poll.rate_limit`` requests/s): ``rate / total``.

        Targets are spread evenly in expectation, so an even split of the budget keeps the tenant's
        total at ``rate`` without the replicas talking to each other.
        """
        return rate / self.total


def ordinal_from_hostname(hostname: str | None = None) -> int:
    """The pod ordinal of a StatefulSet pod name such as ``codearts-exporter-3``.

    Without an argument the name is ``$HOSTNAME`` (Kubernetes sets it to the pod name), else the host name.
    """
    name = hostname if hostname is not None else (os.environ.get("HOSTNAME") or socket.gethostname())
    short = name.split(".", 1)[0]
    match = _ORDINAL.match(short)
    if match is None:
        raise ValueError(f"--shard.from-hostname: host name {short!r} does not end in -<ordinal> "
                         "(expected a StatefulSet pod name such as codearts-exporter-3)")
    return int(match.group("ordinal"))
