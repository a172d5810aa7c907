"""The fault suite's replay of its whole history, and waits for a quiet deployment and for
the recorded history to be complete (conditions, not fixed pauses)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from baton.bus import Bus
from baton.bus.kafka import partitions_of
from baton.db import Database
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually_async
from tests.e2e.agents import EventLog, SimAgents

__all__ = ["quiesce", "read_to_end", "replay"]

Offsets = dict[tuple[str, int], int]
"""(topic, partition) → offset."""


async def replay(bus: Bus, history: Sequence[Event]) -> None:
    """Publish ``history`` again, in its order, the acknowledgements awaited together (one
    by one, 14,000 round trips to the broker took minutes on a busy machine)."""
    acks = [await bus.send(event) for event in history]  # queued in order, per partition
    await asyncio.gather(*acks)


async def quiesce(
    bus: Bus, log: EventLog, agents: SimAgents, *, services: Sequence[str], limit: float = 300
) -> None:
    """Wait until what is on the topics now is handled, and what that caused is recorded.

    Twice — what is there, then what handling it caused (the simulated agents' reports of
    assignments they read, and the hub's answers to those): every consumer group of the
    services and the agents has committed its topics (the events topic, the hub's commands,
    their retry topics) up to where they end at that moment — a group commits only past
    records whose handling is over and whose own output the broker acknowledged — the
    agents' reports are published, and no outbox row waits to be relayed. Then ``log`` has
    read the events topic up to its end (:func:`read_to_end`).
    """
    settings = bus.settings
    topics = settings.topics

    def with_retries(source: str) -> list[str]:
        return [source, *(topics.retry(source, n) for n in range(1, topics.retry_levels + 1))]

    events, commands = with_retries(topics.events), with_retries(topics.commands("hub"))
    readers = {topics.group(s): events for s in services} | {agents.group: events}
    if "hub" in services:  # the hub's other group: its commands
        readers |= {f"{topics.group('hub')}.rpc": commands}
    security = settings.kafka_security
    partitions = await partitions_of(settings.bootstrap, [*events, *commands], security=security)
    options = security.client_options()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **options)
    ends_of = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, enable_auto_commit=False, **options
    )

    async def ends(sources: Sequence[str]) -> Offsets:
        found = await ends_of.end_offsets([tp for tp in partitions if tp.topic in sources])
        return {(tp.topic, tp.partition): end for tp, end in found.items()}

    async def read(groups: Mapping[str, Sequence[str]], upto: Offsets) -> bool:
        for group, sources in groups.items():
            offsets = await admin.list_consumer_group_offsets(group)
            done = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
            if any(
                end > 0 and done.get(tp, -1) < end for tp, end in upto.items() if tp[0] in sources
            ):
                return False
        return True

    async def handled(upto: Offsets) -> None:
        await eventually_async(lambda: read(readers, upto), timeout=limit, what="all handled")

    await admin.start()
    await ends_of.start()
    try:
        async with Database(dsn=settings.dsn, schema=settings.db_schema) as db:

            async def relayed() -> bool:
                async with db.connection() as conn:
                    return not await conn.fetchval("select exists (select 1 from baton_outbox)")

            for _ in range(2):
                await handled(await ends([*events, *commands]))
                await agents.idle()
                await eventually_async(relayed, timeout=limit, what="every outbox relayed")
    finally:
        await ends_of.stop()
        await admin.close()
    await read_to_end(bus, log, limit=limit)


async def read_to_end(bus: Bus, log: EventLog, *, limit: float = 120) -> None:
    """Wait until ``log`` has read the events topic up to where it ends now."""
    settings = bus.settings
    ends = await bus.transport.end_offsets(settings.topics.events)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap, **settings.kafka_security.client_options()
    )

    async def read() -> bool:
        offsets = await admin.list_consumer_group_offsets(log.group)
        done = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
        return all(
            end == 0 or done.get((tp.topic, tp.partition), -1) >= end for tp, end in ends.items()
        )

    await admin.start()
    try:
        await eventually_async(read, timeout=limit, what="the history read to its end")
    finally:
        await admin.close()
