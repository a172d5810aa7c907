"""An operation of the resource manager costs the same with 10 or 1,000 allocations (issue 17).

It used to read and rewrite one JSONB document holding every allocation, answer and
queued request: each allocation made the next operation's statement larger. Here the
statements one allocate, one release and one status page send to PostgreSQL are counted
with 10 and with 1,000 allocations in place: how many, how many bytes go either way, and
how many rows the transaction reads and writes in the resource tables (PostgreSQL's own
per-transaction statistics). No timing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from tests.conftest import migrate_for
from tests.resource_rows import RESET

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton.runtime import Outbox
from baton_resource.config import ResourceConfig
from baton_resource.handlers import ResourceHandlers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

AGENTS = 1100
FULL_POOL = 2
QUEUE_READ = "order by rank_key desc, seq"
"""What a statement reading the queue in serving order says: its own, or the one reading
what an operation names, when its parameter $7 asks for the queue."""
TOUCHED = (
    "select coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0) + n_tup_ins + n_tup_upd "
    "+ n_tup_del), 0) from pg_stat_xact_user_tables where relname like 'resource%'"
)


def _size(value: Any) -> int:
    return len(orjson.dumps(value, default=str))


@dataclass
class Cost:
    statements: int = 0
    sent: int = 0
    received: int = 0
    touched: int = 0
    queue_reads: int = 0


@dataclass
class Counting:
    """A connection that counts what goes through it."""

    conn: Any
    cost: Cost = field(default_factory=Cost)

    def _note(self, args: Any, result: Any) -> Any:
        self.cost.statements += 1
        self.cost.sent += _size(list(args))
        rows = result if isinstance(result, list) else [result]
        self.cost.received += _size([dict(r) if hasattr(r, "items") else r for r in rows])
        return result

    def _read(self, query: str, args: tuple[Any, ...]) -> None:
        self.cost.queue_reads += QUEUE_READ in query and (len(args) < 7 or args[6] is True)

    async def execute(self, query: str, *args: Any) -> Any:
        return self._note([query, *args], await self.conn.execute(query, *args))

    async def executemany(self, query: str, args: Any) -> Any:
        args = list(args)
        return self._note([query, args], await self.conn.executemany(query, args))

    async def fetch(self, query: str, *args: Any) -> Any:
        self._read(query, args)
        return self._note([query, *args], await self.conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self._read(query, args)
        return self._note([query, *args], await self.conn.fetchrow(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        self._read(query, args)
        return self._note([query, *args], await self.conn.fetchval(query, *args))


def allocate(number: int) -> Event:
    workflow_id = f"wf_cost_{number:05d}"
    request = {
        "request_id": f"req_cost_{number:05d}",
        "workflow_id": workflow_id,
        "resources": {"agents": 1, "memory_gb": 0.5, "duration_hours": 2},
        "constraints": {"max_wait_time": "30d"},
    }
    return Event(
        event_type="ALLOCATE",
        workflow_id=workflow_id,
        phase="t",
        data={"allocation_request": request},
    )


@dataclass
class Service:
    db: Database
    handlers: ResourceHandlers
    owner: str
    """Whose rows of the outbox are this service's."""

    async def fill(self, count: int) -> None:
        """``count`` allocations in place (one transaction per hundred)."""
        for start in range(0, count, 100):
            async with self.db.transaction() as conn:
                for number in range(start, min(count, start + 100)):
                    await self.handlers.command(conn, allocate(number))
        await self.db.pool.execute("analyze")

    async def measure(self, event: Event) -> tuple[Cost, dict[str, Any]]:
        async with self.db.transaction() as conn:
            before = await conn.fetchval(TOUCHED)
            counting = Counting(conn)
            reply = await self.handlers.command(counting, event)
            counting.cost.touched = await conn.fetchval(TOUCHED) - before
        return counting.cost, reply


@pytest.fixture
async def service(live_stack: BatonSettings) -> AsyncIterator[Service]:
    async with running(live_stack, agents=AGENTS) as started:
        yield started


@pytest.fixture
async def full_pool(live_stack: BatonSettings) -> AsyncIterator[Service]:
    async with running(live_stack, agents=FULL_POOL) as started:
        yield started


@asynccontextmanager
async def running(live_stack: BatonSettings, *, agents: int) -> AsyncIterator[Service]:
    pools = f'{{"agents": {agents}, "memory_gb": 4096, "cpu_cores": 64}}'
    owner = f"t_cost_{uuid.uuid4().hex[:6]}"
    async with Database(dsn=live_stack.dsn, max_size=2) as db:
        await migrate_for(db, "resource")
        await db.pool.execute(RESET)
        bus = Bus(settings=live_stack)  # never started: the outbox only names its topics
        handlers = ResourceHandlers(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner=owner),
            config=ResourceConfig.from_env({"BATON_RESOURCE_POOLS": pools}),
        )
        try:
            await handlers.start()
            yield Service(db=db, handlers=handlers, owner=owner)
        finally:
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)
            await db.pool.execute(RESET)


async def costs(
    service: Service, *, held: int, first: int
) -> tuple[dict[str, Cost], dict[str, Any]]:
    """The cost of an allocate, a release and a status page with ``held`` allocations in
    place, and the page."""
    await service.fill(held)
    granted, reply = await service.measure(allocate(first))
    assert reply["allocation_response"]["status"] == "approved", reply
    assert len(reply["agent_ids"]) == 1
    release = Event(
        event_type="RELEASE",
        workflow_id="global",
        phase="t",
        data={
            "allocation_id": reply["allocation_response"]["allocated_resources"]["allocation_id"]
        },
    )
    released, reply = await service.measure(release)
    assert len(reply["released"]) == 1
    page = Event(event_type="RESOURCE_STATUS", workflow_id="global", phase="t", data={"limit": 5})
    status, reply = await service.measure(page)
    return {"allocate": granted, "release": released, "status": status}, reply


async def test_an_operation_costs_the_same_with_10_or_1000_allocations(service: Service) -> None:
    few, _ = await costs(service, held=10, first=90_000)
    await service.db.pool.execute(RESET)
    await service.handlers.start()
    many, page = await costs(service, held=1000, first=90_001)
    for name in few:
        small, large = few[name], many[name]
        print(f"\n{name}: 10 allocations {small}, 1000 allocations {large}")
        assert large.statements == small.statements, name
        # The same rows with other ids; a few bytes of longer agent names at most.
        assert large.sent <= small.sent + 64, name
        assert large.received <= small.received + 64, name
        assert large.touched <= small.touched, name
        assert large.touched <= 40, name
    # A status is a page: the first 5 of the 1,000, and where the next page starts.
    assert (page["allocations_total"], len(page["allocations"])) == (1000, 5)
    assert page["next"] is not None


async def test_an_allocation_that_must_wait_reads_the_queue_once(full_pool: Service) -> None:
    """With every agent held, a request cannot be granted at once: its answer takes the
    whole queue (its position, its estimated start), read at once, not after a first run on
    the queue's head alone; the same statements with 10 or 100 requests waiting."""
    await full_pool.fill(FULL_POOL + 10)
    few, reply = await full_pool.measure(allocate(90_000))
    assert reply["allocation_response"]["queue_position"] == 11, reply
    await full_pool.fill(FULL_POOL + 99)  # the first ones again (repeats), 89 more
    many, reply = await full_pool.measure(allocate(90_001))
    assert reply["allocation_response"]["queue_position"] == 101, reply
    print(f"\nqueued allocate: 10 waiting {few}, 100 waiting {many}")
    assert few.queue_reads == many.queue_reads == 1
    assert few.statements == many.statements
