"""Records another client put on the wrong partition: reported, counted and moved.

A workflow's events are handled in order because its key (the workflow id) puts them all
on one partition — where Baton's partitioner (:mod:`baton.protocol.partitioner`, murmur2 as
in the Java client) says. A client with another partitioner (librdkafka's default is
CRC32) puts some keys elsewhere, and another consumer would then handle that event beside,
not between, the workflow's others. Each group's consumer therefore checks every keyed
record of its source topic against the partition its key belongs on (from the topic's
partition count in the producer's metadata). A record found elsewhere is *misplaced*: a
WARNING names topic, partition, offset, expected partition and key, and
``bus.wrong_partitions`` counts it per topic (exported as ``baton_wrong_partition_total``).

On the events topic it is then moved, not handled where it is: the events topic's router
group (:attr:`~baton.config.BatonSettings.router_group`: ``BATON_PARTITION_ROUTER``, by
default the hub's group, which every deployment runs) re-publishes it unchanged — key,
value, headers and signature — plus ``baton-rerouted-from`` (``topic:partition:offset``),
and commits the original without handling it. Every other group skips the original: the
copy reaches it on the right partition. The handlers see the event when the copy comes
round, after the workflow's events already on that partition and before those published
after the move. (Events of the workflow appended while the router had not yet reached the
misplaced record come before it: the router's lag is the window.)

Choice — one router rather than every group moving its own copy: one copy means one
position, which every group handles. Copies per group would put the same signed record at
several positions of the topic, which the signing replay check (a signature is accepted at
one position only) refuses within a process, and which readers outside the bus's groups
(``baton events tail``, the monitor's windows) would count once per group. The price is
that the router must run: while it is down the other groups move past misplaced records,
and handle their copies once it is back; a deployment without the hub names its router.

Once: the copy is acknowledged before the original's offset is committed. A router that
dies between the two makes a second copy when the original comes again — the at-least-once
delivery that handlers already absorb by event id.

Only the events topic is re-routed: per-workflow order is what its keys are for. On other
source topics (a service's commands, whose requests are retried and may cross anyway) a
misplaced record is reported and handled where it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from baton.bus.transport import Record
from baton.protocol.headers import H, Headers
from baton.protocol.partitioner import LIBRDKAFKA_PARTITIONER

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = ["Placement", "rerouted_headers"]

log = logging.getLogger("baton.bus")

_KEY_SHOWN = 200  # characters of a key a warning shows


def rerouted_headers(record: Record) -> Headers:
    """The headers of ``record``'s copy on the right partition: its own, and where it was."""
    kept = [(k, v) for k, v in record.headers if k != H.REROUTED_FROM]
    origin = f"{record.topic}:{record.partition}:{record.offset}"
    return [*kept, (H.REROUTED_FROM, origin.encode())]


class Placement:
    """Checks where one consumer group's source records are (module doc).

    Args:
        bus: The bus whose producer re-routes and whose counters count.
        group: The consumer group.
        source: Its source topic.
    """

    def __init__(self, *, bus: Bus, group: str, source: str) -> None:
        self._bus = bus
        self._group = group
        self._moves = source == bus.topics.events
        self._router = bus.settings.router_group

    async def diverts(self, record: Record) -> bool:
        """Whether the group must leave ``record`` unhandled here: it is misplaced on a
        topic whose records are moved (by this group, if it is the router).

        Raises:
            DependencyUnavailableError: the topic's metadata cannot be had.
        """
        if record.key is None:  # unkeyed: any partition is right
            return False
        bus = self._bus
        expected = await bus.transport.partition_for(record.topic, key=record.key)
        if expected == record.partition:
            return False
        bus.wrong_partitions[record.topic] += 1
        if not self._moves:
            action = "handled where it is"
        elif self._group == self._router:
            await bus.send_raw(
                record.topic,
                key=record.key,
                value=record.value,
                headers=rerouted_headers(record),
                sign=False,  # the publisher's record, not this process's
            )
            bus.stats["rerouted"] += 1
            action = "re-published there"
        else:
            action = f"skipped: its copy from group {self._router} comes there"
        log.warning(
            "wrong partition: %s[%d]@%d has key %r, which Baton's partitioner puts on "
            "partition %d (its producer needs partitioner=%s); group %s: %s",
            record.topic,
            record.partition,
            record.offset,
            record.key.decode("utf-8", "replace")[:_KEY_SHOWN],
            expected,
            LIBRDKAFKA_PARTITIONER,
            self._group,
            action,
        )
        return self._moves
