"""Probes of a Kafka broker or cluster: does it answer, how many brokers does it list, can
consumer groups join yet."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.commit import OffsetFetchRequest

from baton.security.kafka_client import KafkaSecurity

__all__ = ["cluster_size", "group_coordinator_ready", "kafka_answers", "quiet_aiokafka"]

OFFSETS_TOPIC = "__consumer_offsets"
_PROBE_GROUP = "baton.coordinator-probe"
_NO_ERROR = 0
_AUTHORIZATION_FAILED = 30  # GROUP_AUTHORIZATION_FAILED: not ours to probe

_quiet_depth = 0
_quiet_level = logging.NOTSET


@contextlib.contextmanager
def quiet_aiokafka() -> Iterator[None]:
    """Silence aiokafka's connection errors while probing a broker that may not run yet.

    Probes overlap (each node of a cluster is probed at once): the level is restored when
    the last of them ends, not the first.
    """
    global _quiet_depth, _quiet_level
    logger = logging.getLogger("aiokafka")
    if _quiet_depth == 0:
        _quiet_level = logger.level
        logger.setLevel(logging.CRITICAL)
    _quiet_depth += 1
    try:
        yield
    finally:
        _quiet_depth -= 1
        if _quiet_depth == 0:
            logger.setLevel(_quiet_level)


async def cluster_size(
    *, bootstrap: str, max_wait: float = 5.0, security: KafkaSecurity | None = None
) -> int:
    """How many live brokers the first answering broker of ``bootstrap`` lists in its
    metadata; 0 when none answers.

    Given one address, this is that broker's own answer (not another broker's it would
    forward to), which is what tells one node of a cluster up from down.

    Args:
        bootstrap: The brokers' addresses.
        max_wait: Seconds to wait for the answer.
        security: How to authenticate; unset, plaintext.
    """
    async with _client(bootstrap=bootstrap, max_wait=max_wait, security=security) as client:
        try:
            async with asyncio.timeout(max_wait):
                await client.bootstrap()
            return len(client.cluster.brokers())
        except Exception:
            return 0


async def kafka_answers(
    *, bootstrap: str, max_wait: float = 5.0, security: KafkaSecurity | None = None
) -> bool:
    """Whether a broker at ``bootstrap`` answers a metadata request that lists a broker."""
    return await cluster_size(bootstrap=bootstrap, max_wait=max_wait, security=security) > 0


async def group_coordinator_ready(
    *, bootstrap: str, max_wait: float = 15.0, security: KafkaSecurity | None = None
) -> bool:
    """Wait until every partition of Kafka's offsets topic has a coordinator serving it;
    False when that takes longer than ``max_wait`` seconds (or the broker does not answer).

    A new broker creates its offsets topic on the first coordinator lookup and then loads
    each partition. Consumer groups that join meanwhile are told "coordinator not
    available" or "not coordinator" and retry, which aiokafka logs as errors and warnings:
    waiting here, once the topics exist, lets every service start on a quiet broker. Each
    probe group maps to one partition (Kafka places a group by the hash of its name).
    """
    async with _client(bootstrap=bootstrap, max_wait=max_wait, security=security) as client:
        try:
            async with asyncio.timeout(max_wait):
                await client.bootstrap()
                await _until_answered(client, [_PROBE_GROUP])  # creates the offsets topic
                await client.force_metadata_update()
                count = len(client.cluster.partitions_for_topic(OFFSETS_TOPIC) or ())
                await _until_answered(client, probe_groups(count))
            return True
        except (TimeoutError, KafkaError, OSError):
            return False


@contextlib.asynccontextmanager
async def _client(
    *, bootstrap: str, max_wait: float, security: KafkaSecurity | None
) -> AsyncIterator[AIOKafkaClient]:
    """A bare Kafka client for one probe, its retry noise kept out of the log, closed after."""
    options = security.client_options() if security is not None else {}
    with quiet_aiokafka():
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(max_wait * 1000), **options
        )
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                await client.close()


def probe_groups(partitions: int) -> list[str]:
    """One group name per partition of an offsets topic of ``partitions`` partitions."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        name = f"{_PROBE_GROUP}.{n}"
        found.setdefault(offsets_partition(name, partitions), name)
        n += 1
    return [found[p] for p in range(partitions)]


def offsets_partition(group: str, partitions: int) -> int:
    """The offsets topic partition of ``group``: ``abs(hashCode) % partitions`` as Kafka
    computes it (Java's ``String.hashCode``, and ``abs`` of the smallest int is 0)."""
    units = group.encode("utf-16-be")  # Java hashes UTF-16 code units
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return (0 if signed == -(1 << 31) else abs(signed)) % partitions


async def _until_answered(client: AIOKafkaClient, groups: list[str]) -> None:
    """Ask each group's coordinator for its offsets until every one answers without error."""

    async def answered(group: str) -> bool:
        try:
            node = await client.coordinator_lookup(0, group)  # 0: a consumer group
            response = await client.send(node, OffsetFetchRequest(group, None))
        except KafkaError as exc:
            return bool(exc.errno == _AUTHORIZATION_FAILED)
        return bool(response.error_code in (_NO_ERROR, _AUTHORIZATION_FAILED))

    pending = list(groups)
    while pending:
        done = await asyncio.gather(*(answered(group) for group in pending))
        pending = [group for group, ok in zip(pending, done, strict=True) if not ok]
        if pending:
            await asyncio.sleep(0.1)
