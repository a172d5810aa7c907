"""Faust's aiokafka consumer, made to go back to a partition's start when it should.

After a rebalance faust restores the tables, then seeks every partition of the events topic
to its committed offset and reads on. aiokafka's ``seek_to_committed`` seeks only to an
offset above 0: a partition committed at 0 (nothing read yet), or not committed at all,
keeps whatever position the consumer has. While the tables were restored, the consumer's
fetch loop ran for the changelogs and could take the events topic's records too, which
faust then discards (those partitions were not active yet): the position moved past them
and nothing brings it back. Seen against the real broker: a restarted monitor whose group
stood at 0 read nothing at all, its positions at the end.

Here the seek also rewinds such partitions: to 0 when committed at 0, to the beginning
(``consumer_auto_offset_reset="earliest"``, as the App is built) when never committed.
A record read twice that way is counted once (the counted offsets of
:class:`~baton_monitor.streams.MonitorStreams`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AiokafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AiokafkaTransport
from faust.types import TP

__all__ = ["RewindingTransport"]


class _RewindingConsumerThread(AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset, 0 and none included."""
        result: Mapping[TP, int] = await self.call_thread(self._seek_to_committed)
        return result

    async def _seek_to_committed(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        committed: dict[Any, Any] = await consumer.seek_to_committed()
        # Changelog partitions are never committed: faust positions them while restoring.
        changelogs = self.app.tables.changelog_topics
        for tp, offset in committed.items():
            if tp.topic in changelogs:
                continue
            if offset == 0:
                consumer.seek(tp, 0)
            elif offset is None:
                await consumer.seek_to_beginning(tp)
        return committed


class _RewindingConsumer(AiokafkaConsumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)


class RewindingTransport(AiokafkaTransport):
    """Faust's aiokafka transport whose consumer seeks as described above."""

    Consumer = _RewindingConsumer
