"""Migration 0004 moves the resource manager's old state document into rows (issue 17).

A state written the old way (one ``resource_state`` row: allocator state, agent ids per
allocation, trace contexts, version) is migrated in a throw-away schema; the service then
shows the same status as the allocator that wrote it, keeps its agent ids, remembered
answers, saturation and version, and serves its queue as that allocator would.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest
from tests.unit.resource.support import T0, at, make

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.protocol.event import Event
from baton.protocol.headers import H
from baton.runtime import RUNTIME_MIGRATIONS, Outbox
from baton.services import load_service
from baton_resource.allocator import Allocator
from baton_resource.config import ResourceConfig
from baton_resource.handlers import ResourceHandlers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

POOLS = '{"agents": 4, "memory_gb": 16, "tool_instances": {"bash": 2}}'
TRACE = {H.TRACEPARENT: f"00-{'c' * 32}-{'1' * 16}-01"}


def old_allocator(config: ResourceConfig) -> Allocator:
    """Two allocations (files, tools), a remembered denial, three queued, saturated."""
    manager = Allocator(
        pools=config.pools,
        aging_per_minute=config.aging_per_minute,
        thresholds={"default": config.threshold},
    )
    manager.request(make("req_a", "wf_a", agents=2, memory_gb=4, files=["f"], hours=2), now=T0)
    manager.request(make("req_b", "wf_b", agents=2, tools={"bash": 1}, hours=1), now=at(1))
    manager.request(make("req_x", "wf_x", agents=9, queue=False), now=at(2))
    manager.request(make("req_c", "wf_c", agents=1, files=["f"], priority="high"), now=at(3))
    manager.request(make("req_d", "wf_d", agents=2, priority="low"), now=at(4))
    manager.request(make("req_e", "wf_e", agents=1), now=at(5))
    manager.saturation(saturated=True, reason="latency", now=at(6))
    return manager


async def run_sql(conn: Any, *versions: int) -> None:
    """Apply the resource manager's migrations ``versions`` as they are (no ledger)."""
    directory = load_service("resource").migrations
    assert directory is not None
    found = {m.version: m for m in load_migrations(owner="resource", directory=directory)}
    for version in versions:
        await conn.execute(found[version].sql)


@pytest.fixture
async def schema(live_stack: BatonSettings) -> AsyncIterator[str]:
    name = f"t_mig_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(live_stack.dsn)
    try:
        await conn.execute(f"create schema {name}")
        yield name
    finally:
        await conn.execute(f"drop schema {name} cascade")
        await conn.close()


async def test_the_old_state_moves_into_rows(live_stack: BatonSettings, schema: str) -> None:
    config = ResourceConfig.from_env({"BATON_RESOURCE_POOLS": POOLS})
    old = old_allocator(config)
    slots = {"alloc_a": ["agent_001", "agent_002"], "alloc_b": ["agent_003", "agent_004"]}
    conn = await asyncpg.connect(live_stack.dsn, server_settings={"search_path": schema})
    try:
        await run_sql(conn, 1, 2, 3)
        await conn.execute(
            "insert into resource_state (id, state, agent_slots, traces, version) "
            "values (1, $1::jsonb, $2::jsonb, $3::jsonb, 7)",
            _json(old.state_json()),
            _json(slots),
            _json({"wf_e": TRACE}),
        )
        await run_sql(conn, 4)
    finally:
        await conn.close()

    owner = f"t_mig_{uuid.uuid4().hex[:6]}"
    async with Database(dsn=live_stack.dsn, schema=schema, max_size=2) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
        bus = Bus(settings=live_stack)  # never started: the outbox only names its topics
        handlers = ResourceHandlers(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner=owner),
            config=config,
            clock=lambda: at(7),
        )

        async def ask(event_type: str, workflow_id: str, data: dict[str, Any]) -> Any:
            event = Event(event_type=event_type, workflow_id=workflow_id, phase="t", data=data)
            async with db.transaction() as conn:
                return await handlers.command(conn, event)

        try:
            await handlers.start()
            status = await ask("RESOURCE_STATUS", "global", {})
            whole = old.status(now=at(7))
            for key in ("pools", "allocations", "queue", "exclusive_files", "saturation"):
                assert status[key] == whole[key], key
            assert status["agent_slots"] == slots
            assert (status["allocations_total"], status["queued_total"]) == (2, 3)

            # A remembered answer is given again, nothing changes.
            again = await ask("ALLOCATE", "wf_x", {"allocation_request": _request("req_x")})
            assert again["repeated"] is True
            assert again["allocation_response"]["status"] == "denied"

            # wf_b's release: wf_c waits for wf_a's file, wf_d is held back, wf_e gets an
            # agent wf_b held (agents 1 and 2 are still wf_a's).
            reply = await ask("RELEASE", "wf_b", {"workflow_id": "wf_b", "reason": "done"})
            expected = old.release(now=at(7), workflow_id="wf_b", reason="done")
            assert reply["granted"] == [g.model_dump(mode="json") for g in expected.granted]
            assert [g["request_id"] for g in reply["granted"]] == ["req_e"]
            rows = await db.pool.fetch(
                "select value, headers from baton_outbox where owner = $1 order by id", owner
            )
            published = [
                (Event.parse(bytes(r["value"]).decode()), dict(r["headers"])) for r in rows
            ]
            states = [e for e, _ in published if e.event_type == "RESOURCE_STATE"]
            assert states[-1].data["resource_state"]["state_version"] == 8  # 7, then a change
            (granted,) = [
                (e.data["agent_ids"], headers.get(H.TRACEPARENT))
                for e, headers in published
                if e.event_type == "RESOURCE_ALLOCATED"
            ]
            assert granted == (["agent_003"], TRACE[H.TRACEPARENT])  # the trace moved too
        finally:
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _request(request_id: str) -> dict[str, Any]:
    return make(request_id, "wf_x", agents=9, queue=False).model_dump(mode="json")
