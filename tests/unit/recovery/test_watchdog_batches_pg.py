"""The watchdog's batches on PostgreSQL: a batch leaves the rows its events one by one
would leave, in a constant number of statements however many events it holds."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton_recovery.config import RecoveryConfig
from baton_recovery.failures.breaker import Breaker
from baton_recovery.failures.signs import read_signs
from baton_recovery.failures.watchdog import Watchdog
from baton_recovery.store import RecoveryStore
from tests.conftest import migrate_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with Database(dsn=live_stack.dsn, max_size=4) as database:
        await migrate_for(database, "recovery")
        yield database


def watchdog(db: Database, tag: str) -> Watchdog:
    settings = BatonSettings(topic_prefix=f"t_{tag}")
    bus = Bus(settings=settings, transport=MemoryTransport(partitions=6))
    return Watchdog(
        bus=bus,
        db=db,
        outbox=None,  # type: ignore[arg-type]  # applying signs publishes nothing
        store=RecoveryStore(),
        config=RecoveryConfig(breaker_failures=2),
        group=f"t_{tag}.recovery",
    )


def story(tag: str, seed: int, length: int = 60) -> list[Event]:
    """Events of a few workflows and agents in a random but plausible order: assignments,
    progress, reports (some late, some by another agent, some the hub's), heartbeats,
    reassignments and workflows' ends."""
    rnd = random.Random(seed)
    agents = [f"{tag}_a{n}" for n in range(3)]
    flows = [f"{tag}_wf{n}" for n in range(3)]
    out: list[Event] = []
    for n in range(length):
        wf, task, agent = rnd.choice(flows), rnd.choice(["t1", "t2"]), rnd.choice(agents)
        kind = rnd.choice(
            ["TASK_ASSIGNED"] * 3
            + ["TASK_STARTED", "PHASE_PROGRESS", "TASK_COMPLETED", "TASK_FAILED"] * 2
            + ["AGENT_HEARTBEAT", "WORKFLOW_COMPLETED", "HUB_REPORT", "ANONYMOUS_PROGRESS"]
        )
        data: dict[str, Any] = {"task_id": task, "agent_id": agent}
        source = "agent"
        if kind == "HUB_REPORT":
            kind, source = "TASK_COMPLETED", "baton-hub"
        elif kind == "ANONYMOUS_PROGRESS":
            kind, data = "PHASE_PROGRESS", {"task_id": task}
        elif kind == "AGENT_HEARTBEAT":
            wf, data = "global", {"agent_id": agent}
        elif kind == "WORKFLOW_COMPLETED":
            data = {}
        out.append(
            Event(
                event_type=kind,
                workflow_id=wf,
                phase="p",
                data=data,
                source=source,
                event_id=f"evt_{tag}_{n}",
            )
        )
    return out


async def rows(db: Database, tag: str) -> dict[str, Any]:
    """The watchdog's rows of ``tag``, ids without it, and without times or partitions
    (each statement has its own time; other ids have other partitions)."""
    agents = await db.pool.fetch(
        "select agent_id, timed_out_at is null as alive, breaker "
        "from recovery_agents where agent_id like $1 order by agent_id",
        f"{tag}_%",
    )
    watches = await db.pool.fetch(
        "select workflow_id, task_id, agent_id, assignment_id, timed_out_at is null as open "
        "from recovery_watches where workflow_id like $1 order by workflow_id, task_id",
        f"{tag}_%",
    )
    out: dict[str, Any] = {
        "watches": [tuple(str(v).replace(tag, "") for v in r.values()) for r in watches]
    }
    for r in agents:
        breaker = None if r["breaker"] is None else Breaker.model_validate(r["breaker"])
        counted = None if breaker is None else (len(breaker.failures), breaker.times_opened)
        out[r["agent_id"].replace(tag, "")] = (r["alive"], counted)
    return out


def renamed(events: list[Event], old: str, new: str) -> list[Event]:
    """The same story told of other ids (each run writes rows of its own)."""
    return [
        e.replace(
            workflow_id=e.workflow_id.replace(old, new),
            data={k: v.replace(old, new) if isinstance(v, str) else v for k, v in e.data.items()},
            event_id=e.event_id.replace(old, new),
        )
        for e in events
    ]


@pytest.mark.parametrize("seed", range(8))
async def test_a_batch_leaves_the_rows_its_events_one_by_one_leave(db: Database, seed: int) -> None:
    one, many = f"o{uuid.uuid4().hex[:8]}", f"m{uuid.uuid4().hex[:8]}"
    events = story(one, seed)
    dog = watchdog(db, one)
    for event in events:
        async with db.transaction() as conn:
            await dog.apply(conn, read_signs([event]))
    async with db.transaction() as conn:
        await dog.apply(conn, read_signs(renamed(events, one, many)))
    assert await rows(db, one) == await rows(db, many)


async def test_a_batch_costs_a_few_statements_however_many_events_it_holds(
    db: Database, live_stack: BatonSettings
) -> None:
    async with Database(dsn=live_stack.dsn, min_size=1, max_size=1) as one:
        counts = [await statements(one, workflows) for workflows in (1, 1, 10, 40)]
    assert counts[1:] == [5] * 3  # agents, watches, progress, reports, ends (the first
    # batch's connection also learnt the types)


async def statements(db: Database, workflows: int) -> int:
    """Statements a batch of ``workflows`` whole workflows' events costs the watchdog."""
    tag = f"s{uuid.uuid4().hex[:8]}"
    events: list[Event] = []
    for n in range(workflows):
        wf, agent = f"{tag}_wf{n}", f"{tag}_a{n % 4}"
        for task in ("t1", "t2", "t3"):
            data = {"task_id": task, "agent_id": agent}
            events += [
                Event(event_type=kind, workflow_id=wf, phase="p", data=data)
                for kind in ("TASK_ASSIGNED", "TASK_STARTED", "TASK_COMPLETED")
            ]
        events.append(Event(event_type="WORKFLOW_COMPLETED", workflow_id=wf, phase="p"))
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    async with db.transaction() as conn:
        conn.add_query_logger(log)
        await watchdog(db, tag).apply(conn, read_signs(events))
        conn.remove_query_logger(log)
    left = await db.pool.fetchval(
        "select count(*) from recovery_watches where workflow_id like $1", f"{tag}_%"
    )
    assert left == 0
    return len(sent)
