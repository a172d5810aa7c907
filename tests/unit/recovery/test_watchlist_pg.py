"""The watchdog's rows on PostgreSQL: agent and task timeouts reported once per outage,
judged only for the partitions given, claimed once when two replicas judge at the same time.

Each test uses partitions of its own (numbers no topic has) and a clock of its own (``at``),
so rows other tests left in the shared database play no part.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.db import Database
from baton_recovery.config import RecoveryConfig
from baton_recovery.failures.breaker import Breaker, BreakerPolicy
from baton_recovery.failures.liveness import LivenessPolicy
from baton_recovery.failures.watchdog import Watchdog
from baton_recovery.failures.watchlist import WatchList
from baton_recovery.store import RecoveryStore
from tests.conftest import migrate_for
from tests.unit.recovery.support import T0, at

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

POLICY = LivenessPolicy(interval_seconds=10, misses=3)  # timed out after 30 s of silence
TIMEOUT = POLICY.timeout_seconds
ROWS = WatchList()


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with Database(dsn=live_stack.dsn, max_size=4) as database:
        await migrate_for(database, "recovery")
        yield database


@pytest.fixture
def part() -> int:
    """A partition of this test's own."""
    return random.randint(10_000, 2**30)


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


async def agents_due(db: Database, parts: list[int], seconds: float) -> list[str]:
    async with db.transaction() as conn:
        found = await ROWS.time_out_agents(
            conn, partitions=parts, timeout_seconds=TIMEOUT, limit=50, at=at(seconds)
        )
    return [agent.agent_id for agent, _ in found]


async def tasks_due(
    db: Database, parts: list[int], seconds: float, agents: list[str] | None = None
) -> list[tuple[str, str | None, str]]:
    async with db.transaction() as conn:
        found = await ROWS.time_out_tasks(
            conn, partitions=parts, agents=agents or [], limit=50, at=at(seconds)
        )
    return [(t.task_id, t.agent_id, t.reason) for t in found]


async def beat(db: Database, agent: str, part: int, seconds: float) -> None:
    async with db.connection() as conn:
        await ROWS.seen(conn, agents={agent: part}, at=at(seconds))


async def watch(
    db: Database,
    wf: str,
    task: str,
    agent: str,
    part: int,
    seconds: float,
    *,
    agent_part: int | None = None,
    **extra: Any,
) -> bool:
    """Watch an assignment on ``part``; its agent's partition is ``agent_part`` or the same."""
    async with db.transaction() as conn:
        partition = part if agent_part is None else agent_part
        await ROWS.track(conn, agent_id=agent, partition=partition, at=at(seconds))
        return await ROWS.watch(
            conn,
            workflow_id=wf,
            task_id=task,
            partition=part,
            agent_id=agent,
            assignment_id=extra.pop("assignment", f"evt_{task}_{seconds}"),
            trace_context=extra.pop("trace", {}),
            at=at(seconds),
            **extra,
        )


async def test_an_agent_times_out_after_m_missed_heartbeats_once(db: Database, part: int) -> None:
    a1 = f"a1_{part}"
    await beat(db, a1, part, 0)
    assert await agents_due(db, [part], 29.9) == []
    async with db.transaction() as conn:
        found = await ROWS.time_out_agents(
            conn, partitions=[part], timeout_seconds=TIMEOUT, limit=50, at=at(30)
        )
    assert [(a.data(), b) for a, b in found] == [
        (
            {
                "agent_id": a1,
                "timeout_duration": "30s",
                "last_response": "2025-01-15T12:00:00Z",
            },
            None,
        )
    ]
    assert await agents_due(db, [part], 31) == []
    assert await agents_due(db, [part], 500) == []


async def test_a_heartbeat_after_the_timeout_ends_the_outage_and_a_new_one_reports_again(
    db: Database, part: int
) -> None:
    a1 = f"a1_{part}"
    await beat(db, a1, part, 0)
    assert await agents_due(db, [part], 40) == [a1]
    await beat(db, a1, part, 45)
    assert await agents_due(db, [part], 70) == []
    assert await agents_due(db, [part], 75) == [a1]


async def test_a_late_heartbeat_does_not_go_back_in_time(db: Database, part: int) -> None:
    a1 = f"a1_{part}"
    await beat(db, a1, part, 90)
    await beat(db, a1, part, 50)  # recorded out of order
    assert await agents_due(db, [part], 110) == []
    assert await agents_due(db, [part], 120) == [a1]


async def test_only_the_partitions_given_are_judged(db: Database, part: int) -> None:
    mine, theirs = f"mine_{part}", f"theirs_{part}"
    await beat(db, mine, part, 0)
    await beat(db, theirs, part + 1, 0)
    assert await agents_due(db, [part], 100) == [mine]
    assert await agents_due(db, [part + 1], 100) == [theirs]


async def test_two_replicas_judging_one_partition_report_an_agent_once(
    db: Database, part: int
) -> None:
    """During a rebalance two replicas may both think they hold a partition: the first
    claims the timeout, the other skips the locked row, and finds it claimed afterwards."""
    agents = [f"a{i}_{part}" for i in range(6)]
    for agent in agents:
        await beat(db, agent, part, 0)
    async with db.transaction() as first:
        claimed = await ROWS.time_out_agents(
            first, partitions=[part], timeout_seconds=TIMEOUT, limit=3, at=at(40)
        )
        meanwhile = await agents_due(db, [part], 40)  # the other replica, while locked
    after = await agents_due(db, [part], 41)
    ids = [a.agent_id for a, _ in claimed]
    assert sorted(ids + meanwhile + after) == sorted(agents)
    assert len(set(ids) | set(meanwhile)) == len(ids) + len(meanwhile) == 6
    assert after == []


async def test_concurrent_checks_report_each_agent_once(db: Database, part: int) -> None:
    agents = [f"a{i}_{part}" for i in range(40)]
    async with db.connection() as conn:
        await ROWS.seen(conn, agents=dict.fromkeys(agents, part), at=T0)
    found = await asyncio.gather(*(agents_due(db, [part], 31) for _ in range(4)))
    reported = [a for one in found for a in one]
    assert sorted(reported) == sorted(agents)


async def test_tasks_of_a_timed_out_agent_time_out_with_it_wherever_they_are(
    db: Database, part: int, tag: str
) -> None:
    a1, a2 = f"a1_{part}", f"a2_{part}"
    trace = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    await watch(db, f"wf_{tag}", "t2", a1, part + 1, 0, agent_part=part, trace=trace)
    await watch(db, f"wf_{tag}", "t1", a1, part, 5, deadline=at(3600))
    await watch(db, f"wf_{tag}", "t3", a2, part, 0)
    await beat(db, a2, part, 25)
    assert await agents_due(db, [part], 31) == [a1]
    async with db.transaction() as conn:
        found = await ROWS.time_out_tasks(conn, partitions=[part], agents=[a1], limit=50, at=at(31))
    assert [(t.task_id, t.reason, t.running_seconds) for t in found] == [
        ("t1", "agent_timeout", 26.0),
        ("t2", "agent_timeout", 31.0),
    ]
    assert found[1].trace_context == trace  # the timeout stays in the workflow's trace
    # The agent comes back: its tasks stay timed out (they were reassigned meanwhile).
    await beat(db, a1, part, 40)
    assert await tasks_due(db, [part, part + 1], 42, [a1]) == []


async def test_a_task_assigned_to_an_agent_out_already_is_timed_out_by_its_partition(
    db: Database, part: int, tag: str
) -> None:
    a1 = f"a1_{part}"
    await beat(db, a1, part + 1, 0)
    assert await agents_due(db, [part + 1], 30) == [a1]
    await watch(db, f"wf_{tag}", "t", a1, part, 31)
    assert await tasks_due(db, [part + 1], 32) == []  # not the task's partition
    assert await tasks_due(db, [part], 32) == [("t", a1, "agent_timeout")]
    assert await tasks_due(db, [part], 33) == []


async def test_task_deadline_passed_is_reported_once(db: Database, part: int, tag: str) -> None:
    a1 = f"a1_{part}"
    await watch(db, f"wf_{tag}", "t1", a1, part, 0, deadline=at(600))
    for s in range(0, 600, 20):
        await beat(db, a1, part, s)
    assert await tasks_due(db, [part], 599) == []
    async with db.transaction() as conn:
        found = await ROWS.time_out_tasks(conn, partitions=[part], agents=[], limit=5, at=at(600))
    assert [t.data() for t in found] == [
        {"task_id": "t1", "agent_id": a1, "timeout_duration": "10m", "reason": "deadline"}
    ]
    assert await tasks_due(db, [part], 700) == []


async def test_a_redelivered_assignment_does_not_restart_its_watch_a_new_one_does(
    db: Database, part: int, tag: str
) -> None:
    a1, a2, wf = f"a1_{part}", f"a2_{part}", f"wf_{tag}"
    assert await watch(db, wf, "t", a1, part, 0, assignment="evt_1", deadline=at(10))
    assert await tasks_due(db, [part], 10) == [("t", a1, "deadline")]
    assert not await watch(db, wf, "t", a1, part, 11, assignment="evt_1", deadline=at(20))
    assert await tasks_due(db, [part], 25) == []  # reported once for that assignment
    assert await watch(db, wf, "t", a2, part, 26, assignment="evt_2", deadline=at(100))
    await beat(db, a2, part, 50)
    assert await tasks_due(db, [part], 60) == []
    assert await tasks_due(db, [part], 100) == [("t", a2, "deadline")]


async def test_progress_is_a_sign_of_life_of_the_holder(db: Database, part: int, tag: str) -> None:
    a1 = f"a1_{part}"
    await watch(db, f"wf_{tag}", "t", a1, part, 0)
    async with db.connection() as conn:
        await ROWS.progress(conn, workflow_id=f"wf_{tag}", task_id="t", at=at(25))
        await ROWS.progress(conn, workflow_id=f"wf_{tag}", task_id="unknown", at=at(25))
    assert await agents_due(db, [part], 54.9) == []
    assert await agents_due(db, [part], 55) == [a1]


async def test_a_late_report_of_another_agent_does_not_end_the_holders_watch(
    db: Database, part: int, tag: str
) -> None:
    """Issue 16, point 1: a1 was paused, its task went to a2; a1's late report must not
    stop recovery from watching a2's assignment."""
    a1, a2, wf = f"a1_{part}", f"a2_{part}", f"wf_{tag}"
    await watch(db, wf, "t", a2, part, 0)
    async with db.connection() as conn:
        assert not await ROWS.unwatch(conn, workflow_id=wf, task_id="t", agent_id=a1)
    await beat(db, a1, part, 30)  # a1 is alive; a2 fell silent
    assert await agents_due(db, [part], 30) == [a2]
    assert await tasks_due(db, [part], 30) == [("t", a2, "agent_timeout")]
    async with db.connection() as conn:
        assert await ROWS.unwatch(conn, workflow_id=wf, task_id="t", agent_id=a2)


async def test_an_ended_workflow_is_watched_no_more(db: Database, part: int, tag: str) -> None:
    a1, wf = f"a1_{part}", f"wf_{tag}"
    await watch(db, wf, "t1", a1, part, 0, deadline=at(5))
    await watch(db, wf, "t2", a1, part, 0, deadline=at(5))
    async with db.connection() as conn:
        assert await ROWS.unwatch_workflow(conn, workflow_id=wf) == 2
    assert await tasks_due(db, [part], 100) == []


async def test_agents_long_out_and_holding_nothing_are_forgotten(
    db: Database, part: int, tag: str
) -> None:
    idle, holding = f"idle_{part}", f"holding_{part}"
    await beat(db, idle, part, 0)
    # A task of another replica's partition, not judged yet: its agent is kept for it.
    await watch(db, f"wf_{tag}", "t", holding, part + 1, 0, agent_part=part)
    await watch(db, f"wf_{tag}", "old", idle, part, 0, deadline=at(1))
    assert sorted(await agents_due(db, [part], 30)) == sorted([idle, holding])
    assert await tasks_due(db, [part], 30) == [("old", idle, "deadline")]
    # "old" was never assigned again: after the window it goes, with its agent.
    async with db.transaction() as conn:
        assert (
            await ROWS.forget(conn, partitions=[part], after_seconds=60, limit=10, at=at(89)) == 0
        )
        gone = await ROWS.forget(conn, partitions=[part], after_seconds=60, limit=10, at=at(90))
    assert gone == 2  # idle (its only watch timed out) and the watch "old"
    left = await db.pool.fetch("select agent_id from recovery_agents where partition = $1", part)
    assert [r[0] for r in left] == [holding]  # its watch "t" is still open


async def test_breakers_are_kept_per_agent_row(db: Database, part: int) -> None:
    a1 = f"a1_{part}"
    policy = BreakerPolicy(failure_threshold=2)
    async with db.transaction() as conn:
        breaker = await ROWS.signed(conn, agent_id=a1, partition=part, at=T0) or Breaker()
        breaker.record_failure(now=T0, policy=policy)
        breaker.record_failure(now=at(1), policy=policy)
        await ROWS.set_breaker(conn, agent_id=a1, breaker=breaker)
    async with db.connection() as conn:
        stored = await ROWS.breaker(conn, agent_id=a1)
        assert stored is not None
        assert stored.state(now=at(2), policy=policy) == "open"
        assert a1 in await ROWS.breakers(conn)


async def test_rows_moved_from_the_old_state_are_placed_at_start(
    db: Database, live_stack: BatonSettings, tag: str
) -> None:
    agent, wf = f"moved_{tag}", f"wf_moved_{tag}"
    await db.pool.execute(
        "insert into recovery_agents (agent_id, last_seen) values ($1, $2)", agent, T0
    )
    await db.pool.execute(
        "insert into recovery_watches (workflow_id, task_id, agent_id, assignment_id, since) "
        "values ($1, 't', $2, 'moved', $3)",
        wf,
        agent,
        T0,
    )
    settings = live_stack.model_copy(update={"topic_prefix": f"t_{tag}"})
    transport = MemoryTransport(partitions=4)
    bus = Bus(settings=settings, transport=transport)
    watchdog = Watchdog(
        bus=bus,
        db=db,
        outbox=None,  # type: ignore[arg-type]  # loading publishes nothing
        store=RecoveryStore(),
        config=RecoveryConfig(),
        group=f"t_{tag}.recovery",
    )
    await watchdog.load()
    placed = await db.pool.fetchval(
        "select partition from recovery_agents where agent_id = $1", agent
    )
    watched = await db.pool.fetchval(
        "select partition from recovery_watches where workflow_id = $1", wf
    )
    assert placed == await bus.partition_for(agent)
    assert watched == await bus.partition_for(wf)
