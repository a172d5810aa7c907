"""Two monitor replicas sharing PostgreSQL (issue 17.3): each record counted once whoever
handles it, every replica reporting the sum, one evaluation turn at a time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.conftest import migrate_for
from tests.unit.monitor.support import event

from baton.bus import Bus, MemoryTransport, Record
from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton.runtime.outbox import Outbox
from baton_monitor.catchup import CatchUp
from baton_monitor.config import MonitorConfig
from baton_monitor.evaluation import EvaluationStore
from baton_monitor.handlers import MonitorModel
from baton_monitor.store import FigureStore
from baton_monitor.streamviews import empty

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with Database(dsn=live_stack.dsn, max_size=8) as database:
        await migrate_for(database, "monitor")
        yield database


@dataclass
class Replica:
    model: MonitorModel
    catch_up: CatchUp
    group: str

    async def handle(self, partition: int, offsets: range, events: list[Event]) -> None:
        """Hand the model a batch, as the bus does: each record's position in scope."""
        with contextlib.ExitStack() as scopes:
            for offset, item in zip(offsets, events, strict=True):
                record = Record("unit.events", partition, offset, None, b"", [], 0)
                scopes.enter_context(
                    self.catch_up.consume_scope(record=record, event=item, group=self.group)
                )
            await self.model.on_events(events)


def replica(db: Database, group: str, name: str, **env: str) -> Replica:
    settings = BatonSettings(topic_prefix="unit", heartbeat_interval=2)
    bus = Bus(settings=settings, transport=MemoryTransport(partitions=2))
    catch_up = CatchUp(group=group, topic="unit.events")
    config = MonitorConfig.from_env(env)
    model = MonitorModel(
        bus=bus,
        db=db,
        outbox=Outbox(db=db, bus=bus, owner=group),
        config=config,
        group=group,
        holder=name,
        catch_up=catch_up,
    )
    return Replica(model=model, catch_up=catch_up, group=group)


def ticks(workflow_id: str, count: int, *, age: float = 0.0) -> list[Event]:
    sent = datetime.now(UTC) - timedelta(seconds=age)
    return [
        Event(event_type="PROBE_TICK", workflow_id=workflow_id, phase="p", timestamp=sent)
        for _ in range(count)
    ]


def hopping_total(report: dict[str, Any]) -> int:
    windows = report["hopping"]["windows"]
    return max((int(w["throughput"]["total"]) for w in windows), default=0)


async def test_a_record_is_counted_once_whichever_replica_handles_it(db: Database) -> None:
    group = f"t_{uuid.uuid4().hex[:10]}.monitor"
    a, b = replica(db, group, "a"), replica(db, group, "b")
    await a.handle(0, range(0, 5), ticks("wf_a", 5))
    await b.handle(1, range(0, 3), ticks("wf_b", 3))
    # a is killed before its commit: b gets partition 0 from the last commit, records 3.. .
    await b.handle(0, range(3, 7), ticks("wf_a", 4))
    await a.handle(1, range(0, 3), ticks("wf_b", 3))  # and a partition handled twice over
    for mine in (a, b):
        report = await mine.model.report()
        assert report["observed"] == 10
        assert hopping_total(report) == 10
        assert (await mine.model.workflow_report("wf_a"))["events"] == {"PROBE_TICK": 7}
        assert (await mine.model.workflow_report("wf_b"))["events"] == {"PROBE_TICK": 3}
    status = {"component_id": "probe-comp", "status": "healthy"}
    await a.handle(
        1, range(3, 4), [event("COMPONENT_HEARTBEAT", phase="probe-comp", health_status=status)]
    )
    for mine in (a, b):
        health = await mine.model.health()
        assert [c["component_id"] for c in health["components"]] == ["probe-comp"]


async def test_one_breach_one_alert_whichever_replicas_evaluate(db: Database) -> None:
    group = f"t_{uuid.uuid4().hex[:10]}.monitor"
    rule = json.dumps([{"metric": "latency_p95", "threshold": 3, "cooldown": 0}])
    env = {"BATON_MONITOR_THRESHOLDS": rule, "BATON_MONITOR_EVALUATE_INTERVAL": "0.2"}
    a, b = replica(db, group, "a", **env), replica(db, group, "b", **env)
    await a.handle(0, range(0, 5), ticks("wf_a", 5, age=10))
    await b.handle(1, range(0, 5), ticks("wf_b", 5, age=10))
    taken: list[bool] = []
    for _ in range(5):
        taken += await asyncio.gather(a.model.evaluate_once(), b.model.evaluate_once())
        await asyncio.sleep(0.25)
    assert 5 <= taken.count(True) < len(taken)  # one turn at a time, at most one per gap
    async with db.connection() as conn:
        rows = await conn.fetch(
            "select convert_from(value, 'utf8') as line from baton_outbox where owner = $1",
            group,
        )
    alerts = [r["line"] for r in rows if r["line"].startswith("SYSTEM_THRESHOLD:")]
    assert len(alerts) == 1, alerts
    assert a.model.alerts_sent + b.model.alerts_sent == 1
    for mine in (a, b):
        assert (await mine.model.saturation())["saturated"] is True


async def test_an_evaluation_turn_is_held_by_one_replica_and_spaced(db: Database) -> None:
    group = f"t_{uuid.uuid4().hex[:10]}.monitor"
    a = EvaluationStore(db=db, owner=group, holder="a")
    b = EvaluationStore(db=db, owner=group, holder="b")
    async with a.turn(gap=0) as mine:
        assert mine is not None
        mine.state.saturation.reason = "a was here"
        async with b.turn(gap=0) as theirs:
            assert theirs is None  # locked
    async with b.turn(gap=60) as theirs:
        assert theirs is None  # evaluated a moment ago
    async with b.turn(gap=0) as theirs:
        assert theirs is not None
        assert theirs.state.saturation.reason == "a was here"
    assert await a.claim("consumer_lag", every=60) is True
    assert await b.claim("consumer_lag", every=60) is False


async def test_faust_figures_are_written_when_they_change(db: Database) -> None:
    group = f"t_{uuid.uuid4().hex[:10]}.monitor"
    a, b = FigureStore(db=db, owner=group, holder="a"), FigureStore(db=db, owner=group, holder="b")
    figures = {0: empty(), 1: empty()}
    figures[0]["tumbling"]["60000"] = {"TASK_COMPLETED": 2}
    assert await a.publish(figures) == 2
    assert await a.publish(figures) == 0
    moved = empty()
    moved["tumbling"]["60000"] = {"TASK_COMPLETED": 3}
    assert await b.publish({0: moved}) == 1  # partition 0 moved to b
    assert await b.load() == {0: moved, 1: figures[1]}


async def test_the_partitions_of_a_fetch_are_one_transaction_of_a_few_statements(
    live_stack: BatonSettings,
) -> None:
    """A batch of several partitions (a fetch, joined) costs the same statements however
    many events it holds, and counts each partition's records."""
    async with Database(dsn=live_stack.dsn, min_size=1, max_size=1) as one:
        await migrate_for(one, "monitor")
        group = f"t_{uuid.uuid4().hex[:10]}.monitor"
        mine = replica(one, group, "a")
        sent: list[str] = []

        def log(record: Any) -> None:
            sent.append(record.query)

        async with one.connection() as conn:  # the pool's only connection
            conn.add_query_logger(log)
        counts, offset = [], 0
        for round_, size in enumerate((2, 2, 20)):  # the first also learns the types
            sent.clear()
            with contextlib.ExitStack() as scopes:
                batch: list[Event] = []
                for partition in range(4):
                    items = ticks(f"wf_{round_}_{partition}", size)
                    for n, item in enumerate(items):
                        record = Record("unit.events", partition, offset + n, None, b"", [], 0)
                        scopes.enter_context(
                            mine.catch_up.consume_scope(record=record, event=item, group=group)
                        )
                    batch += items
                await mine.model.on_events(batch)
            offset += size
            counts.append(len(sent))
        async with one.connection() as conn:
            conn.remove_query_logger(log)
        report = await mine.model.report()
    assert report["observed"] == 4 * (2 + 2 + 20)
    assert counts[1:] == [6, 6]  # begin, claim, workflows read, written, panes, commit
