"""The resource manager on rows answers exactly as the allocator on its whole state (issue 17).

Each operation reads only the rows it needs (the head of the queue, the holders of the
files in question, the allocations ending first...). Random sequences of requests,
repeats, releases, cancellations, renewals, lease expiries and saturation verdicts run
through the service's handlers on PostgreSQL, and through a pure allocator holding the
whole state, at the same clock: every answer, every event and the final status must be the
same. The first rows read are few (one queued request, two allocations), so the rows read
are too few again and again and have to grow.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.conftest import migrate_for
from tests.resource_rows import RESET
from tests.unit.resource.support import T0, make

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton.protocol.messages import AllocationRequest
from baton.runtime import Outbox
from baton_resource import store
from baton_resource.allocator import Allocator
from baton_resource.config import ResourceConfig
from baton_resource.handlers import ResourceHandlers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

POOLS = '{"agents": 5, "memory_gb": 20, "cpu_cores": 8, "tool_instances": {"bash": 3}}'
WORKFLOWS = [f"wf_{c}" for c in "abcdefgh"]
POOL_ROWS = "select name, used from resource_pools"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Pair:
    """The service's handlers and a whole-state allocator, fed the same operations."""

    handlers: ResourceHandlers
    full: Allocator
    db: Database
    clock: Clock
    owner: str
    seen: int = 0
    sent: list[AllocationRequest] = field(default_factory=list)

    async def command(self, event_type: str, workflow_id: str, data: dict[str, Any]) -> Any:
        event = Event(event_type=event_type, workflow_id=workflow_id, phase="t", data=data)
        async with self.db.transaction() as conn:
            return await self.handlers.command(conn, event)

    async def events(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The events queued since the last call, without state syncs and agent ids."""
        rows = await self.db.pool.fetch(
            "select id, value from baton_outbox where owner = $1 and id > $2 order by id",
            self.owner,
            self.seen,
        )
        if rows:
            self.seen = rows[-1]["id"]
        out = []
        for row in rows:
            event = Event.parse(bytes(row["value"]).decode())
            if event.event_type != "RESOURCE_STATE":
                data = {k: v for k, v in event.data.items() if k != "agent_ids"}
                out.append((event.event_type, event.workflow_id, data))
        return out


def expected(events: list[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.event_type, e.workflow_id, e.data) for e in events]


def released(outcome: Any) -> dict[str, Any]:
    return {
        "released": list(outcome.released),
        "cancelled": list(outcome.cancelled),
        "granted": [g.model_dump(mode="json") for g in outcome.granted],
    }


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from very few rows, so that reading more is exercised all the time."""
    monkeypatch.setattr(store, "PREFIX_START", 1)
    monkeypatch.setattr(store, "HOLDINGS_START", 2)


@pytest.fixture
async def pair(live_stack: BatonSettings, small_reads: None) -> AsyncIterator[Pair]:
    config = ResourceConfig.from_env({"BATON_RESOURCE_POOLS": POOLS})
    owner = f"t_rows_{uuid.uuid4().hex[:6]}"
    clock = Clock()
    async with Database(dsn=live_stack.dsn, max_size=2) as db:
        await migrate_for(db, "resource")
        await db.pool.execute(RESET)
        bus = Bus(settings=live_stack)  # never started: the outbox only names its topics
        handlers = ResourceHandlers(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner=owner),
            config=config,
            clock=clock,
        )
        full = Allocator(
            pools=config.pools,
            aging_per_minute=config.aging_per_minute,
            auto_release_grace=config.lease_grace,
            thresholds={"default": config.threshold},
            hold_when_saturated=frozenset(config.hold_when_saturated),
        )
        try:
            await handlers.start()
            yield Pair(handlers=handlers, full=full, db=db, clock=clock, owner=owner)
        finally:
            await db.pool.execute("delete from baton_outbox where owner = $1", owner)
            await db.pool.execute(RESET)


def random_request(rng: random.Random, number: int) -> AllocationRequest:
    return make(
        f"req_{number}",
        rng.choice(WORKFLOWS),
        agents=rng.choice([0, 1, 1, 1, 2, 3, 6]),
        memory_gb=rng.choice([0, 0.5, 1.5, 4, 10, 25]),
        cpu_cores=rng.choice([0, 0, 0.25, 2]),
        files=rng.sample(["a", "b", "c"], k=rng.choice([0, 0, 0, 1, 2])),
        priority=rng.choice(["critical", "high", "medium", "low"]),
        hours=rng.choice([0, 0.1, 0.5, 1, 3]),
        reduce_agents=rng.random() < 0.3,
        shared=rng.random() < 0.3,
        queue=rng.random() < 0.85,
        extend_duration=rng.random() < 0.5,
        max_wait=rng.choice(["0s", "10m", "2h", "24h"]),
        tools={"bash": rng.randint(1, 3)} if rng.random() < 0.3 else None,
    )


async def step(pair: Pair, rng: random.Random, number: int) -> None:
    """One random operation on both; their answers and events must be the same."""
    full, now = pair.full, pair.clock.now
    allocations, queue = full.state.allocations, full.state.queue
    kind = rng.choice(
        ["request"] * 6
        + ["repeat", "release", "release_wf", "cancel", "renew", "expire"]
        + ["saturation"]
    )
    if kind == "request" or (kind == "repeat" and pair.sent):
        req = random_request(rng, number) if kind == "request" else rng.choice(pair.sent)
        pair.sent.append(req)
        reply = await pair.command(
            "ALLOCATE", req.workflow_id, {"allocation_request": req.model_dump(mode="json")}
        )
        answer = full.request(req, now=now)
        assert reply["allocation_response"] == answer.response.model_dump(mode="json")
        assert (reply["reason"], reply["repeated"]) == (answer.reason, answer.repeated)
        events = answer.events
    elif kind == "release" and allocations:
        target = rng.choice(allocations).allocation_id
        reply = await pair.command("RELEASE", "global", {"allocation_id": target, "reason": "x"})
        outcome = full.release(now=now, allocation_id=target, reason="x")
        assert reply == released(outcome)
        events = outcome.events
    elif kind == "release_wf":
        workflow = rng.choice(WORKFLOWS)
        reply = await pair.command("RELEASE", workflow, {"workflow_id": workflow, "reason": "y"})
        outcome = full.release(now=now, workflow_id=workflow, reason="y")
        assert reply == released(outcome)
        events = outcome.events
    elif kind == "cancel" and queue:
        rid = rng.choice(queue).request.request_id
        reply = await pair.command("CANCEL_REQUEST", "global", {"request_id": rid})
        outcome = full.cancel_request(now=now, request_id=rid)
        assert reply == released(outcome)
        events = outcome.events
    elif kind == "renew" and allocations:
        target = rng.choice(allocations).allocation_id
        reply = await pair.command("RENEW", "global", {"allocation_id": target, "hours": 2})
        until = full.renew(target, now=now, hours=2)
        assert reply["lease_deadline"] == (until.isoformat() if until else None)
        events = []
    elif kind == "expire":
        ids = await pair.handlers.expire()
        expired = full.expire(now=now)
        assert ids == list(expired.released)
        events = expired.events
    elif kind == "saturation":
        saturated = rng.random() < 0.5
        data = {"saturated": saturated, "reason": "busy"}
        await pair.handlers.on_saturation(
            Event(event_type="SYSTEM_SATURATION", workflow_id="global", phase="t", data=data)
        )
        events = full.saturation(saturated=saturated, reason="busy", now=now).events
    else:
        return
    assert await pair.events() == expected(events), kind
    used = {r["name"]: float(r["used"]) for r in await pair.db.pool.fetch(POOL_ROWS)}
    for name, pool in full.status(now=now)["pools"].items():
        assert used.get(name, 0) == pytest.approx(pool["used"]), (kind, name)


async def same_status(pair: Pair) -> None:
    status = await pair.command("RESOURCE_STATUS", "global", {"limit": 1000})
    whole = pair.full.status(now=pair.clock.now)
    for key in ("allocations", "queue", "exclusive_files", "saturation"):
        assert status[key] == whole[key], key
    for name, pool in whole["pools"].items():
        assert status["pools"][name] == pytest.approx(pool), name
    assert (status["allocations_total"], status["queued_total"]) == (
        len(whole["allocations"]),
        len(whole["queue"]),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rows_answer_like_the_whole_state(pair: Pair, seed: int) -> None:
    rng = random.Random(seed)
    for number in range(120):
        pair.clock.now += timedelta(minutes=rng.choice([0, 0, 1, 5, 20, 90]))
        await step(pair, rng, number)
        if number % 20 == 19:
            await same_status(pair)
    await same_status(pair)
