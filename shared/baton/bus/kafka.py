"""The Kafka transport, over aiokafka.

The producer is idempotent with ``acks=all`` set explicitly (:data:`DURABLE_PRODUCER`, also
used by the monitor's faust producer), compressed and batched: on a replicated cluster an
acknowledged record is on ``min.insync.replicas`` brokers, and a retry after a leader
change is not written twice.
Consumers never auto-commit: the bus commits after handling. A rebalance waits for the
in-flight batch (``on_revoke``) so that what was handled is committed before partitions
move to another member.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection, Generator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTP
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IllegalStateError, KafkaConnectionError, KafkaError

from baton.bus.inflation import RefusedBatch, fetch_limits, inflated_batch_limit
from baton.bus.inflation import install as install_inflation_bound
from baton.bus.transport import Ack, Record, RevokeCallback, TopicPartition
from baton.config import BatonSettings
from baton.errors import DependencyUnavailableError, MissingTopicError
from baton.protocol.headers import Headers
from baton.protocol.partitioner import partition_of
from baton.security.kafka_client import KafkaSecurity

__all__ = ["DURABLE_PRODUCER", "SESSION_TIMEOUT_MS", "KafkaTransport", "producer_options"]

log = logging.getLogger("baton.bus")

SESSION_TIMEOUT_MS = 6_000
FETCH_MAX_WAIT_MS = 2_000
GATHER_MIN_BYTES = 1_048_576
"""Consumer group session timeout (the broker's minimum is 6 s)."""
_LAG_WAIT = 2.0
"""Seconds a lag reading waits for the broker's answers before leaving a partition out."""
DURABLE_PRODUCER: Mapping[str, Any] = MappingProxyType({"acks": "all", "enable_idempotence": True})
"""What every Baton producer sets: acknowledged only once every in-sync replica has the
record, and retried without duplicates (the broker drops a batch it already appended)."""


def producer_options(settings: BatonSettings) -> dict[str, Any]:
    """Keyword arguments of the bus's ``AIOKafkaProducer`` for ``settings``."""
    compression = settings.kafka_compression
    return {
        "bootstrap_servers": settings.bootstrap,
        "client_id": settings.component,
        **DURABLE_PRODUCER,
        "compression_type": None if compression == "none" else compression,
        "linger_ms": settings.kafka_linger_ms,
        "max_batch_size": 256 * 1024,
        "max_request_size": max(2 * settings.max_line_bytes, 1_048_576),
        **settings.kafka_security.client_options(),
    }


class _Delivery:
    """Awaitable acknowledgement of one produced record (cheaper than a coroutine)."""

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self._future = future

    def __await__(self) -> Generator[Any, None, Ack]:
        try:
            meta = yield from self._future.__await__()
        except KafkaError as exc:
            raise DependencyUnavailableError(
                f"Kafka did not acknowledge a record: {exc!r}"
            ) from exc
        return Ack(meta.topic, meta.partition, meta.offset)


class KafkaTransport:
    """Producer and consumer factory for one Kafka cluster.

    Args:
        settings: Bootstrap servers, compression, linger and client naming come from here.
    """

    def __init__(self, *, settings: BatonSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(**producer_options(self.settings))
        try:
            await producer.start()
        except KafkaConnectionError as exc:
            await producer.stop()
            raise DependencyUnavailableError(
                f"cannot reach Kafka at {self.settings.bootstrap} (BATON_KAFKA_BOOTSTRAP); "
                "start one with `baton stack up`",
                bootstrap=self.settings.bootstrap,
            ) from exc
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()
        if producer is not None:
            await producer.stop()

    async def enqueue(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Awaitable[Ack]:
        if self._producer is None:
            raise DependencyUnavailableError("the Kafka transport is not started")
        try:
            future = await self._producer.send(topic, value=value, key=key, headers=headers)
        except KafkaError as exc:
            raise DependencyUnavailableError(
                f"cannot send to {topic}: {exc!r}", topic=topic
            ) from exc
        return _Delivery(future)

    async def flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def partition_for(self, topic: str, *, key: bytes) -> int:
        """The producer's own choice (its default partitioner, murmur2 of the key as in
        the Java client: :func:`~baton.protocol.partitioner.partition_of`), from its cached
        metadata of ``topic``."""
        if self._producer is None:
            raise DependencyUnavailableError("the Kafka transport is not started")
        try:
            partitions = await self._producer.partitions_for(topic)
        except KafkaError as exc:
            raise DependencyUnavailableError(
                f"no metadata of {topic}: {exc!r}", topic=topic
            ) from exc
        return partition_of(key, partitions=len(partitions))

    def consumer(
        self,
        *,
        group: str | None,
        topics: Sequence[str],
        from_beginning: bool,
        on_revoke: RevokeCallback | None = None,
        client_id: str = "baton",
        gather_ms: int | None = None,
    ) -> _KafkaConsumer:
        return _KafkaConsumer(
            settings=self.settings,
            group=group,
            topics=list(topics),
            from_beginning=from_beginning,
            on_revoke=on_revoke,
            client_id=client_id,
            gather_ms=gather_ms,
        )

    async def existing_topics(self, *, among: Collection[str] | None = None) -> set[str]:
        # Kept while the transport runs: health probes ask this every few seconds, and a
        # client of their own each time meant a new connection and metadata fetch.
        admin = self._admin or AIOKafkaAdminClient(
            bootstrap_servers=self.settings.bootstrap,
            **self.settings.kafka_security.client_options(),
        )
        try:
            if admin is not self._admin:
                await admin.start()
            if among is None:
                topics = set(await admin.list_topics())
            else:
                described = await admin.describe_topics(sorted(among))
                topics = {t["topic"] for t in described if t["error_code"] == 0}
        except BaseException as exc:  # a probe's timeout too: no client left half-made
            await admin.close()
            if admin is self._admin:
                self._admin = None
            if not isinstance(exc, KafkaError):
                raise
            raise DependencyUnavailableError(
                f"cannot reach Kafka at {self.settings.bootstrap}",
                bootstrap=self.settings.bootstrap,
            ) from exc
        if self._producer is None:
            await admin.close()  # not started: nothing closes a kept client later
        elif admin is not self._admin:
            self._admin = admin
        return topics

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        security = self.settings.kafka_security
        tps = await partitions_of(self.settings.bootstrap, [topic], security=security)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            enable_auto_commit=False,
            **security.client_options(),
        )
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
            return {TopicPartition(tp.topic, tp.partition): off for tp, off in ends.items()}
        finally:
            await consumer.stop()


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop ``consumer``, also while one of its fetches waits out a broker's failure.

    aiokafka cancels such a fetch on stop and awaits it without catching the cancellation,
    so its ``stop()`` raises ``CancelledError`` out of a task that nobody cancelled
    (aio-libs/aiokafka#647): a service stopping right after losing a broker then crashed
    on its way out. That stray cancellation is logged and the stop goes on; a real one
    (this task being cancelled) still propagates. The consumer's connections are then left
    to close with their sockets.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("a Kafka consumer stopped while a fetch was failing; its stop was cut short")


async def partitions_of(
    bootstrap: str, topics: Sequence[str], *, security: KafkaSecurity | None = None
) -> list[KafkaTP]:
    """Every partition of ``topics``, from fresh metadata.

    (The consumer's own metadata cache can lag behind topics created a moment ago.)
    ``security`` authenticates the admin client; unset, plaintext.

    Raises:
        MissingTopicError: a topic does not exist.
    """
    options = security.client_options() if security is not None else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    try:
        await admin.start()
        described = await admin.describe_topics(list(topics))
    except KafkaConnectionError as exc:
        raise DependencyUnavailableError(f"cannot reach Kafka at {bootstrap}") from exc
    finally:
        await admin.close()
    missing = [d["topic"] for d in described if d["error_code"] or not d["partitions"]]
    if missing:
        raise MissingTopicError(
            f"missing topics: {', '.join(missing)}; create them with `baton topics create`",
            topics=missing,
        )
    return [
        KafkaTP(d["topic"], p["partition"])
        for d in described
        for p in sorted(d["partitions"], key=lambda p: p["partition"])
    ]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoke: RevokeCallback | None) -> None:
        self._on_revoke = on_revoke

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self._on_revoke is not None:
            await self._on_revoke({TopicPartition(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class _KafkaConsumer:
    def __init__(
        self,
        *,
        settings: BatonSettings,
        group: str | None,
        topics: list[str],
        from_beginning: bool,
        on_revoke: RevokeCallback | None,
        client_id: str,
        gather_ms: int | None = None,
    ) -> None:
        self._group = group
        self._bootstrap = settings.bootstrap
        self._security = settings.kafka_security
        self._topics = topics
        self._from_beginning = from_beginning
        self._listener = _Listener(on_revoke)
        wait_ms = FETCH_MAX_WAIT_MS if gather_ms is None else gather_ms
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            # Compressed sizes; what a batch inflates to is bounded by BoundedRecords.
            **fetch_limits(settings.max_line_bytes),
            # The broker answers a fetch as soon as a record arrives; this is only how long
            # an idle fetch waits for one (2 fetches a second per consumer at the default
            # 500 ms kept an idle service busy). A resumed retry partition waits at most
            # this long for the next fetch.
            fetch_max_wait_ms=wait_ms,
            # Gathering: the broker answers once this much has come, or after gather_ms.
            fetch_min_bytes=1 if gather_ms is None else GATHER_MIN_BYTES,
            # How often the client's fetch loop looks around without being woken: every
            # 200 ms by default, which made an idle consumer's CPU three times what its
            # fetches cost. It is woken anyway by what matters (a fetch answered, records
            # consumed, a seek, a resumed partition, a rebalance), and a fetch is answered
            # within wait_ms.
            consumer_timeout_ms=wait_ms,
            # A crashed member's partitions wait this long for a new owner: short, so a
            # restarted service resumes in seconds; heartbeats every third of it.
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3,
            # Static membership: one member per (replica, first topic read) in a group (a
            # group reads its source topic and its retry topics as two members).
            group_instance_id=(
                f"{settings.instance_id}.{topics[0]}"
                if group is not None and settings.instance_id is not None
                else None
            ),
            **self._security.client_options(),
        )
        install_inflation_bound(limit=inflated_batch_limit(settings.max_line_bytes))
        self._started = False

    async def start(self) -> None:
        try:
            await self._consumer.start()
        except KafkaConnectionError as exc:
            raise DependencyUnavailableError(f"cannot reach Kafka: {exc!r}") from exc
        self._started = True
        if self._group is not None:
            self._consumer.subscribe(self._topics, listener=self._listener)
            return
        tps = await partitions_of(self._bootstrap, self._topics, security=self._security)
        self._consumer.assign(tps)
        if self._from_beginning:
            await self._consumer.seek_to_beginning(*tps)
        else:
            await self._consumer.seek_to_end(*tps)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await stop_consumer(self._consumer)

    async def fetch(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Record]]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return {
            TopicPartition(tp.topic, tp.partition): [
                Record(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers), r.timestamp)
                if not isinstance(r.value, RefusedBatch)
                else Record(
                    r.topic, r.partition, r.offset, None, None, [], r.timestamp, r.value.reason
                )
                for r in records
            ]
            for tp, records in batches.items()
        }

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self._group is None or not offsets:
            return
        await self._consumer.commit(
            {KafkaTP(tp.topic, tp.partition): o for tp, o in offsets.items()}
        )

    def pause(self, tp: TopicPartition) -> None:
        self._consumer.pause(KafkaTP(tp.topic, tp.partition))

    def resume(self, tp: TopicPartition) -> None:
        self._consumer.resume(KafkaTP(tp.topic, tp.partition))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(KafkaTP(tp.topic, tp.partition), offset)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def lag(self) -> dict[TopicPartition, int]:
        tps = sorted(self._consumer.assignment()) if self._started else []
        if not tps:
            return {}
        try:
            # Asked of the broker: the high watermark the client holds stays where it was
            # while a partition's fetched records wait, i.e. while its handler is stuck.
            async with asyncio.timeout(_LAG_WAIT):
                ends: dict[KafkaTP, int] = await self._consumer.end_offsets(tps)
        except (TimeoutError, KafkaError):  # an outage: nothing to say this time
            return {}
        done = await asyncio.gather(*(self._done_up_to(tp) for tp in tps))
        return {
            TopicPartition(tp.topic, tp.partition): max(ends[tp] - offset, 0)
            for tp, offset in zip(tps, done, strict=True)
            if offset is not None and tp in ends
        }

    async def _done_up_to(self, tp: KafkaTP) -> int | None:
        """The group's committed offset of ``tp`` (records fetched but not yet handled count
        as lag), else this consumer's position; None when neither comes in time."""
        try:
            async with asyncio.timeout(_LAG_WAIT):
                if self._group is not None:
                    committed: int | None = await self._consumer.committed(tp)
                    if committed is not None:
                        return committed
                position: int = await self._consumer.position(tp)
                return position
        except (TimeoutError, KafkaError):  # a rebalance, an outage: left out this time
            return None

    async def position(self, tp: TopicPartition) -> int:
        try:
            return int(await self._consumer.position(KafkaTP(tp.topic, tp.partition)))
        except IllegalStateError as exc:
            raise DependencyUnavailableError(f"{tp} is not assigned: {exc!r}") from exc
