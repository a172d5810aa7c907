"""Where the monitor's events come from: their place in the events topic, and its backlog.

When the monitor starts, it notes the end of each partition of the events topic: its
*catch-up point*. A record below it was already waiting when the monitor started — the
backlog a restarted monitor replays from its last commit — and its age says how long the
monitor was away, not how late the system is: :mod:`baton_monitor.metrics` counts such a
record but does not take its age for latency. Offsets, not clocks: publishers' clocks may
differ from the monitor's. A partition taken over from another replica (killed, or moved by
a rebalance) gets its catch-up point again at that moment: what waited in it meanwhile is
the same kind of backlog.

:class:`CatchUp` is a bus middleware: it sees the record behind each event the monitor's
group handles and tells the handler where that record sits (which also lets figures saved
before a restart skip records they counted already).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import NamedTuple

from baton.bus import Record, Transport
from baton.protocol.event import Event
from baton.protocol.headers import Headers
from baton_monitor.state import Position

__all__ = ["CatchUp", "Observed"]


class Observed(NamedTuple):
    """An event as the monitor handles it.

    Attributes:
        event: The event.
        position: Where its record sits in the events topic (None: another topic, e.g. a
            retry topic).
        replayed: Its record was in the topic before the monitor started.
    """

    event: Event
    position: Position | None
    replayed: bool


class CatchUp:
    """The catch-up point of one consumer group on the events topic, and the positions of
    the records that group is handling (see the module doc).

    Args:
        group: The monitor's consumer group; other groups' records are not looked at.
        topic: The events topic.
    """

    def __init__(self, *, group: str, topic: str) -> None:
        self.group = group
        self.topic = topic
        self._ends: dict[int, int] = {}
        # By the event object, not its id: an outbox may send one event twice (its sender
        # died before noting it sent), and each copy has its own place in the topic.
        self._handling: dict[int, Position] = {}

    async def mark(self, transport: Transport, *, partitions: Collection[int] = ()) -> None:
        """Note where ``partitions`` (default: every partition) end now: before the group
        starts consuming, or when a partition is taken over."""
        ends = await transport.end_offsets(self.topic)
        for tp, offset in ends.items():
            if not partitions or tp.partition in partitions:
                self._ends[tp.partition] = offset

    @property
    def partitions(self) -> list[int]:
        """The partitions of the events topic (as of the first :meth:`mark`)."""
        return sorted(self._ends)

    def observed(self, event: Event) -> Observed:
        """``event`` with its position and whether it is replayed (while it is handled)."""
        position = self._handling.get(id(event))
        return Observed(event, position, self.replayed(position))

    def replayed(self, position: Position | None) -> bool:
        """Whether the record at ``position`` was waiting at the catch-up point."""
        return position is not None and position.offset < self._ends.get(position.partition, 0)

    def publish_scope(
        self, *, topic: str, event: Event, headers: Headers
    ) -> AbstractContextManager[None]:
        return nullcontext()

    def consume_scope(
        self, *, record: Record, event: Event | None, group: str
    ) -> AbstractContextManager[None]:
        if event is None or group != self.group or record.topic != self.topic:
            return nullcontext()
        position = Position(partition=record.partition, offset=record.offset)
        return self._handled(id(event), position)

    @contextmanager
    def _handled(self, key: int, position: Position) -> Iterator[None]:
        # A batch handler runs inside the scopes of all its records: one entry each.
        self._handling[key] = position
        try:
            yield
        finally:
            self._handling.pop(key, None)
