"""The outbox on PostgreSQL: several events queued in one round trip keep their order."""

from __future__ import annotations

import uuid

import pytest
from tests.conftest import migrate_for

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton.runtime import Outbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


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
