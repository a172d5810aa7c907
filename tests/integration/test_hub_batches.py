"""The hub against the real PostgreSQL: events that arrive together applied in a constant
number of statements, once, even while another replica writes the same workflows; new
workflows allocated at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.conftest import deployment_database
from tests.unit.hub.helpers import Run

from baton.bus import Bus
from baton.bus.memory import MemoryTransport
from baton.config import BatonSettings
from baton.db import Database
from baton.errors import HandlerError
from baton.protocol.event import Event
from baton.runtime import Outbox
from baton_hub.config import HubConfig
from baton_hub.handlers import ALLOCATION_GRACE, HubHandlers, allocation_request_id
from baton_hub.state import WorkflowState
from baton_hub.store import WorkflowStore

pytestmark = pytest.mark.integration


def _task_event(run: Run, event_type: str, task_id: str) -> Event:
    agent, token = run.holder(task_id)
    return Event(
        event_type=event_type,
        workflow_id=run.state.workflow_id,
        phase=run.state.phase_name,
        data={"task_id": task_id, "agent_id": agent, "fencing_token": token},
        source="agents",
    )


def _replicas(bus: Bus, db: Database, *, count: int) -> list[HubHandlers]:
    """Hub replicas sharing one database (and the outbox's rows, as replicas do)."""
    return [
        HubHandlers(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner="hub"),
            config=HubConfig.from_env({}),
        )
        for _ in range(count)
    ]


async def _stored_run(db: Database, workflow_id: str) -> Run:
    """A workflow whose two tasks are assigned to two agents, stored as the hub stores it."""
    run = Run({"workflow_id": workflow_id, "tasks": [{"task_id": "a"}, {"task_id": "b"}]})
    run.start("agent_1", "agent_2")
    async with db.transaction() as conn:
        assert await WorkflowStore().insert(conn, run.state)
    return run


async def _applied(db: Database, workflow_id: str) -> tuple[dict[str, str], int, int]:
    """A stored workflow's task statuses and version, and how many events the ledger holds."""
    async with db.connection() as conn:
        state = await WorkflowStore().get(conn, workflow_id)
        ledger = await conn.fetchval("select count(*) from baton_processed")
    assert state is not None
    return {t: task.status for t, task in state.tasks.items()}, state.state_version, ledger


@pytest.mark.parametrize("workflows", [1, 10])
async def test_a_batch_costs_the_same_statements_whatever_its_size(
    live_stack: BatonSettings, workflows: int
) -> None:
    async with deployment_database(live_stack, "hub", max_size=1) as (settings, db):
        bus = Bus(settings=settings, transport=MemoryTransport(partitions=2))
        outbox = Outbox(db=db, bus=bus, owner="hub")
        hub = HubHandlers(bus=bus, db=db, outbox=outbox, config=HubConfig.from_env({}))
        store = WorkflowStore()
        runs = [
            Run({"workflow_id": f"wf_{n}", "tasks": [{"task_id": "a"}, {"task_id": "b"}]})
            for n in range(workflows + 1)
        ]
        batches: list[list[Event]] = []
        for run in runs:
            run.start("agent_1", "agent_2")
            assigned = [t for t, task in run.state.tasks.items() if task.agent_id]
            batches.append([_task_event(run, "TASK_STARTED", t) for t in assigned])
        async with db.transaction() as conn:
            for run in runs:
                assert await store.insert(conn, run.state)
        # The connection learns the statements' types once (asyncpg's introspection).
        warm_up = batches.pop()
        await hub.on_events(warm_up)
        runs.pop()
        events = [e for batch in batches for e in batch]
        statements: list[str] = []
        async with db.connection() as conn:
            conn.add_query_logger(lambda record: statements.append(record.query))
        await hub.on_events(events)
        # The ledger and the states read; ledger, states and outbox written in one statement.
        assert len(statements) == 2, "\n".join(q[:70] for q in statements)
        async with db.connection() as conn:
            states = await store.get_many(conn, [r.state.workflow_id for r in runs])
            ledger = await conn.fetchval("select count(*) from baton_processed")
            syncs = await conn.fetchval(
                "select count(*) from baton_outbox where topic = $1", bus.topics.state
            )
        assert sum(t.status == "running" for s in states for t in s.tasks.values()) == len(events)
        assert ledger == len(events) + len(warm_up)
        assert syncs == len(events) + len(warm_up)  # one state-sync message per change
        statements.clear()
        await hub.on_events(events)  # delivered again: applied once
        async with db.connection() as conn:
            again = await store.get_many(conn, [r.state.workflow_id for r in runs])
        assert [s.state_version for s in again] == [s.state_version for s in states]


async def test_a_write_that_meets_another_replicas_reads_again(
    live_stack: BatonSettings,
) -> None:
    """Another replica applies events to the same workflow between this one's read and its
    write (partitions moving between them): the write is refused whole, the batch read and
    applied again on top of the other's change; an event both applied counts once."""
    async with deployment_database(live_stack, "hub") as (settings, db):
        bus = Bus(settings=settings, transport=MemoryTransport(partitions=2))
        hubs = _replicas(bus, db, count=2)
        run = await _stored_run(db, "wf_race")
        started_a = _task_event(run, "TASK_STARTED", "a")
        started_b = _task_event(run, "TASK_STARTED", "b")
        read_many = hubs[0].store.read_many
        reads = 0

        async def racing_read(
            conn: Any, *, event_ids: list[str], workflow_ids: list[str]
        ) -> tuple[set[str], dict[str, WorkflowState]]:
            nonlocal reads
            reads += 1
            found = await read_many(conn, event_ids=event_ids, workflow_ids=workflow_ids)
            if reads == 1:  # the other replica writes between this read and the write
                await hubs[1].on_events([started_a])
            return found

        hubs[0].store.read_many = racing_read  # type: ignore[method-assign]
        await hubs[0].on_events([started_a, started_b])
        assert reads == 2
        statuses, version, ledger = await _applied(db, "wf_race")
        async with db.connection() as conn:
            syncs = await conn.fetchval(
                "select count(*) from baton_outbox where topic = $1", bus.topics.state
            )
        assert statuses == {"a": "running", "b": "running"}
        assert version == run.state.state_version + 2
        assert ledger == 2
        assert syncs == 2  # one per version: neither replica's change is announced twice


async def test_a_replica_does_not_read_again_what_it_just_wrote(
    live_stack: BatonSettings,
) -> None:
    """The states a replica committed are not read again for its next batch (one
    statement); one another replica changed since makes the write refused whole and the
    batch read and applied again; an event applied before still counts once."""
    async with deployment_database(live_stack, "hub", max_size=1) as (settings, db):
        bus = Bus(settings=settings, transport=MemoryTransport(partitions=2))
        hubs = _replicas(bus, db, count=2)
        run = await _stored_run(db, "wf_cached")
        started = {t: _task_event(run, "TASK_STARTED", t) for t in ("a", "b")}
        completed = {t: _task_event(run, "TASK_COMPLETED", t) for t in ("a", "b")}
        await hubs[0].on_events([started["a"]])  # read and written: kept
        statements: list[str] = []
        async with db.connection() as conn:
            conn.add_query_logger(lambda record: statements.append(record.query))

        await hubs[0].on_events([started["b"]])
        assert len(statements) == 1, "\n".join(q[:70] for q in statements)
        assert hubs[0].states.hits == 1

        statements.clear()
        await hubs[0].on_events([started["a"]])  # delivered again: kept state, seen event
        assert len(statements) == 3, "\n".join(q[:70] for q in statements)

        await hubs[1].on_events([completed["a"]])  # the other replica: read and written
        statements.clear()
        await hubs[0].on_events([completed["b"]])  # its kept state is one version behind
        assert len(statements) == 3, "\n".join(q[:70] for q in statements)
        assert len(hubs[0].states) == 0  # the workflow finished: nothing kept
        statuses, version, ledger = await _applied(db, "wf_cached")
        assert statuses == {"a": "completed", "b": "completed"}
        assert version == run.state.state_version + 4
        assert ledger == 4


async def test_a_created_workflow_is_allocated_at_once_and_by_the_safety_net(
    live_stack: BatonSettings,
) -> None:
    """The replica that created a workflow asks for its agents right after the commit; a
    workflow whose creator stopped first is allocated by the timeouts loop's safety net."""
    async with deployment_database(live_stack, "hub") as (settings, db):
        transport = MemoryTransport(partitions=2)
        bus = Bus(settings=settings, transport=transport)
        resource = Bus(settings=settings, transport=transport)
        asked: list[str] = []

        async def allocate(request: Event) -> dict[str, object]:
            asked.append(request.workflow_id)
            return {
                "allocation_response": {
                    "status": "approved",
                    "allocated_resources": {"allocation_id": f"a_{request.workflow_id}"},
                },
                "agent_ids": ["agent_1"],
            }

        resource.serve("resource", allocate)
        outbox = Outbox(db=db, bus=bus, owner="hub")
        hub = HubHandlers(bus=bus, db=db, outbox=outbox, config=HubConfig.from_env({}))
        store = WorkflowStore()
        await resource.start()
        await bus.start()
        loop = asyncio.create_task(hub.allocations_loop())
        try:
            created = Event(
                event_type="CREATE_WORKFLOW",
                workflow_id="wf_direct",
                phase="setup",
                data={"definition": {"tasks": [{"task_id": "a"}]}},
            )
            statements: list[str] = []
            async with db.transaction() as conn:
                conn.add_query_logger(lambda record: statements.append(record.query))
                await hub.command(conn, created)
            hub.after_command()  # as the durable responder does once committed
            # The row and its events together (other statements: the driver's own).
            writes = [q for q in statements if "hub_workflows" in q or "baton_outbox" in q]
            assert len(writes) == 1, writes
            assert "baton_outbox" in writes[0]
            # Kept as committed: asking for its agents reads nothing.
            kept = hub.states.get("wf_direct")
            assert kept is not None
            assert kept.status == "CREATED"

            async def settled(workflow_id: str) -> str | None:
                """The workflow's status once it has left CREATED (or after 10 s)."""
                for _ in range(200):
                    async with db.connection() as conn:
                        state = await store.get(conn, workflow_id)
                    if state is not None and state.status != "CREATED":
                        return state.status
                    await asyncio.sleep(0.05)
                return None if state is None else state.status

            assert await settled("wf_direct") == "STARTED"
            assert asked == ["wf_direct"]
            # A creation refused (the workflow exists) leaves nothing for after the commit.
            with pytest.raises(HandlerError, match="already exists"):
                async with db.transaction() as conn:
                    await hub.command(conn, created)
            assert hub.created_by_request() is None

            # The resource manager's RESOURCE_ALLOCATED of the grant the reply applied
            # follows on the events topic: it changes nothing, so no transaction records it.
            def granted() -> Event:
                return Event(
                    event_type="RESOURCE_ALLOCATED",
                    workflow_id="wf_direct",
                    phase="setup",
                    data={"request_id": allocation_request_id("wf_direct"), "agent_ids": ["x"]},
                    source="resource",
                )

            async def recorded(event: Event) -> bool:
                async with db.connection() as conn:
                    query = "select count(*) from baton_processed where event_id = $1"
                    return bool(await conn.fetchval(query, event.event_id))

            first, again = granted(), granted()
            await hub.on_events([first])
            assert not await recorded(first)
            # Read again (a rebalance), or read by a replica that did not ask: applied as a
            # no-op, once, like any event.
            await hub.on_events([again])
            assert await recorded(again)
            async with db.connection() as conn:
                state = await store.get(conn, "wf_direct")
            assert state is not None
            assert state.allocation is not None
            assert state.allocation.agents == ["agent_1"]  # the reply's grant, unchanged

            orphan = Run({"workflow_id": "wf_orphan", "tasks": [{"task_id": "a"}]}).state
            orphan = orphan.model_copy(
                update={"created_at": datetime.now(UTC) - timedelta(seconds=ALLOCATION_GRACE)}
            )
            async with db.transaction() as conn:
                assert await store.insert(conn, orphan)
            async with db.connection() as conn:
                states = await store.get_many(conn, ["wf_direct", "wf_orphan"])
            # What the timeouts loop of any replica does with the active workflows it read.
            assert hub.allocate_stuck(states, now=datetime.now(UTC)) == ["wf_orphan"]
            assert await settled("wf_orphan") == "STARTED"
            assert asked == ["wf_direct", "wf_orphan"]  # the allocated one is not asked again
        finally:
            loop.cancel()
            await bus.stop()
            await resource.stop()
