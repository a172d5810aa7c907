"""The faust-streaming pieces of the monitor: the App, its source topic, and line reading.

The App is built to live inside a host asyncio service: no web server, no worker (so no
signal handlers and no logging set-up), and in-memory tables restored from their changelog
topics, which get the partitions and replication of the events topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from faust.transport.drivers.aiokafka import Producer as AiokafkaProducer

from baton.bus.kafka import DURABLE_PRODUCER
from baton.errors import DependencyUnavailableError, MissingTopicError, ProtocolError, StackError
from baton.protocol.codec import parse_data
from baton.protocol.fields import seconds
from baton.security.kafka_client import KafkaSecurity
from baton.stack.kafka import min_insync_replicas
from baton_monitor.faust_consumer import RewindingTransport
from baton_monitor.streamviews import MALFORMED
from baton_monitor.tally import PartitionedTable

__all__ = [
    "MALFORMED",
    "DurableProducer",
    "Reading",
    "SourceTopic",
    "broker_credentials",
    "build_app",
    "describe_source",
    "ensure_changelogs",
    "read_line",
]

UNKNOWN_AGENT: Final = "unknown"
"""Agent of a TASK_FAILED whose data names none."""
ADMIN_WAIT_S: Final = 15.0

_HEAD = re.compile(r"([A-Z][A-Z0-9_]{0,127}):([A-Za-z0-9_.-]{1,128}:[A-Za-z0-9_.-]{1,128}):")


@dataclass(frozen=True, slots=True)
class SourceTopic:
    """The events topic as the broker has it."""

    name: str
    partitions: int
    replication: int


@dataclass(frozen=True, slots=True)
class Reading:
    """What the monitor takes from one record.

    Attributes:
        kind: The event type, or :data:`MALFORMED`.
        failed_agent: For TASK_FAILED, the agent (``unknown`` when the data names none).
        workflow_id: The workflow (empty for malformed records).
        subject: The task id of TASK_* events, the phase of PHASE_* events, else empty.
        agent: The agent of TASK_* events (``unknown`` when the data names none).
        duration: Seconds the data reports (``duration`` / ``actual_duration``), if any.
    """

    kind: str
    failed_agent: str | None = None
    workflow_id: str = ""
    subject: str = ""
    agent: str = UNKNOWN_AGENT
    duration: float | None = None


_BAD = Reading(MALFORMED)


@contextlib.asynccontextmanager
async def _admin(bootstrap: str, security: KafkaSecurity | None) -> AsyncIterator[Any]:
    options = security.client_options() if security is not None else {}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(ADMIN_WAIT_S * 1000), **options
    )
    try:
        async with asyncio.timeout(ADMIN_WAIT_S):
            await admin.start()
            yield admin
    except (KafkaError, OSError, TimeoutError) as exc:
        raise DependencyUnavailableError(
            f"Kafka at {bootstrap} does not answer ({exc!r})", bootstrap=bootstrap
        ) from exc
    finally:
        await admin.close()


async def _partitions(admin: Any, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Partitions (with leader and replicas) of the existing topics among ``names``."""
    described = await admin.describe_topics(names)
    return {t["topic"]: t["partitions"] for t in described if t["error_code"] == 0}


async def describe_source(
    *, bootstrap: str, topic: str, security: KafkaSecurity | None = None
) -> SourceTopic:
    """Partitions and replication of ``topic``; the monitor's changelog topics copy them.

    ``security`` authenticates the admin client; unset, plaintext.

    Raises:
        MissingTopicError: the topic does not exist (the broker never auto-creates it).
        DependencyUnavailableError: the broker does not answer.
    """
    async with _admin(bootstrap, security) as admin:
        partitions = (await _partitions(admin, [topic])).get(topic)
    if not partitions:
        raise MissingTopicError(
            f"Kafka topic {topic} missing on {bootstrap}. Create it with `baton topics create`.",
            topics=[topic],
        )
    return SourceTopic(topic, len(partitions), len(partitions[0]["replicas"]))


async def ensure_changelogs(
    *,
    bootstrap: str,
    source: SourceTopic,
    retention_s: dict[str, float | None],
    security: KafkaSecurity | None = None,
) -> None:
    """Create the windowed tables' changelog topics and wait until metadata shows them.

    Faust declares them too, but subscribes right after: a topic created a moment earlier
    can still show 0 partitions to its consumer, and the agent then crashes on every event
    with PartitionsMismatch. Created here first, faust finds them and skips creation.

    Args:
        bootstrap: Kafka ``host:port`` list.
        source: The events topic; changelogs get its partitions and replication.
        retention_s: Retention of each changelog topic by name (its window's expiry), or
            None for a plain table's changelog (compacted, kept).
        security: Authenticates the admin client; unset, plaintext.

    Raises:
        StackError: the broker refused a topic, or one exists with other partitions.
        DependencyUnavailableError: the broker does not answer.
    """
    names = list(retention_s)
    async with _admin(bootstrap, security) as admin:
        existing = await _partitions(admin, names)
        new = [
            NewTopic(
                name,
                source.partitions,
                source.replication,
                topic_configs=_changelog_configs(retention_s[name], replication=source.replication),
            )
            for name in names
            if name not in existing
        ]
        if new:
            response = await admin.create_topics(new, timeout_ms=int(ADMIN_WAIT_S * 1000))
            refused = {
                entry[0]: str(entry[2] or for_code(entry[1]).message)
                for entry in response.topic_errors
                if entry[1] not in (0, TopicAlreadyExistsError.errno)
            }
            if refused:
                raise StackError(f"Kafka at {bootstrap} refused changelog topics: {refused}")
        while True:
            found = await _partitions(admin, names)
            wrong = {
                name: len(parts) for name, parts in found.items() if len(parts) != source.partitions
            }
            if wrong:
                raise StackError(
                    f"changelog topics {wrong} do not have the {source.partitions} partitions "
                    f"of {source.name}; delete them to rebuild the monitor's windows"
                )
            ready = [name for name, parts in found.items() if all(p["leader"] >= 0 for p in parts)]
            if len(ready) == len(names):
                return
            await asyncio.sleep(0.1)


def _changelog_configs(retention: float | None, *, replication: int) -> dict[str, str]:
    # As durable as the events topic: two in-sync replicas of three (see baton.topics).
    durable = {"min.insync.replicas": str(min_insync_replicas(replication=replication))}
    if retention is None:
        return {"cleanup.policy": "compact", **durable}
    # What faust declares for a windowed table: old windows leave with time.
    return {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(int(retention * 1000)),
        **durable,
    }


class DurableProducer(AiokafkaProducer):
    """Faust's aiokafka producer made like every Baton producer: idempotent, ``acks=all``.

    (Faust turns idempotence on only for exactly-once processing, which the monitor does
    not use: without it, a changelog write retried across a leader change may be doubled.)
    """

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **DURABLE_PRODUCER}


def broker_credentials(security: KafkaSecurity | None) -> Any:
    """Faust's form of ``security`` (its ``broker_credentials``); None for plaintext."""
    if security is None or security.protocol == "PLAINTEXT":
        return None
    context = security.ssl_context() if security.tls else None
    if not security.sasl:
        return faust.SSLCredentials(context)
    assert security.password is not None  # checked by KafkaSecurity's validator
    return faust.SASLCredentials(
        username=security.username,
        password=security.password.get_secret_value(),
        ssl_context=context,
        mechanism=security.mechanism,
    )


def build_app(
    *,
    app_id: str,
    bootstrap: str,
    data_dir: Path,
    source: SourceTopic,
    security: KafkaSecurity | None = None,
) -> Any:
    """A faust App for embedding: consumer group and topic prefix ``app_id``.

    Args:
        app_id: Faust id: the consumer group, and the head of every internal topic name
            (``<app_id>-<table>-changelog``).
        bootstrap: Kafka ``host:port`` list.
        data_dir: Faust's data directory (created; the memory store writes nothing there).
        source: The events topic; tables must have as many partitions as it has.
        security: How faust's producer, consumer and admin client authenticate; unset,
            plaintext.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=broker_credentials(security),
        store="memory://",
        datadir=str(data_dir),
        autodiscover=False,
        web_enabled=False,
        # The leader topic only serves @app.timer(on_leader=True), which the monitor has not.
        topic_disable_leader=True,
        topic_allow_declare=True,
        topic_partitions=source.partitions,
        topic_replication_factor=source.replication,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,  # DurableProducer also makes it idempotent
        # A batch's changelog writes leave the buffer one by one, each waking the sender:
        # without a linger they went out as ~28 produce requests per batch, with 50 ms ~8.
        producer_linger=0.05,
        # Offsets are committed only after the changelog writes they cover are flushed; a
        # short interval keeps what a crash makes us re-count small.
        broker_commit_interval=1.0,
        # The default waits 3 s after each rebalance for more members to join.
        stream_recovery_delay=0.0,
        # A killed monitor's old member holds its partitions until its session times out;
        # the default (60 s) would keep a restarted monitor waiting that long.
        broker_session_timeout=6.0,
        broker_heartbeat_interval=2.0,
        Table=PartitionedTable,
    )
    # Set before anything asks for the transport (the topics' conductor does, lazily).
    app.transport = RewindingTransport(app.conf.broker_consumer, app)
    app.producer = DurableProducer(app.transport, loop=app.loop, beacon=app.beacon)
    # A batch writes a changelog record per window and key it changed; past faust's default
    # of 100 buffered sends every batch would log a warning.
    app.producer.buffer.max_messages = 5000
    return app


def read_line(value: bytes | None) -> Reading:
    """Classify one record value; never raises.

    Only TASK_* lines have their data decoded (orjson, then the single-quoted form);
    for the others the head ``EVENT_TYPE:workflow_id:phase:`` and an object-looking data
    suffice, which keeps counting cheap.
    """
    if not value:
        return _BAD
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return _BAD
    text = text.removesuffix("\n").removesuffix("\r")
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    head = _HEAD.match(text)
    data = text[head.end() :] if head else ""
    if head is None or not (data.startswith("{") and data.endswith("}")):
        return _BAD
    event_type = head.group(1)
    workflow_id, _, phase = text[head.start(2) : head.end() - 1].partition(":")
    if not event_type.startswith(("TASK_", "PHASE_")):
        return Reading(event_type, workflow_id=workflow_id)
    try:
        fields = parse_data(data)
    except ProtocolError:
        return _BAD
    reported = fields.get("actual_duration", fields.get("duration"))
    if event_type.startswith("PHASE_"):
        return Reading(
            event_type, workflow_id=workflow_id, subject=phase, duration=seconds(reported)
        )
    agent = fields.get("agent_id")
    agent = agent if isinstance(agent, str) and agent else UNKNOWN_AGENT
    task = fields.get("task_id")
    return Reading(
        event_type,
        agent if event_type == "TASK_FAILED" else None,
        workflow_id=workflow_id,
        subject=task if isinstance(task, str) else "",
        agent=agent,
        duration=seconds(reported),
    )
