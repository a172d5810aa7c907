"""Checkpoint requests that arrive together are stored in one transaction, on PostgreSQL:
each once (a redelivery creates nothing), all or none, and restorable."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.conftest import migrate_for

from baton.bus import Bus
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
