"""Baton's Kafka topics: what they are, and creating and checking them.

Every topic is created with explicit partitions, replication, retention and cleanup policy
by :func:`create_topics`, which is idempotent. Replication is ``BATON_REPLICATION`` when
set, else three or the cluster's live broker count when smaller; with three replicas a
topic requires two in sync (``min.insync.replicas``), so that a record the producer saw
acknowledged (``acks=all``) survives the loss of any one broker. Services call
:func:`require_topics` at start and refuse to run against a missing topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    for_code,
)
from pydantic import BaseModel, ConfigDict

from baton.config import SERVICES, BatonSettings
from baton.errors import DependencyUnavailableError, MissingTopicError, StackError
from baton.security.kafka_client import KafkaSecurity
from baton.stack.kafka import (
    default_replication,
    group_coordinator_ready,
    min_insync_replicas,
    quiet_aiokafka,
)

__all__ = [
    "REPLIES_RETENTION_MS",
    "STATE_MIN_COMPACTION_LAG_MS",
    "TopicSpec",
    "create_topics",
    "delete_topics",
    "describe_topics",
    "list_topics",
    "replication_for",
    "require_topics",
    "topic_specs",
]

REPLIES_RETENTION_MS = 3_600_000
"""Replies are only useful while a request waits: one hour."""
STATE_MIN_COMPACTION_LAG_MS = 3_600_000
"""Every state version stays readable for an hour before compaction may drop it."""
DLQ_RETENTION_FACTOR = 4
ADMIN_WAIT_S = 15.0
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
UNREACHABLE = (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    TimeoutError,
    OSError,
)


class TopicSpec(BaseModel):
    """One topic as Baton creates it.

    Attributes:
        name: Topic name.
        partitions: Number of partitions.
        replication: Replication factor.
        config: Topic-level configuration (``cleanup.policy``, ``retention.ms``...).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    partitions: int
    replication: int
    config: dict[str, str]

    @property
    def cleanup_policy(self) -> str:
        """``delete`` or ``compact``."""
        return self.config["cleanup.policy"]


def replication_for(settings: BatonSettings, *, brokers: int) -> int:
    """Replication of the deployment's topics on a cluster of ``brokers`` live brokers:
    ``BATON_REPLICATION`` when set, else three, or every broker when fewer."""
    if settings.replication is not None:
        return settings.replication
    return default_replication(brokers=brokers)


def topic_specs(settings: BatonSettings, *, brokers: int = 1) -> list[TopicSpec]:
    """Every topic of a deployment: events, state, replies, commands, retries, dead letters.

    Args:
        settings: Prefix, retry delays (one retry topic each), partitions, replication and
            retention.
        brokers: Live brokers of the cluster; decides the replication when
            ``settings.replication`` is unset.
    """
    names = settings.topics
    replication = replication_for(settings, brokers=brokers)
    common = {
        "min.insync.replicas": str(min_insync_replicas(replication=replication)),
        "max.message.bytes": str(
            max(KAFKA_DEFAULT_MAX_MESSAGE_BYTES, settings.max_line_bytes + 65_536)
        ),
    }

    def spec(name: str, config: dict[str, str]) -> TopicSpec:
        return TopicSpec(
            name=name,
            partitions=settings.partitions,
            replication=replication,
            config={**config, **common},
        )

    def delete(retention_ms: int) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(retention_ms)}

    compact = {
        "cleanup.policy": "compact",
        "retention.ms": "-1",
        "min.compaction.lag.ms": str(STATE_MIN_COMPACTION_LAG_MS),
        "delete.retention.ms": str(24 * 3_600_000),
    }
    events_retention = settings.events_retention_ms
    specs = [
        spec(names.events, delete(events_retention)),
        spec(names.state, compact),
        spec(names.replies, delete(REPLIES_RETENTION_MS)),
        *(spec(names.commands(service), delete(events_retention)) for service in SERVICES),
    ]
    for source in names.sources():
        retention = REPLIES_RETENTION_MS if source == names.replies else events_retention
        for level in range(1, names.retry_levels + 1):
            specs.append(spec(names.retry(source, level), delete(retention)))
        specs.append(spec(names.dlq(source), delete(events_retention * DLQ_RETENTION_FACTOR)))
    return specs


def _unavailable(bootstrap: str, exc: BaseException) -> DependencyUnavailableError:
    reason = str(exc) or type(exc).__name__
    return DependencyUnavailableError(
        f"Kafka at {bootstrap} does not answer ({reason}). Start the local stack with "
        "`baton stack up`, or set BATON_KAFKA_BOOTSTRAP to a running broker.",
        bootstrap=bootstrap,
    )


@contextlib.asynccontextmanager
async def _admin(bootstrap: str, security: KafkaSecurity | None) -> AsyncIterator[Any]:
    """A started admin client; connection failures become DependencyUnavailableError.

    ``security`` authenticates it (``BATON_KAFKA_SECURITY_PROTOCOL`` and friends); unset,
    plaintext.
    """
    options = security.client_options() if security is not None else {}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(ADMIN_WAIT_S * 1000), **options
    )
    try:
        with quiet_aiokafka():
            async with asyncio.timeout(ADMIN_WAIT_S):
                await admin.start()
        yield admin
    except UNREACHABLE as exc:
        raise _unavailable(bootstrap, exc) from exc
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def _partitions(admin: Any) -> dict[str, int]:
    """Partition count of every topic (metadata for all topics never auto-creates one)."""
    return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}


async def _names(bootstrap: str, security: KafkaSecurity | None) -> set[str]:
    async with _admin(bootstrap, security) as admin:
        return set(await admin.list_topics())


async def list_topics(*, bootstrap: str, security: KafkaSecurity | None = None) -> list[str]:
    """Names of the broker's topics, internal ones (``__consumer_offsets``...) left out.

    Raises:
        DependencyUnavailableError: the broker does not answer.
    """
    names = await _names(bootstrap, security)
    return sorted(name for name in names if not name.startswith("__"))


async def require_topics(
    *, bootstrap: str, names: Sequence[str], security: KafkaSecurity | None = None
) -> None:
    """Check that every topic in ``names`` exists.

    Raises:
        MissingTopicError: some do not; the message names each of them.
        DependencyUnavailableError: the broker does not answer.
    """
    existing = await _names(bootstrap, security)
    missing = [name for name in dict.fromkeys(names) if name not in existing]
    if missing:
        raise MissingTopicError(
            f"{len(missing)} Kafka topic(s) missing on {bootstrap}: {', '.join(missing)}. "
            "Create them with `baton topics create` (with the same BATON_TOPIC_PREFIX).",
            topics=missing,
        )


async def create_topics(*, settings: BatonSettings) -> list[dict[str, Any]]:
    """Create every topic of :func:`topic_specs` that does not exist yet.

    The replication follows the cluster's live brokers unless ``BATON_REPLICATION`` is set
    (see :func:`replication_for`): create topics while every broker runs. Returns once
    consumer groups can join (:func:`~baton.stack.kafka.group_coordinator_ready`).

    Returns:
        One row per topic: ``topic``, ``status`` (``created`` or ``exists``),
        ``partitions`` (the broker's count for existing topics), ``replication`` and
        ``cleanup_policy``.

    Raises:
        DependencyUnavailableError: the broker does not answer.
        StackError: the broker refused to create a topic; the message says why.
    """
    bootstrap = settings.bootstrap
    async with _admin(bootstrap, settings.kafka_security) as admin:
        brokers = len((await admin.describe_cluster())["brokers"])
        specs = topic_specs(settings, brokers=brokers)
        existing = await _partitions(admin)
        missing = [s for s in specs if s.name not in existing]
        failures: dict[str, list[str]] = {}
        raced: set[str] = set()
        if missing:
            new = [
                NewTopic(s.name, s.partitions, s.replication, topic_configs=s.config)
                for s in missing
            ]
            response = await admin.create_topics(new, timeout_ms=int(ADMIN_WAIT_S * 1000))
            for entry in response.topic_errors:
                name, code = entry[0], entry[1]
                if code == TopicAlreadyExistsError.errno:
                    raced.add(name)  # created meanwhile by someone else
                elif code != 0:
                    detail = entry[2] if len(entry) > 2 and entry[2] else for_code(code).message
                    failures.setdefault(str(detail), []).append(name)
        if failures:
            raise _refused(bootstrap, failures)
        await _wait_visible(admin, [s.name for s in missing])
        final = await _partitions(admin)
    # Consumer groups can join once this returns (on a new broker, after its offsets topic
    # is made and loaded): services started next log no coordinator errors. Not being
    # able to tell is no reason to fail; the groups then wait by themselves.
    await group_coordinator_ready(bootstrap=bootstrap, security=settings.kafka_security)
    return [
        {
            "topic": s.name,
            "status": "exists" if s.name in existing or s.name in raced else "created",
            "partitions": final.get(s.name, s.partitions),
            "replication": s.replication,
            "cleanup_policy": s.cleanup_policy,
        }
        for s in specs
    ]


def _refused(bootstrap: str, failures: dict[str, list[str]]) -> StackError:
    """One error for every refused topic, grouped by the broker's reason."""
    names = [name for group in failures.values() for name in group]
    reasons = "; ".join(
        f"{reason} ({', '.join(group[:3])}{', ...' if len(group) > 3 else ''})"
        for reason, group in failures.items()
    )
    return StackError(
        f"Kafka at {bootstrap} refused to create {len(names)} topic(s): {reasons}. "
        "Check BATON_PARTITIONS / BATON_REPLICATION against the cluster.",
        topics=names,
        reasons=list(failures),
    )


async def _wait_visible(admin: Any, names: list[str]) -> None:
    """Wait until new topics show in metadata with a leader for every partition."""
    if not names:
        return
    async with asyncio.timeout(ADMIN_WAIT_S):
        while True:
            ready = {
                t["topic"]
                for t in await admin.describe_topics()
                if t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
            }
            if ready.issuperset(names):
                return
            await asyncio.sleep(0.2)


async def describe_topics(
    *, bootstrap: str, names: Sequence[str], security: KafkaSecurity | None = None
) -> list[dict[str, Any]]:
    """Partitions and topic configuration of existing topics among ``names``.

    Raises:
        DependencyUnavailableError: the broker does not answer.
    """
    async with _admin(bootstrap, security) as admin:
        partitions = await _partitions(admin)
        present = [name for name in names if name in partitions]
        if not present:
            return []
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in present]
        configs: dict[str, dict[str, str]] = {}
        for response in await admin.describe_configs(resources):
            for resource in response.resources:
                entries = resource[4]
                configs[resource[3]] = {entry[0]: entry[1] for entry in entries}
    return [
        {"topic": name, "partitions": partitions[name], "config": configs.get(name, {})}
        for name in present
    ]


async def delete_topics(
    *,
    bootstrap: str,
    prefix: str | None = None,
    pattern: str | None = None,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Delete every topic named ``<prefix>.…`` (or matching regex ``pattern``); returns them.

    For tests and tear-down of throw-away deployments: a broker keeps files open for every
    partition, so topics nobody uses should not pile up.
    """
    if (prefix is None) == (pattern is None):
        raise ValueError("give exactly one of prefix or pattern")
    matcher = re.compile(pattern if pattern is not None else re.escape(f"{prefix}.") + ".*")
    async with _admin(bootstrap, security) as admin:
        doomed = sorted(n for n in await admin.list_topics() if matcher.match(n))
        if doomed:
            await admin.delete_topics(doomed)
    return doomed
