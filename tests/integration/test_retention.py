"""Retention on real PostgreSQL (issue 17.4): the runtime's, hub's and recovery's rows past
their window are pruned in batches, nothing else; replicas prune side by side; tables stay
bounded under steady load. Time is simulated by ageing rows, never waited for."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from tests.conftest import deployment_database

from baton.config import BatonSettings
from baton.db import Database
from baton.runtime import Pruner, PruneRule, RetentionConfig, first_time
from baton.runtime.retention import runtime_rules
from baton_hub.retention import hub_rules
from baton_recovery.retention import recovery_rules

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SERVICES = ("hub", "recovery")
TIMES = {  # table → its time column
    "baton_processed": "processed_at",
    "baton_replies": "created_at",
    "baton_outbox": "created_at",
    "hub_workflows": "updated_at",
    "recovery_checkpoints": "created_at",
    "recovery_reports": "created_at",
    "recovery_actions": "done_at",
}
_ids = itertools.count()


def every_rule(settings: BatonSettings, window: str) -> list[PruneRule]:
    """The runtime's, hub's and recovery's rules, every window ``window``."""
    names = ("ledger", "replies", "outbox", "workflows", "checkpoints", "reports", "actions")
    config = RetentionConfig.from_env({f"BATON_RETENTION_{n.upper()}": window for n in names})
    return [
        *runtime_rules(config, settings=settings),
        *hub_rules(config),
        *recovery_rules(config),
    ]


async def ledger(conn: Any, count: int, *, age: str, prefix: str = "evt") -> None:
    await conn.execute(
        "insert into baton_processed (consumer, event_id, processed_at) "
        "select 'hub', $1 || '_' || i, now() - $3::text::interval from generate_series(1, $2) i",
        f"{prefix}{next(_ids)}",
        count,
        age,
    )


async def replies(conn: Any, count: int, *, age: str) -> None:
    await conn.execute(
        "insert into baton_replies (owner, request_id, status, reply, created_at) "
        "select 'p.hub', $1 || '_' || i, 'ok', '{}', now() - $3::text::interval "
        "from generate_series(1, $2) i",
        f"req{next(_ids)}",
        count,
        age,
    )


async def outbox(conn: Any, owner: str, count: int, *, age: str) -> None:
    await conn.execute(
        "insert into baton_outbox (owner, topic, value, created_at) "
        "select $1, 't', '\\x00', now() - $3::text::interval from generate_series(1, $2)",
        owner,
        count,
        age,
    )


async def workflows(conn: Any, status: str, count: int, *, age: str) -> list[str]:
    names = [f"wf{next(_ids)}" for _ in range(count)]
    await conn.execute(
        "insert into hub_workflows "
        "(workflow_id, status, priority, state_version, state, updated_at) "
        "select id, $2, 'high', 1, '{}', now() - $3::text::interval from unnest($1::text[]) id",
        names,
        status,
        age,
    )
    return names


async def checkpoints(conn: Any, workflow_id: str, ages: list[str]) -> None:
    """A chain: a full checkpoint, then deltas each based on the one before."""
    base: str | None = None
    for n, age in enumerate(ages):
        checkpoint_id = f"{workflow_id}_c{n}"
        await conn.execute(
            "insert into recovery_checkpoints (checkpoint_id, workflow_id, checkpoint_type, "
            "trigger, state_version, kind, base_id, deltas_since_full, payload, payload_hash, "
            "state_hash, full_size, stored_size, created_at) values "
            "($1, $2, 'manual', 't', $3, $4, $5, $3, '\\x00', 'h', 'h', 1, 1, "
            "now() - $6::text::interval)",
            checkpoint_id,
            workflow_id,
            n,
            "full" if base is None else "delta",
            base,
            age,
        )
        base = checkpoint_id


async def reports(conn: Any, workflow_id: str, ages: list[str]) -> None:
    for age in ages:
        await conn.execute(
            "insert into recovery_reports (error_id, workflow_id, report, created_at) "
            "values ($1, $2, '{}', now() - $3::text::interval)",
            f"err{next(_ids)}",
            workflow_id,
            age,
        )


async def actions(conn: Any, count: int, *, due: str, done: str | None) -> None:
    await conn.execute(
        "insert into recovery_actions (action_id, workflow_id, due_at, request, done_at) "
        "select $1 || '_' || i, 'wf', now() - $3::text::interval, '{}', now() - $4::text::interval "
        "from generate_series(1, $2) i",
        f"act{next(_ids)}",
        count,
        due,
        done,
    )


async def counts(db: Database) -> dict[str, int]:
    async with db.connection() as conn:
        return {t: await conn.fetchval(f"select count(*) from {t}") for t in TIMES}


async def test_pruning_deletes_only_rows_past_their_window_in_batches(
    live_stack: BatonSettings,
) -> None:
    async with deployment_database(live_stack, *SERVICES) as (settings, db):
        prefix = settings.topic_prefix
        async with db.transaction() as conn:
            await ledger(conn, 25, age="2 hours", prefix="old")
            await ledger(conn, 5, age="10 minutes", prefix="recent")
            await replies(conn, 9, age="2 hours")
            await replies(conn, 2, age="1 minute")
            await outbox(conn, "gone_prefix.hub", 3, age="2 hours")  # a removed deployment's
            await outbox(conn, f"{prefix}.hub", 2, age="2 hours")  # this one's: its relay's
            await outbox(conn, "gone_prefix.hub", 1, age="1 minute")
            finished = [
                *await workflows(conn, "COMPLETED", 3, age="2 hours"),
                *await workflows(conn, "FAILED", 3, age="2 hours"),
                *await workflows(conn, "CANCELLED", 3, age="2 hours"),
            ]
            active = await workflows(conn, "STARTED", 2, age="2 hours")
            active += await workflows(conn, "PAUSED", 1, age="2 hours")
            recent = await workflows(conn, "COMPLETED", 2, age="1 minute")
            # wf_idle: every checkpoint old, a full one and two deltas on it (a chain);
            # wf_busy: an old full one, a recent delta based on it.
            await checkpoints(conn, "wf_idle", ["3 hours", "2 hours", "2 hours"])
            await checkpoints(conn, "wf_busy", ["3 hours", "1 minute"])
            await reports(conn, "wf_idle", ["3 hours", "2 hours"])
            await reports(conn, "wf_busy", ["3 hours", "1 minute"])
            await actions(conn, 2, due="3 hours", done="2 hours")
            await actions(conn, 1, due="3 hours", done=None)  # never done: stays
            await actions(conn, 1, due="3 hours", done="1 minute")
        before = await counts(db)
        pruner = Pruner(db=db, rules=every_rule(settings, "1h"), batch=4, interval=60)

        deleted = await pruner.prune()

        assert deleted == {
            "ledger": 25,
            "replies": 9,
            "outbox": 3,
            "hub_workflows": 9,
            "recovery_checkpoints": 3,
            "recovery_reports": 2,
            "recovery_actions": 2,
        }
        after = await counts(db)
        assert {t: before[t] - after[t] for t in TIMES} == {
            "baton_processed": 25,
            "baton_replies": 9,
            "baton_outbox": 3,
            "hub_workflows": 9,
            "recovery_checkpoints": 3,
            "recovery_reports": 2,
            "recovery_actions": 2,
        }
        # In batches of at most 4 rows: 25 old ledger rows take 7 (the last finds 1).
        assert pruner.batches["ledger"] == 7
        assert pruner.batches["hub_workflows"] == 3
        async with db.connection() as conn:
            left = {r[0] for r in await conn.fetch("select workflow_id from hub_workflows")}
            assert left == set(active) | set(recent)
            assert not left & set(finished)
            kept = await conn.fetch("select checkpoint_id from recovery_checkpoints order by 1")
            assert [r[0] for r in kept] == ["wf_busy_c0", "wf_busy_c1"]  # the chain is whole
            mine = "select count(*) from baton_outbox where owner = $1"
            assert await conn.fetchval(mine, f"{prefix}.hub") == 2
            pending = "select count(*) from recovery_actions where done_at is null"
            assert await conn.fetchval(pending) == 1
            old = "select count(*) from baton_processed where event_id like 'old%'"
            assert await conn.fetchval(old) == 0
        assert set((await pruner.prune()).values()) == {0}  # nothing more to do


async def test_the_ledger_still_rejects_a_redelivery_inside_its_window(
    live_stack: BatonSettings,
) -> None:
    async with deployment_database(live_stack, *SERVICES) as (settings, db):
        async with db.transaction() as conn:
            assert await first_time(conn, consumer="hub", event_id="evt_recent")
            assert await first_time(conn, consumer="hub", event_id="evt_old")
            await conn.execute(
                "update baton_processed set processed_at = now() - interval '8 days' "
                "where event_id = 'evt_old'"
            )
        pruner = Pruner(db=db, rules=every_rule(settings, "7d"), batch=100, interval=60)
        assert (await pruner.prune())["ledger"] == 1
        async with db.transaction() as conn:
            # Inside the window: a redelivery is still recognised and not applied again.
            assert not await first_time(conn, consumer="hub", event_id="evt_recent")
            # Past it, the id is forgotten (docs/retention.md: the topics no longer hold
            # such an event, so it cannot come back).
            assert await first_time(conn, consumer="hub", event_id="evt_old")


async def test_replicas_prune_side_by_side_beside_live_work(live_stack: BatonSettings) -> None:
    """Two pruners (two replicas, or two services sharing the runtime's tables) at once,
    while handlers touch rows: no error, no deadlock, every old row gone exactly once, and
    a finished workflow changed meanwhile (a late event) is kept."""
    async with deployment_database(live_stack, *SERVICES, max_size=6) as (settings, db):
        async with db.transaction() as conn:
            await ledger(conn, 3000, age="2 hours")
            finished = await workflows(conn, "COMPLETED", 600, age="2 hours")
        touched: list[str] = []

        async def handler() -> None:
            """Records events in the ledger and changes old finished workflows."""
            for n, workflow_id in enumerate(finished[::6]):
                async with db.transaction() as conn:
                    assert await first_time(conn, consumer="hub", event_id=f"live_{n}")
                    status = await conn.execute(
                        "update hub_workflows set updated_at = now() where workflow_id = $1",
                        workflow_id,
                    )
                if status == "UPDATE 1":
                    touched.append(workflow_id)
                await asyncio.sleep(0)

        rules = every_rule(settings, "1h")
        async with (
            Database(dsn=settings.dsn, schema=settings.db_schema, max_size=2) as other,
            db.transaction() as held,
        ):
            # A handler in the middle of changing a finished workflow holds its row: the
            # pruners pass it by instead of waiting (they finish while it is held).
            await held.execute(
                "select 1 from hub_workflows where workflow_id = $1 for update", finished[1]
            )
            pruners = [
                Pruner(db=db, rules=rules, batch=50, interval=60),
                Pruner(db=other, rules=rules, batch=50, interval=60),
            ]
            await asyncio.gather(*(p.prune() for p in pruners), handler())
            await held.execute(
                "update hub_workflows set updated_at = now() where workflow_id = $1", finished[1]
            )
            touched.append(finished[1])
        print(f"\nrows deleted by each pruner: {[p.deleted for p in pruners]}")
        assert sum(p.deleted["ledger"] for p in pruners) == 3000
        assert sum(p.deleted["hub_workflows"] for p in pruners) == 600 - len(touched)
        async with db.connection() as conn:
            left = {r[0] for r in await conn.fetch("select workflow_id from hub_workflows")}
            assert left == set(touched)
            assert await conn.fetchval("select count(*) from baton_processed") == len(finished[::6])


async def test_tables_stay_bounded_under_steady_load(live_stack: BatonSettings) -> None:
    """Forty "minutes" of work, each adding the same rows and ageing every row by a
    minute; with 5.5-minute windows, no table ever holds more than six minutes' rows."""
    per_minute = {
        "baton_processed": 300,
        "baton_replies": 20,
        "baton_outbox": 5,  # a removed deployment's leftovers
        "hub_workflows": 10,
        "recovery_checkpoints": 30,
        "recovery_reports": 10,
        "recovery_actions": 5,
    }
    async with deployment_database(live_stack, *SERVICES) as (settings, db):
        pruner = Pruner(db=db, rules=every_rule(settings, "5.5m"), batch=100, interval=60)
        peak: dict[str, int] = dict.fromkeys(TIMES, 0)
        for _ in range(40):
            async with db.transaction() as conn:
                for table, column in TIMES.items():  # a minute passes
                    await conn.execute(
                        f"update {table} set {column} = {column} - interval '1 minute'"
                    )
                await ledger(conn, per_minute["baton_processed"], age="0s")
                await replies(conn, per_minute["baton_replies"], age="0s")
                await outbox(conn, "gone_prefix.hub", per_minute["baton_outbox"], age="0s")
                done = await workflows(conn, "STARTED", per_minute["hub_workflows"], age="0s")
                await conn.execute(
                    "update hub_workflows set status = 'COMPLETED', updated_at = now() "
                    "where workflow_id = any($1::text[])",
                    done,
                )
                for workflow_id in done:
                    await checkpoints(conn, workflow_id, ["0s", "0s", "0s"])
                    await reports(conn, workflow_id, ["0s"])
                await actions(conn, per_minute["recovery_actions"], due="0s", done="0s")
            await pruner.prune()
            for table, count in (await counts(db)).items():
                peak[table] = max(peak[table], count)
                assert count <= 6 * per_minute[table], (table, count)
        assert await counts(db) == {t: 6 * n for t, n in per_minute.items()}
        assert peak == {t: 6 * n for t, n in per_minute.items()}
        print(f"\npeak rows with 5.5-minute windows over 40 minutes of load: {peak}")
