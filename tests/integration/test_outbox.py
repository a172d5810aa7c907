"""The outbox on PostgreSQL: several events queued in one round trip keep their order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from tests.behaviour.helpers import eventually
from tests.conftest import migrate_for, unique_prefix

from baton.bus import Ack, Bus
from baton.bus.memory import MemoryTransport
from baton.config import BatonSettings
from baton.db import Database
from baton.errors import DependencyUnavailableError
from baton.protocol.event import Event
from baton.runtime import Outbox
from baton.topics import create_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

_TRY_LOCK = "select pg_try_advisory_lock(hashtextextended($1, 0))"


async def _values(bus: Bus, count: int) -> list[bytes]:
    """The first ``count`` record values of the (one-partition) events topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bus.settings.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(bus.topics.events, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        values: list[bytes] = []
        while len(values) < count:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            if not batch:
                break
            values += [r.value for r in batch[tp] if r.value is not None]
        return values
    finally:
        await consumer.stop()


async def test_add_many_queues_in_order_with_topics_and_sources(live_stack: BatonSettings) -> None:
    owner = f"t_outbox_{uuid.uuid4().hex[:8]}"
    settings = live_stack.model_copy(update={"component": "tester"})
    async with Database(dsn=settings.dsn, max_size=2) as db:
        await migrate_for(db)
        bus = Bus(settings=settings)  # never started: the outbox only names its topics
        outbox = Outbox(db=db, bus=bus, owner=owner)
        events = [Event.parse(f"TASK_COMPLETED:wf_o:impl:{{'n':{n}}}") for n in range(5)]
        queued: list[tuple[Event, str | None]] = [(e, None) for e in events]
        queued.append((Event.parse("WORKFLOW_STATE:wf_o:impl:{}"), bus.topics.state))
        async with db.transaction() as conn:
            await outbox.add_many(conn, queued)
            await outbox.add_many(conn, [])  # nothing to queue: no statement
        rows = await db.pool.fetch(
            "select topic, value, headers from baton_outbox where owner = $1 order by id", owner
        )
        await db.pool.execute("delete from baton_outbox where owner = $1", owner)
    assert [r["topic"] for r in rows] == [bus.topics.events] * 5 + [bus.topics.state]
    values = [Event.parse(bytes(r["value"]).decode()).data.get("n") for r in rows[:5]]
    assert values == [0, 1, 2, 3, 4]
    assert all(["baton-source", "tester"] in r["headers"] for r in rows)


async def test_rows_committed_while_another_replica_relays_go_out_without_waiting_a_poll(
    live_stack: BatonSettings,
) -> None:
    """A replica that finds the relay lock taken looks again soon: its own rows may have come
    after the other replica's last look, and the next poll is far away."""
    owner = f"t_outbox_{uuid.uuid4().hex[:8]}"
    settings = live_stack.model_copy(
        update={"component": "tester", "topic_prefix": unique_prefix(), "partitions": 1}
    )
    await create_topics(settings=settings)
    async with Database(dsn=settings.dsn, max_size=4) as db, Bus(settings=settings) as bus:
        await migrate_for(db)
        outbox = Outbox(db=db, bus=bus, owner=owner, poll_interval=60.0)
        await outbox.start()
        try:
            async with db.transaction() as other:  # another replica, relaying right now
                await other.execute("select pg_advisory_xact_lock(hashtextextended($1, 0))", owner)
                async with db.transaction() as conn:
                    await outbox.add(conn, Event.parse("TASK_COMPLETED:wf_busy:impl:{}"))
                outbox.notify()
                await asyncio.sleep(0.3)  # the relay finds the lock taken meanwhile
            await eventually(lambda: outbox.published >= 1, timeout=10, what="the row sent")
        finally:
            await outbox.stop()
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)
    assert outbox.published == 1


async def test_two_replicas_relaying_one_owner_send_every_row_once_and_in_order(
    live_stack: BatonSettings,
) -> None:
    """Both relays are woken by every commit and race for the owner's rows: the relay lock
    lets each row out once, in the order it was queued, and is free again once they are
    out."""
    owner = f"t_outbox_{uuid.uuid4().hex[:8]}"
    settings = live_stack.model_copy(
        update={"component": "tester", "topic_prefix": unique_prefix(), "partitions": 1}
    )
    await create_topics(settings=settings)
    count = 200
    async with (
        Database(dsn=settings.dsn, max_size=4) as db_a,
        Database(dsn=settings.dsn, max_size=4) as db_b,
        Bus(settings=settings) as bus,
    ):
        await migrate_for(db_a)
        replicas = [
            (db, Outbox(db=db, bus=bus, owner=owner, poll_interval=60.0)) for db in (db_a, db_b)
        ]
        for _, outbox in replicas:
            await outbox.start()
        try:
            for n in range(count):
                db, outbox = replicas[n % 2]
                async with db.transaction() as conn:
                    await outbox.add(conn, Event.parse(f"TASK_COMPLETED:wf_race:impl:{{'n':{n}}}"))
                for _, woken in replicas:
                    woken.notify()
            await eventually(
                lambda: sum(o.published for _, o in replicas) >= count, timeout=20, what="all sent"
            )
            await asyncio.sleep(0.5)  # a row sent twice would be counted by now
            async with db_a.connection() as conn:
                free = await conn.fetchval(_TRY_LOCK, owner)
                await conn.execute("select pg_advisory_unlock_all()")
        finally:
            for _, outbox in replicas:
                await outbox.stop()
            await db_a.pool.execute("delete from baton_outbox where owner = $1", owner)
        sent = [Event.parse(value.decode()).data["n"] for value in await _values(bus, count)]
    assert sum(o.published for _, o in replicas) == count
    assert sent == list(range(count))
    assert free  # no relay kept the lock


class _RefusingBus(Bus):
    """Kafka refusing every row: the relay's outage, on an in-memory bus."""

    async def send_raw(self, topic: str, **record: Any) -> Awaitable[Ack]:
        raise DependencyUnavailableError("Kafka refuses", bootstrap="nowhere")


async def test_a_failed_send_keeps_the_rows_and_lets_the_lock_go(live_stack: BatonSettings) -> None:
    """Rows Kafka did not take stay in the outbox, and the relay lock is free again at once
    (another replica, or the next try, sends them)."""
    owner = f"t_outbox_{uuid.uuid4().hex[:8]}"
    async with Database(dsn=live_stack.dsn, max_size=2) as db:
        await migrate_for(db)
        refusing = _RefusingBus(settings=live_stack, transport=MemoryTransport())
        working = Bus(settings=live_stack, transport=MemoryTransport())
        try:
            async with db.transaction() as conn:
                await Outbox(db=db, bus=refusing, owner=owner).add(
                    conn, Event.parse("TASK_COMPLETED:wf_refused:impl:{}")
                )
            with pytest.raises(DependencyUnavailableError):
                await Outbox(db=db, bus=refusing, owner=owner).flush()
            async with db.connection() as conn:
                held = (
                    "select count(*) from pg_locks where locktype = 'advisory' and database = "
                    "(select oid from pg_database where datname = current_database())"
                )
                assert await conn.fetchval(held) == 0  # let go, by whichever session
                assert await conn.fetchval(_TRY_LOCK, owner)
                await conn.execute("select pg_advisory_unlock_all()")
                kept = "select count(*) from baton_outbox where owner = $1"
                assert await conn.fetchval(kept, owner) == 1
            async with working:
                assert await Outbox(db=db, bus=working, owner=owner).flush() == 1
            async with db.connection() as conn:
                assert await conn.fetchval(kept, owner) == 0
        finally:
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)
