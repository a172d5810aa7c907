"""What one recovery replica owns: the events-topic partitions it holds, once settled.

Every agent and every watched task belongs to one partition of the events topic: an
agent to its id's (where its heartbeats go, keyed by it), a task to its workflow's. The
replica holding a partition in the recovery consumer group judges the timeouts of its
agents and tasks; the partitions move with the group's rebalances.

A partition just taken over is *settled* only after one liveness timeout: until then its
new holder has not read what was sent while it had no reader (a replica killed -9 leaves
its partitions unread until the group notices), so its agents would look silent when
they are not. Holding it since then is enough: any heartbeat sent meanwhile is read by
then. A partition lost and held again starts over.

Times are the replica's monotonic clock (seconds): only durations on one host count.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Ownership"]


class Ownership:
    """The partitions a replica holds, and since when (module doc)."""

    def __init__(self) -> None:
        self._since: dict[int, float] = {}

    @property
    def held(self) -> frozenset[int]:
        """Partitions held at the last :meth:`update`."""
        return frozenset(self._since)

    def update(self, held: Iterable[int], *, now: float) -> frozenset[int]:
        """Record the partitions held at ``now``; returns those newly taken over."""
        current = set(held)
        for partition in [p for p in self._since if p not in current]:
            del self._since[partition]
        new = frozenset(p for p in current if p not in self._since)
        for partition in new:
            self._since[partition] = now
        return new

    def settled(self, *, now: float, grace: float) -> frozenset[int]:
        """Partitions held for at least ``grace`` seconds at ``now``."""
        return frozenset(p for p, since in self._since.items() if now - since >= grace)
