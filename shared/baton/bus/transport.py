"""The transport seam: what the bus needs from a broker, and nothing more.

Two transports implement it: :class:`~baton.bus.kafka.KafkaTransport` (aiokafka, real
broker) and :class:`~baton.bus.memory.MemoryTransport` (in-process, for unit tests). All of
the bus's behaviour — routing, decoding, retries, dead letters, request-response — sits above
this seam, so the same behaviour tests run against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from baton.protocol.headers import Headers

__all__ = ["Ack", "Record", "RevokeCallback", "TopicPartition", "Transport", "TransportConsumer"]


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    """A partition of a topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record, as the broker delivered it.

    ``refused`` is set (and ``value`` None) on the record standing for a fetched batch
    that was refused rather than decompressed (:mod:`baton.bus.inflation`): why.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int
    refused: str | None = None

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class Ack:
    """Where the broker stored a produced record (it is durable once this exists)."""

    topic: str
    partition: int
    offset: int


RevokeCallback = Callable[[set[TopicPartition]], Awaitable[None]]


class TransportConsumer(Protocol):
    """A consumer of some topics, in a group (committing) or alone (``group=None``)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def fetch(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Record]]:
        """Records fetched since the last call, per partition, in offset order."""
        ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the *next* offset to read for each partition."""
        ...

    def pause(self, tp: TopicPartition) -> None: ...

    def resume(self, tp: TopicPartition) -> None: ...

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    async def lag(self) -> dict[TopicPartition, int]:
        """Records not yet committed in each partition this consumer holds: from the
        group's committed offset (this consumer's position when there is none) to the end
        of the partition, both asked of the broker. Partitions whose offsets cannot be had
        in time are left out."""

    async def position(self, tp: TopicPartition) -> int:
        """The offset of the next record to read from ``tp``, once known (a new group's
        start is looked up after the assignment).

        Raises:
            DependencyUnavailableError: ``tp`` is not assigned to this consumer.
        """
        ...


class Transport(Protocol):
    """A broker connection able to produce and to make consumers."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Awaitable[Ack]:
        """Hand a record to the producer; await the result to know it is acknowledged."""
        ...

    async def flush(self) -> None:
        """Send everything enqueued so far without waiting for linger."""
        ...

    async def partition_for(self, topic: str, *, key: bytes) -> int:
        """The partition of ``topic`` a record keyed ``key`` is produced to."""
        ...

    def consumer(
        self,
        *,
        group: str | None,
        topics: Sequence[str],
        from_beginning: bool,
        on_revoke: RevokeCallback | None = None,
        client_id: str = "baton",
        gather_ms: int | None = None,
    ) -> TransportConsumer:
        """A consumer of ``topics``; with ``group=None`` it reads every partition alone.
        ``gather_ms``: how long the broker may gather records before answering a fetch."""
        ...

    async def existing_topics(self, *, among: Collection[str] | None = None) -> set[str]:
        """Names of the topics the broker has (``among``: only these are looked up — one
        small request, however many topics the cluster holds)."""
        ...

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        """The next offset to be written, per partition of ``topic``."""
        ...
