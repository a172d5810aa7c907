"""Checkpoint requests that arrive together are stored in one transaction, on PostgreSQL:
each once (a redelivery creates nothing), all or none, and restorable; a fetch's events,
whatever their number, cost the same few statements."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.conftest import migrate_for

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.db import Database
from baton.errors import HandlerError
from baton.protocol.event import Event
from baton.runtime import Outbox
from baton_recovery.config import RecoveryConfig
from baton_recovery.handlers import RecoveryHandlers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def snapshot(workflow: str, version: int) -> dict[str, Any]:
    return {
        "workflow_id": workflow,
        "state_version": version,
        "tasks": {f"t{i}": {"status": "completed" if i < version else "pending"} for i in range(8)},
    }


def request(workflow: str, version: int, tag: str) -> Event:
    return Event(
        event_type="CHECKPOINT_REQUESTED",
        workflow_id=workflow,
        phase="impl",
        data={
            "checkpoint_id": f"{tag}_{workflow}_{version}",
            "checkpoint_type": "incremental",
            "snapshot": snapshot(workflow, version),
        },
    )


async def test_a_batch_of_requests_is_stored_once_all_or_none(live_stack: BatonSettings) -> None:
    tag = f"rb{uuid.uuid4().hex[:6]}"
    owner = f"t_{tag}"
    workflows = [f"{tag}_wf{w}" for w in range(4)]
    events = [request(wf, v, tag) for v in range(1, 7) for wf in workflows]  # 24, interleaved
    async with Database(dsn=live_stack.dsn, max_size=2) as db:
        await migrate_for(db, "recovery")
        bus = Bus(settings=live_stack)  # never started: the outbox only names its topics
        handlers = RecoveryHandlers(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner=owner),
            config=RecoveryConfig(),
            group=f"{owner}.recovery",
        )
        try:
            await handlers.on_events(events[:20])
            await handlers.on_events(events[16:24])  # 16..19 come again
            broken = Event(
                event_type="CHECKPOINT_REQUESTED", workflow_id=workflows[0], phase="impl", data={}
            )
            more = [request(workflows[0], 7, tag), broken]
            with pytest.raises(HandlerError) as caught:
                await handlers.on_events(more)
            assert caught.value.fields["part"] == "data.snapshot"
            rows = await db.pool.fetch(
                "select checkpoint_id, kind from recovery_checkpoints "
                "where checkpoint_id like $1 order by seq",
                f"{tag}_%",
            )
            created = await db.pool.fetch(
                "select value from baton_outbox where owner = $1 order by id", owner
            )
            async with db.connection() as conn:
                latest = {wf: await handlers.store.latest(conn, wf) for wf in workflows}
                states = {
                    wf: await handlers.store.state_at(conn, row.checkpoint_id)
                    for wf, row in latest.items()
                    if row is not None
                }
        finally:
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)
            await db.pool.execute(
                "delete from recovery_checkpoints where checkpoint_id like $1", f"{tag}_%"
            )
    assert [r["checkpoint_id"] for r in rows] == [e.data["checkpoint_id"] for e in events]
    assert [r["kind"] for r in rows[:4]] == ["full"] * 4  # then deltas on each chain
    assert {r["kind"] for r in rows[4:]} == {"delta"}
    ids = [
        Event.parse(bytes(r["value"]).decode()).data["checkpoint_sync"]["checkpoint_id"]
        for r in created
    ]
    assert ids == [e.data["checkpoint_id"] for e in events]  # one CHECKPOINT_CREATED each
    assert states == {wf: snapshot(wf, 6) for wf in workflows}  # nothing of the failed batch


def workflow(workflow_id: str, tag: str) -> list[Event]:
    """A three-task workflow's events as recovery reads them (and some it does not)."""
    agent = f"{tag}_agent"
    out: list[Event] = []
    for n in range(3):
        task = {"task_id": f"t{n}", "agent_id": agent}
        out += [
            Event(event_type="PHASE_STARTED", workflow_id=workflow_id, phase="p", data={}),
            Event(event_type="TASK_ASSIGNED", workflow_id=workflow_id, phase="p", data=task),
            Event(event_type="TASK_STARTED", workflow_id=workflow_id, phase="p", data=task),
            Event(event_type="TASK_COMPLETED", workflow_id=workflow_id, phase="p", data=task),
            request(workflow_id, n + 1, tag),
        ]
    out.append(Event(event_type="WORKFLOW_COMPLETED", workflow_id=workflow_id, phase="p"))
    return out


async def test_a_fetch_is_one_transaction_of_a_few_statements(live_stack: BatonSettings) -> None:
    """However many workflows' events a fetch brings: checkpoints looked up, stored and
    announced, the agents' signs of life, watches started, progress, watches ended and
    workflows ended — a statement each, in one transaction."""
    tag = f"rf{uuid.uuid4().hex[:6]}"
    owner = f"t_{tag}"
    async with Database(dsn=live_stack.dsn, min_size=1, max_size=1) as db:
        await migrate_for(db, "recovery")
        settings = live_stack.model_copy(update={"topic_prefix": owner})
        bus = Bus(settings=settings, transport=MemoryTransport(partitions=6))
        handlers = RecoveryHandlers(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner=owner),
            config=RecoveryConfig(),
            group=f"{owner}.recovery",
        )
        sent: list[str] = []

        def log(record: Any) -> None:
            sent.append(record.query)

        async with db.connection() as conn:  # the pool's only connection
            conn.add_query_logger(log)
        counts = []
        try:
            for round_, size in enumerate((1, 1, 12)):  # the first also learns the types
                sent.clear()
                flows = [f"{tag}_r{round_}_wf{n}" for n in range(size)]
                await handlers.on_events([e for wf in flows for e in workflow(wf, tag)])
                counts.append(len(sent))
            watched = await db.pool.fetchval(
                "select count(*) from recovery_watches where workflow_id like $1", f"{tag}_%"
            )
            stored = await db.pool.fetchval(
                "select count(*) from recovery_checkpoints where checkpoint_id like $1",
                f"{tag}_%",
            )
        finally:
            async with db.connection() as conn:
                conn.remove_query_logger(log)
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)
            for table, key in (
                ("recovery_checkpoints", "checkpoint_id"),
                ("recovery_agents", "agent_id"),
            ):
                await db.pool.execute(f"delete from {table} where {key} like $1", f"{tag}_%")
    assert counts[1:] == [10, 10], counts
    assert watched == 0
    assert stored == 3 * (1 + 1 + 12)
