"""Recovery actions on PostgreSQL with two replicas: a due action is claimed and run by one
of them, a lease that runs out (its holder killed) lets another run it, and an action the
hub did not answer is due again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from baton.config import BatonSettings
from baton.db import Database
from baton.errors import RequestTimeoutError
from baton.protocol.event import Event
from baton.protocol.messages.base import utc_now
from baton_recovery.config import RecoveryConfig
from baton_recovery.failures.actions import Actions
from baton_recovery.store import RecoveryStore
from tests.conftest import migrate_for
from tests.unit.recovery.support import T0, at

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

STORE = RecoveryStore()


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with Database(dsn=live_stack.dsn, max_size=6) as database:
        await migrate_for(database, "recovery")
        # Left by other tests: nothing of theirs may look due at this test's times.
        await database.pool.execute(
            "update recovery_actions set done_at = now() where done_at is null and due_at < $1",
            utc_now() + timedelta(days=1),
        )
        yield database


async def add(db: Database, action_id: str, due_seconds: float, workflow: str = "wf") -> None:
    async with db.connection() as conn:
        await STORE.add_action(
            conn,
            action_id=action_id,
            workflow_id=workflow,
            due_at=at(due_seconds),
            request={"command": "RECOVER_TASK", "task_id": "t", "action": "retry"},
        )


async def claim(db: Database, who: str, seconds: float, lease: float = 25.0) -> str | None:
    async with db.connection() as conn:
        row = await STORE.claim_due(conn, now=at(seconds), claimant=who, lease_seconds=lease)
    return None if row is None else str(row["action_id"])


async def test_a_due_action_is_held_by_one_replica(db: Database) -> None:
    tag = uuid.uuid4().hex[:8]
    await add(db, f"first_{tag}", 0)
    await add(db, f"second_{tag}", 1)
    await add(db, f"later_{tag}", 100)
    assert await claim(db, "a", 10) == f"first_{tag}"
    assert await claim(db, "b", 10) == f"second_{tag}"
    assert await claim(db, "a", 10) is None  # "later" is not due; the others are held
    async with db.connection() as conn:
        assert await STORE.next_due(conn) == at(35)  # first_'s lease ends
        await STORE.finish_action(conn, action_id=f"first_{tag}", outcome={"ok": True})
        await STORE.release_action(conn, action_id=f"second_{tag}", claimant="a")  # not a's
        assert await STORE.next_due(conn) == at(35)
        await STORE.release_action(conn, action_id=f"second_{tag}", claimant="b")
        assert await STORE.next_due(conn) == at(1)
    assert await claim(db, "a", 10) == f"second_{tag}"  # released: due again


async def test_a_holder_killed_leaves_the_action_to_another_when_its_lease_ends(
    db: Database,
) -> None:
    tag = uuid.uuid4().hex[:8]
    await add(db, f"act_{tag}", 0)
    assert await claim(db, "killed", 10, lease=25) == f"act_{tag}"
    assert await claim(db, "other", 34.9) is None
    assert await claim(db, "other", 35) == f"act_{tag}"


async def test_concurrent_claims_take_each_action_once(db: Database) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = {f"act{i}_{tag}" for i in range(12)}
    for i, action_id in enumerate(sorted(ids)):
        await add(db, action_id, i / 10)
    claims = await asyncio.gather(*(claim(db, f"r{i % 2}", 5) for i in range(20)))
    taken = [c for c in claims if c is not None]
    assert sorted(taken) == sorted(ids)


class HubStub:
    """Answers recovery's requests after a moment, counting each request id."""

    def __init__(self, *, answer: bool = True) -> None:
        self.requests: list[str] = []
        self.answer = answer

    async def request(self, event: Event, *, service: str, timeout: float) -> Event:
        assert event.request_id is not None
        self.requests.append(event.request_id)
        await asyncio.sleep(0.05)  # both replicas are busy at once
        if not self.answer:
            raise RequestTimeoutError("no answer", service=service)
        return event.replace(data={"ok": True})


def replica(db: Database, hub: HubStub, name: str) -> Actions:
    actions = Actions(
        bus=hub,  # type: ignore[arg-type]  # only request() is used
        db=db,
        store=STORE,
        config=RecoveryConfig(),
    )
    actions.claimant = name
    return actions


async def test_two_replicas_run_each_due_action_once(db: Database) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [f"act{i}_{tag}" for i in range(10)]
    for action_id in ids:
        async with db.connection() as conn:
            await STORE.add_action(
                conn,
                action_id=action_id,
                workflow_id=f"wf_{tag}",
                due_at=T0,
                request={"command": "RECOVER_TASK", "task_id": "t", "action": "retry"},
            )
    hub = HubStub()
    a, b = replica(db, hub, "a"), replica(db, hub, "b")
    ran = await asyncio.gather(a.run_due(), b.run_due(), a.run_due(), b.run_due())
    mine = [r for r in hub.requests if r.endswith(tag)]
    assert sorted(mine) == sorted(ids)  # each once
    assert sum(ran) == len(ids)
    done = await db.pool.fetch(
        "select claimed_by, outcome from recovery_actions where workflow_id = $1", f"wf_{tag}"
    )
    assert all(r["outcome"] == {"ok": True, "reply": {"ok": True}} for r in done)
    assert {r["claimed_by"] for r in done} <= {"a", "b"}


async def test_an_action_the_hub_did_not_answer_is_due_again(db: Database) -> None:
    tag = uuid.uuid4().hex[:8]
    async with db.connection() as conn:
        await STORE.add_action(
            conn,
            action_id=f"act_{tag}",
            workflow_id=f"wf_{tag}",
            due_at=T0,
            request={"command": "RECOVER_TASK", "task_id": "t", "action": "retry"},
        )
    silent = HubStub(answer=False)
    assert await replica(db, silent, "a").run_due() == 1
    answering = HubStub()
    assert await replica(db, answering, "b").run_due() == 1
    assert [r for r in silent.requests + answering.requests if r.endswith(tag)] == [
        f"act_{tag}",
        f"act_{tag}",
    ]
    row: Any = await db.pool.fetchrow(
        "select done_at, claimed_by from recovery_actions where action_id = $1", f"act_{tag}"
    )
    assert row["done_at"] is not None
    assert row["claimed_by"] == "b"
