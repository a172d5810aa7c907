"""Acceptance of the secured broker: every forbidden attempt is rejected, the allowed works.

Each test makes several attempts, counts the ones that succeeded, prints the counts and
asserts 0 successes (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from baton.bus.kafka import KafkaTransport
from baton.config import BatonSettings
from baton.security.kafka_client import KafkaSecurity
from baton.stack.secure_kafka import SecureKafkaStack
from tests.security.conftest import SecureKafka

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ATTEMPT_WAIT_S = 15.0
"""A rejected attempt fails fast (a closed connection or an authorization error); a hang
counts as rejected too, never as a success."""


Attempt = Callable[[], Awaitable[None]]


def _bootstrap() -> str:
    """The secured broker the ``secure_kafka`` fixture runs (the test stack's)."""
    return SecureKafkaStack(settings=BatonSettings.from_env(os.environ)).bootstrap


async def _count(
    label: str, attempts: Sequence[Attempt], *, expected: type[Exception] = Exception
) -> int:
    """Run every attempt; print and return how many succeeded.

    Every refusal must be an ``expected`` error (an authorization error, not some other
    failure that would make the test pass for the wrong reason).
    """
    successes = 0
    refusals: list[Exception] = []
    started = time.monotonic()
    for attempt in attempts:
        try:
            async with asyncio.timeout(ATTEMPT_WAIT_S):
                await attempt()
            successes += 1
        except Exception as exc:
            refusals.append(exc)
    took = time.monotonic() - started
    reasons = Counter(type(exc).__name__ for exc in refusals)
    other = [exc for exc in refusals if not isinstance(exc, expected)]
    assert not other, f"{label}: refused for another reason: {other!r}"
    print(
        f"\n{label}: attempts={len(attempts)} successes={successes} "
        f"rejected={dict(reasons)} ({took:.1f}s)"
    )
    return successes


async def _produce(options: dict[str, Any], topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=_bootstrap(), request_timeout_ms=5000, **options)
    try:
        await producer.start()
        await producer.send_and_wait(topic, b'{"probe": true}')
    finally:
        await producer.stop()


async def _join(options: dict[str, Any], topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=_bootstrap(),
        group_id=group,
        request_timeout_ms=5000,
        **options,
    )
    try:
        await consumer.start()
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()


async def _read(options: dict[str, Any], topic: str, group: str) -> None:
    """Succeeds only when a record of ``topic`` actually arrives."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=_bootstrap(),
        group_id=group,
        auto_offset_reset="earliest",
        request_timeout_ms=5000,
        **options,
    )
    try:
        await consumer.start()
        while not await consumer.getmany(timeout_ms=500):
            pass
    finally:
        await consumer.stop()


def _as(kafka: SecureKafka, user: str) -> KafkaSecurity:
    return kafka.settings(user=user).kafka_security


async def test_wrong_credentials_are_rejected(secure_kafka: SecureKafka) -> None:
    topic = f"{secure_kafka.prefix}.events"
    hub = _as(secure_kafka, "hub")
    attempts: list[Attempt] = []
    for user in ("hub", "resource", "admin", "nobody"):
        wrong = hub.model_copy(update={"username": user, "password": SecretStr("not-it")})
        attempts.append(partial(_produce, wrong.client_options(), topic))
    # The right password under another principal's name is wrong too.
    stolen = _as(secure_kafka, "status").model_copy(update={"password": hub.password})
    attempts.append(partial(_produce, stolen.client_options(), topic))
    successes = await _count("wrong credentials", attempts, expected=KafkaConnectionError)
    assert successes == 0
    # The same client with the right credentials gets through: the refusals were the password.
    assert await _count("right credentials", [partial(_produce, hub.client_options(), topic)]) == 1


async def test_plaintext_to_the_tls_port_is_rejected(secure_kafka: SecureKafka) -> None:
    topic = f"{secure_kafka.prefix}.events"
    hub = _as(secure_kafka, "hub")
    no_tls = hub.model_copy(update={"protocol": "SASL_PLAINTEXT"}).client_options()
    no_sasl = hub.model_copy(update={"protocol": "SSL"}).client_options()
    attempts = [
        partial(_produce, {}, topic),  # PLAINTEXT, no credentials
        partial(_produce, {"security_protocol": "PLAINTEXT"}, topic),
        partial(_produce, no_tls, topic),  # right credentials, but in clear text
        partial(_produce, no_sasl, topic),  # TLS without authenticating
    ]
    successes = await _count("plaintext to the TLS port", attempts, expected=KafkaConnectionError)
    assert successes == 0


async def test_a_service_cannot_write_another_services_topics(secure_kafka: SecureKafka) -> None:
    p = secure_kafka.prefix
    forbidden = [
        ("status", f"{p}.commands.hub"),
        ("monitor", f"{p}.commands.resource"),
        ("resource", f"{p}.commands.hub"),
        ("hub", f"{p}.commands.recovery"),
        ("recovery", f"{p}.commands.monitor"),
        ("status", f"{p}.commands.hub.dlq"),
        ("monitor", f"{p}.state"),  # only the hub writes workflow state
    ]
    attempts = [
        partial(_produce, _as(secure_kafka, user).client_options(), topic)
        for user, topic in forbidden
    ]
    label = "writes to another service's topic"
    assert await _count(label, attempts, expected=TopicAuthorizationFailedError) == 0


async def test_a_service_cannot_join_another_services_group(secure_kafka: SecureKafka) -> None:
    p = secure_kafka.prefix
    forbidden = [  # each reads a topic it may read, in a group that is not its own
        ("status", f"{p}.events", f"{p}.hub"),
        ("monitor", f"{p}.events", f"{p}.resource"),
        ("hub", f"{p}.replies", f"{p}.recovery.rpc"),
        ("recovery", f"{p}.events", f"{p}.status"),
        ("resource", f"{p}.commands.resource", f"{p}.monitor-streams"),
    ]
    attempts = [
        partial(_join, _as(secure_kafka, user).client_options(), topic, group)
        for user, topic, group in forbidden
    ]
    label = "joins of another service's group"
    assert await _count(label, attempts, expected=GroupAuthorizationFailedError) == 0


async def test_a_service_cannot_read_another_services_commands(secure_kafka: SecureKafka) -> None:
    p = secure_kafka.prefix
    forbidden = [  # in its own group, so only the topic is at fault
        ("monitor", f"{p}.commands.hub", f"{p}.monitor"),
        ("hub", f"{p}.commands.resource", f"{p}.hub"),
    ]
    for _, topic, _ in forbidden:  # something to read, so a permitted read would succeed
        await _produce(_as(secure_kafka, "admin").client_options(), topic)
    attempts = [
        partial(_read, _as(secure_kafka, user).client_options(), topic, group)
        for user, topic, group in forbidden
    ]
    label = "reads of another service's commands"
    assert await _count(label, attempts, expected=TopicAuthorizationFailedError) == 0


async def test_a_service_uses_its_own_topic_and_group(secure_kafka: SecureKafka) -> None:
    """Through Baton's own transport, configured from env as a service would be."""
    settings = secure_kafka.settings(user="hub")
    topic = settings.topics.commands("hub")
    transport = KafkaTransport(settings=settings)
    await transport.start()
    consumer = transport.consumer(
        group=f"{settings.topic_prefix}.hub", topics=[topic], from_beginning=True
    )
    try:
        ack = await (await transport.enqueue(topic, key=b"wf", value=b"mine", headers=[]))
        assert ack.topic == topic
        await consumer.start()
        seen: list[bytes | None] = []
        async with asyncio.timeout(30):
            while b"mine" not in seen:
                batches = await consumer.fetch(timeout_ms=500, max_records=10)
                seen += [r.value for records in batches.values() for r in records]
        assert await transport.end_offsets(topic)
    finally:
        await consumer.stop()
        await transport.stop()


async def test_a_client_calls_services_but_cannot_act_as_one(secure_kafka: SecureKafka) -> None:
    """The clients' and agents' principal: events, requests and replies, its own groups."""
    p = secure_kafka.prefix
    client = _as(secure_kafka, "client").client_options()
    allowed = [
        partial(_produce, client, f"{p}.events"),
        partial(_produce, client, f"{p}.commands.hub"),  # a request to the hub
        partial(_produce, client, f"{p}.commands.recovery"),
        partial(_join, client, f"{p}.events", f"{p}.agent.agent_001"),
        partial(_join, client, f"{p}.replies", f"{p}.client.cli"),
    ]
    assert await _count("a client's own work", allowed) == len(allowed)
    writes = [
        partial(_produce, client, f"{p}.state"),  # the hub's alone
        partial(_produce, client, f"{p}.hub"),  # a service's own topic
        partial(_produce, client, f"{p}.commands.hub.dlq"),
    ]
    label = "client writes to a service's topics"
    assert await _count(label, writes, expected=TopicAuthorizationFailedError) == 0
    joins = [
        partial(_join, client, f"{p}.events", f"{p}.hub"),
        partial(_join, client, f"{p}.events", f"{p}.monitor-streams"),
        partial(_join, client, f"{p}.events", "anything"),
    ]
    label = "client joins of a service's group"
    assert await _count(label, joins, expected=GroupAuthorizationFailedError) == 0
    await _produce(_as(secure_kafka, "admin").client_options(), f"{p}.commands.hub")
    reads = [partial(_read, client, f"{p}.commands.hub", f"{p}.client.spy")]
    label = "client reads of a service's commands"
    assert await _count(label, reads, expected=TopicAuthorizationFailedError) == 0
