"""An in-process broker for unit tests: partitions, keyed partitioning, consumer groups
with committed offsets, pause/resume/seek. No persistence, no network.

Partitioning uses crc32 of the key (not Kafka's murmur2): only *stable* per-key placement
matters for the behaviour under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Collection, Sequence

from baton.bus.transport import Ack, Record, RevokeCallback, TopicPartition
from baton.errors import DependencyUnavailableError
from baton.protocol.headers import Headers

__all__ = ["MemoryTransport"]


class MemoryTransport:
    """A shared in-memory broker; give one instance to every bus that should talk.

    Args:
        partitions: Partitions of every topic created on first use.
    """

    def __init__(self, *, partitions: int = 3) -> None:
        self.partitions = partitions
        self._logs: dict[str, list[list[Record]]] = {}
        self._committed: dict[tuple[str, TopicPartition], int] = {}
        # Members of a group reading the same topics share them (as Kafka's assignors do
        # among the members subscribed to a topic).
        self._members: dict[tuple[str, tuple[str, ...]], list[_MemoryConsumer]] = defaultdict(list)
        # Set (and replaced) on every append. Not an asyncio.Condition: a fetch cancelled
        # while its Condition.wait() takes the lock back leaves the lock released, and
        # leaving the ``async with`` then raises (Python 3.11).
        self._changed = asyncio.Event()
        self._round_robin = itertools.count()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def create_topic(self, name: str, *, partitions: int | None = None) -> None:
        """Create ``name`` unless it exists (topics are also created on first use)."""
        if name not in self._logs:
            self._logs[name] = [[] for _ in range(partitions or self.partitions)]

    def records(self, topic: str) -> list[Record]:
        """Every record of ``topic`` across partitions, in produce order per partition."""
        self.create_topic(topic)
        return sorted((r for log in self._logs[topic] for r in log), key=lambda r: r.timestamp_ms)

    async def enqueue(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int | None = None,
    ) -> Awaitable[Ack]:
        """Append a record; ``partition`` places it there whatever its key (as a client
        with another partitioner would)."""
        self.create_topic(topic)
        logs = self._logs[topic]
        if partition is None and key is None:
            partition = next(self._round_robin) % len(logs)
        elif partition is None:
            partition = await self.partition_for(topic, key=key or b"")
        log = logs[partition]
        record = Record(
            topic, partition, len(log), key, value, list(headers), time.time_ns() // 1_000_000
        )
        log.append(record)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        done: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        done.set_result(Ack(topic, partition, record.offset))
        return done

    async def flush(self) -> None:
        return None

    async def partition_for(self, topic: str, *, key: bytes) -> int:
        self.create_topic(topic)
        return zlib.crc32(key) % len(self._logs[topic])

    def consumer(
        self,
        *,
        group: str | None,
        topics: Sequence[str],
        from_beginning: bool,
        on_revoke: RevokeCallback | None = None,
        client_id: str = "baton",
        gather_ms: int | None = None,
    ) -> _MemoryConsumer:
        return _MemoryConsumer(
            self, group=group, topics=list(topics), from_beginning=from_beginning
        )

    async def existing_topics(self, *, among: Collection[str] | None = None) -> set[str]:
        return set(self._logs) if among is None else set(self._logs) & set(among)

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        self.create_topic(topic)
        return {TopicPartition(topic, p): len(log) for p, log in enumerate(self._logs[topic])}

    async def _wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class _MemoryConsumer:
    def __init__(
        self, broker: MemoryTransport, *, group: str | None, topics: list[str], from_beginning: bool
    ) -> None:
        self._broker = broker
        self._group = group
        self._topics = topics
        self._from_beginning = from_beginning
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._assigned: set[TopicPartition] = set()

    async def start(self) -> None:
        for topic in self._topics:
            self._broker.create_topic(topic)
        if self._group is not None:
            self._broker._members[self._membership].append(self)
        else:
            for topic in self._topics:
                for tp, end in (await self._broker.end_offsets(topic)).items():
                    self._positions[tp] = 0 if self._from_beginning else end

    async def stop(self) -> None:
        if self._group is not None and self in self._broker._members[self._membership]:
            self._broker._members[self._membership].remove(self)

    @property
    def _membership(self) -> tuple[str, tuple[str, ...]]:
        return (self._group or "", tuple(self._topics))

    def assignment(self) -> set[TopicPartition]:
        all_tps = [
            TopicPartition(t, p) for t in self._topics for p in range(len(self._broker._logs[t]))
        ]
        if self._group is None:
            return set(all_tps)
        members = self._broker._members[self._membership]
        index, count = members.index(self), len(members)
        mine = {tp for i, tp in enumerate(all_tps) if i % count == index}
        if mine != self._assigned:
            # A rebalance: positions restart from the group's committed offsets.
            self._assigned = mine
            self._positions = {tp: self._committed_or_start(tp) for tp in mine}
            self._paused &= mine
        return mine

    def _committed_or_start(self, tp: TopicPartition) -> int:
        assert self._group is not None
        committed = self._broker._committed.get((self._group, tp))
        if committed is not None:
            return committed
        return 0 if self._from_beginning else len(self._broker._logs[tp.topic][tp.partition])

    async def fetch(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Record]]:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            batch: dict[TopicPartition, list[Record]] = {}
            budget = max_records
            for tp in sorted(self.assignment()):
                if tp in self._paused or budget <= 0:
                    continue
                log = self._broker._logs[tp.topic][tp.partition]
                start = self._positions.get(tp, 0)
                taken = log[start : start + budget]
                if taken:
                    batch[tp] = taken
                    self._positions[tp] = start + len(taken)
                    budget -= len(taken)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            await self._broker._wait(min(remaining, 0.05))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self._group is None:
            return
        for tp, offset in offsets.items():
            self._broker._committed[(self._group, tp)] = offset

    def pause(self, tp: TopicPartition) -> None:
        self._paused.add(tp)

    def resume(self, tp: TopicPartition) -> None:
        self._paused.discard(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._positions[tp] = offset

    async def lag(self) -> dict[TopicPartition, int]:
        behind: dict[TopicPartition, int] = {}
        for tp in sorted(self.assignment()):
            done = self._broker._committed.get((self._group, tp)) if self._group else None
            if done is None:
                done = self._positions.get(tp)
            if done is not None:
                behind[tp] = max(len(self._broker._logs[tp.topic][tp.partition]) - done, 0)
        return behind

    async def position(self, tp: TopicPartition) -> int:
        if tp not in self.assignment():
            raise DependencyUnavailableError(f"{tp} is not assigned")
        return self._positions.get(tp, self._committed_or_start(tp) if self._group else 0)
