"""Topics and the stack against the real broker and database (``baton stack up``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from baton.config import BatonSettings
from baton.errors import DependencyUnavailableError, MissingTopicError, StackError
from baton.stack import Stack
from baton.topics import create_topics, list_topics, require_topics, topic_specs

pytestmark = pytest.mark.integration

PARTITIONS = 3  # not the broker's default (6), so the test sees the explicit count


@pytest.fixture
async def settings(live_stack: BatonSettings) -> AsyncIterator[BatonSettings]:
    """The live stack's settings under a fresh topic prefix; its topics are deleted after."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield live_stack.model_copy(
        update={"topic_prefix": prefix, "partitions": PARTITIONS, "retry_delays": (1.0, 2.0)}
    )
    ours = [n for n in await list_topics(bootstrap=live_stack.bootstrap) if n.startswith(prefix)]
    if ours:
        admin = AIOKafkaAdminClient(bootstrap_servers=live_stack.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(ours)
        finally:
            await admin.close()


async def test_create_topics_is_idempotent(settings: BatonSettings) -> None:
    expected = [spec.name for spec in topic_specs(settings)]
    first = await create_topics(settings=settings)
    assert [row["topic"] for row in first] == expected
    assert {row["status"] for row in first} == {"created"}
    second = await create_topics(settings=settings)
    assert {row["status"] for row in second} == {"exists"}
    assert {row["partitions"] for row in second} == {PARTITIONS}
    assert set(expected) <= set(await list_topics(bootstrap=settings.bootstrap))
    await require_topics(bootstrap=settings.bootstrap, names=expected)


async def test_require_topics_names_every_missing_topic(settings: BatonSettings) -> None:
    names = settings.topics
    with pytest.raises(MissingTopicError) as caught:
        await require_topics(bootstrap=settings.bootstrap, names=[names.events, names.state])
    assert caught.value.topics == [names.events, names.state]
    assert names.events in str(caught.value)
    assert "baton topics create" in str(caught.value)

    await create_topics(settings=settings)
    missing = f"{settings.topic_prefix}.not-a-topic"
    with pytest.raises(MissingTopicError) as caught:
        await require_topics(bootstrap=settings.bootstrap, names=[names.events, missing])
    assert caught.value.topics == [missing]


async def test_topics_have_configured_partitions_and_state_is_compacted(
    settings: BatonSettings,
) -> None:
    await create_topics(settings=settings)
    names = settings.topics
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        metadata = {t["topic"]: t for t in await admin.describe_topics()}
        for spec in topic_specs(settings):
            assert len(metadata[spec.name]["partitions"]) == PARTITIONS, spec.name
        watched = [names.state, names.events, names.dlq(names.events), names.replies]
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in watched]
        configs = {
            resource[3]: {entry[0]: entry[1] for entry in resource[4]}
            for response in await admin.describe_configs(resources)
            for resource in response.resources
        }
    finally:
        await admin.close()
    state = configs[names.state]
    assert state["cleanup.policy"] == "compact"
    assert state["retention.ms"] == "-1"
    events = configs[names.events]
    assert events["cleanup.policy"] == "delete"
    assert events["retention.ms"] == str(settings.events_retention_ms)
    dlq = configs[names.dlq(names.events)]
    assert dlq["retention.ms"] == str(4 * settings.events_retention_ms)
    assert configs[names.replies]["retention.ms"] == "3600000"


async def test_refused_topics_are_a_stack_error_naming_them(settings: BatonSettings) -> None:
    impossible = settings.model_copy(update={"replication": 10})
    with pytest.raises(StackError) as caught:
        await create_topics(settings=impossible)
    assert impossible.topics.events in caught.value.fields["topics"]
    assert "BATON_REPLICATION" in str(caught.value)


async def test_unreachable_broker_is_a_dependency_error() -> None:
    with pytest.raises(DependencyUnavailableError) as caught:
        await list_topics(bootstrap="127.0.0.1:9")
    assert "127.0.0.1:9" in str(caught.value)
    assert caught.value.retriable


async def test_stack_reports_both_running_and_up_reuses_them(live_stack: BatonSettings) -> None:
    stack = Stack(settings=live_stack)
    status = await stack.status_async()
    assert status.kafka.state == "running"
    assert status.postgres.state == "running"
    again = await stack.up_async()
    assert again.kafka.action == "reused"
    assert again.postgres.action == "reused"


async def test_postgres_answers_select_1(live_stack: BatonSettings) -> None:
    conn = await asyncpg.connect(live_stack.dsn, timeout=10)
    try:
        assert await conn.fetchval("select 1") == 1
    finally:
        await conn.close()
