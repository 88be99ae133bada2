"""Run counters restored for targets this shard no longer owns are dropped, not served frozen.

After a change of ``--total-shards`` a state file holds the counters of targets that moved to another shard;
served as they were, they froze (and summed with the new owner's). A counter row belongs to a configured
target whose key is its first label (a Build or Pipeline project) or its first two joined by ``/`` (a Repo
pipeline). Rows of targets configured for another shard are dropped with one log line per source; rows of
targets no longer configured at all are left to the run history's own rules, and a discovering source's to
its discovery (only it knows which discovered pipelines a shard owns).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from exporter.runhistory.counts import Labels, RunCounts

log = logging.getLogger(__name__)


def _target_key(labels: Labels, configured: Collection[str]) -> str | None:
    if labels and labels[0] in configured:
        return labels[0]
    if len(labels) > 1 and f"{labels[0]}/{labels[1]}" in configured:
        return f"{labels[0]}/{labels[1]}"
    return None


def drop_moved(counts: RunCounts, kind: str, configured: Collection[str], mine: Collection[str],
               shard: str) -> set[str]:
    """Forget the counters of ``kind`` whose target is in ``configured`` but not in ``mine`` (this shard's);
    returns those targets' keys (logged)."""
    moved = set(configured) - set(mine)
    if not moved or kind not in counts.tables:
        return set()
    with counts.lock:
        found = {key for labels in counts.tables[kind].runs if (key := _target_key(labels[:-1], configured)) in moved}
    if not found:
        return set()
    counts.retain(kind, lambda labels: _target_key(labels, configured) not in found)
    log.warning("%s: dropped the run counters of %d %s targets this shard no longer owns (e.g. %s); their new "
                "shard counts them", shard, len(found), kind, sorted(found)[0])
    return found
