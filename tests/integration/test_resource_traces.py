"""The resource manager keeps each workflow's trace (issue 16, point 8), on PostgreSQL.

A request queued behind another workflow is granted when that one releases: the grant is
published while the first workflow's event is handled, yet belongs to the queued workflow's
trace — the one its request came in.
"""

from __future__ import annotations

import uuid

import pytest
from tests.conftest import migrate_for
from tests.resource_rows import RESET

from baton.bus import Bus
from baton.bus.tracecontext import handling, trace_headers
from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton.protocol.headers import H
from baton.runtime import Outbox
from baton_resource.config import ResourceConfig
from baton_resource.handlers import ResourceHandlers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def trace(digit: str) -> dict[str, str]:
    return {H.TRACEPARENT: f"00-{digit * 32}-{'1' * 16}-01"}


def allocate(workflow_id: str) -> Event:
    return Event(
        event_type="ALLOCATE",
        workflow_id=workflow_id,
        phase="client",
        data={
            "allocation_request": {
                "request_id": f"req_{workflow_id}",
                "workflow_id": workflow_id,
                "resources": {"agents": 2, "duration_hours": 1},
                "constraints": {"max_wait_time": "30d"},
                "fallback_options": {"queue_if_unavailable": True},
            }
        },
    )


async def test_a_grant_from_the_queue_joins_the_trace_of_the_queued_workflow(
    live_stack: BatonSettings,
) -> None:
    tag = uuid.uuid4().hex[:6]
    owner, first, queued = f"t_{tag}", f"rt{tag}_first", f"rt{tag}_queued"
    async with Database(dsn=live_stack.dsn, max_size=2) as db:
        await migrate_for(db, "resource")
        await db.pool.execute(RESET)  # one set of pools: this test's
        bus = Bus(settings=live_stack)  # never started: the outbox only names its topics
        handlers = ResourceHandlers(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner=owner),
            config=ResourceConfig.from_env({"BATON_RESOURCE_POOLS": '{"agents": 2}'}),
        )
        try:
            await handlers.start()
            for workflow_id, digit in ((first, "a"), (queued, "b")):
                with handling(list(trace_headers(trace(digit)))):
                    async with db.transaction() as conn:
                        reply = await handlers.command(conn, allocate(workflow_id))
                status = reply["allocation_response"]["status"]
                assert status == ("approved" if workflow_id == first else "queued"), reply
            done = Event(
                event_type="WORKFLOW_COMPLETED",
                workflow_id=first,
                phase="last",
                data={"final_status": "success"},
            )
            with handling(list(trace_headers(trace("a")))):
                await handlers.on_workflows_finished([done])
            rows = await db.pool.fetch(
                "select value, headers from baton_outbox where owner = $1 order by id", owner
            )
        finally:
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)
            await db.pool.execute(RESET)
    published = [
        (Event.parse(bytes(r["value"]).decode()), dict(r["headers"]).get(H.TRACEPARENT))
        for r in rows
    ]
    kinds = {(e.event_type, e.workflow_id): parent for e, parent in published}
    assert kinds[("RESOURCE_ALLOCATED", first)] == trace("a")[H.TRACEPARENT]
    assert kinds[("RESOURCE_DEALLOCATED", first)] == trace("a")[H.TRACEPARENT]
    assert kinds[("RESOURCE_ALLOCATED", queued)] == trace("b")[H.TRACEPARENT]
