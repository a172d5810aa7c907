"""The status read model queried from PostgreSQL: pages with cursors, filters and sorts,
counts and the work in flight, retention, rows written before the summary columns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.status_db import empty, status_database
from tests.unit.status.helpers import T0, Sim, event, simulate

from baton.config import BatonSettings
from baton.db import Database
from baton.errors import BadInputError
from baton.protocol.event import Event
from baton_status.handlers import ReadModel
from baton_status.listing import ListQuery
from baton_status.maintenance import prune_all, summarise_all
from baton_status.memory import Memory
from baton_status.reader import Reader
from baton_status.store import StatusStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PRIORITIES = ["critical", "high", "medium", "low"]


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with status_database(live_stack) as database:
        yield database


def definition(workflow_id: str, *, priority: str, kind: str) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "name": workflow_id,
        "workflow_type": kind,
        "priority": priority,
        "phases": ["one", "two"],
        "tasks": [{"task_id": "a", "phase": "one"}, {"task_id": "b", "phase": "two"}],
    }


def finished(workflow_id: str, *, minute: int, priority: str, kind: str) -> list[Event]:
    start = T0 + timedelta(minutes=minute)
    return simulate(
        definition(workflow_id, priority=priority, kind=kind), {"a": 5.0, "b": 5.0}, start=start
    ).events


def running(workflow_id: str, *, minute: int, priority: str, kind: str) -> list[Event]:
    """Created and started: its first task is assigned, nothing done yet."""
    sim = Sim(
        definition(workflow_id, priority=priority, kind=kind),
        start=T0 + timedelta(minutes=minute),
    )
    sim.start("agent_1")
    return sim.events


async def fill(db: Database) -> tuple[Reader, list[str]]:
    """24 workflows, one a minute: every 4th still running, priorities and two types in
    turn. Returns a fresh replica's reader and the ids, oldest first."""
    model = ReadModel(db=db, store=StatusStore(channel="baton_status.q"), memory=Memory(views=8))
    names: list[str] = []
    for i in range(24):
        name = f"q_{i:02d}"
        kind = "alpha" if i % 2 else "beta"
        make = running if i % 4 == 3 else finished
        for happened in make(name, minute=i, priority=PRIORITIES[i % 4], kind=kind):
            await model.on_event(happened)
        names.append(name)
    return Reader(db=db, memory=Memory(views=8)), names


async def walk(reader: Reader, query: ListQuery) -> tuple[list[str], set[int]]:
    """Every page of ``query``: the ids in order, and the totals the pages gave."""
    ids: list[str] = []
    totals: set[int] = set()
    cursor: str | None = None
    for _ in range(100):
        page = await reader.page(query.model_copy(update={"cursor": cursor}))
        ids += [w.workflow_id for w in page.workflows]
        totals.add(page.total)
        assert len(page.workflows) <= query.limit
        cursor = page.next_cursor
        if cursor is None:
            return ids, totals
        assert len(page.workflows) == query.limit
    raise AssertionError("the pages never ended")


async def test_cursor_pages_walk_every_workflow_once_in_order(db: Database) -> None:
    reader, names = await fill(db)
    ids, totals = await walk(reader, ListQuery(limit=5))
    assert ids == names[::-1]  # newest first, each once
    assert totals == {24}
    ids, _ = await walk(reader, ListQuery(limit=7, order="asc"))
    assert ids == names
    ids, _ = await walk(reader, ListQuery(limit=4, sort="priority"))
    by_urgency = sorted(names, key=lambda n: (int(n[2:]) % 4, n))  # then oldest first
    assert ids == by_urgency
    ids, _ = await walk(reader, ListQuery(limit=6, sort="updated_at"))
    assert sorted(ids) == names
    assert len(ids) == len(set(ids))


async def test_filters_narrow_the_pages_and_the_total(db: Database) -> None:
    reader, names = await fill(db)
    query = ListQuery(limit=3, status="started")  # any case
    ids, totals = await walk(reader, query)
    open_ones = [n for i, n in enumerate(names) if i % 4 == 3]
    assert ids == open_ones[::-1]
    assert totals == {len(open_ones)}
    ids, totals = await walk(reader, ListQuery(limit=2, priority="high", workflow_type="alpha"))
    assert ids == [n for i, n in enumerate(names) if i % 4 == 1][::-1]  # high ones are odd
    assert totals == {6}
    ids, _ = await walk(reader, ListQuery(workflow_ids=("q_03", "q_04", "nope")))
    assert ids == ["q_04", "q_03"]
    page = await reader.page(ListQuery(status="COMPLETED", limit=100))
    assert {w.status for w in page.workflows} == {"COMPLETED"}
    assert {w.estimate.method for w in page.workflows} == {"completed"}


async def test_a_cursor_is_for_its_own_sort_and_order(db: Database) -> None:
    reader, _ = await fill(db)
    page = await reader.page(ListQuery(limit=5))
    assert page.next_cursor is not None
    for wrong in (
        ListQuery(cursor=page.next_cursor, order="asc"),
        ListQuery(cursor=page.next_cursor, sort="priority"),
        ListQuery(cursor="not-a-cursor"),
        ListQuery(cursor=page.next_cursor[:-4]),
    ):
        with pytest.raises(BadInputError) as caught:
            await reader.page(wrong)
        assert caught.value.field == "cursor"


async def test_open_workflows_are_rendered_now_and_the_overview_counts_all(
    db: Database,
) -> None:
    reader, names = await fill(db)
    overview = await reader.overview()
    assert overview.counts == {"COMPLETED": 18, "STARTED": 6}
    assert sorted(w.workflow_id for w in overview.active) == sorted(
        n for i, n in enumerate(names) if i % 4 == 3
    )
    line = (await reader.page(ListQuery(workflow_ids=("q_03",)))).workflows[0]
    assert line.status == "STARTED"
    assert line.estimate.remaining_s is not None
    assert line.estimate.remaining_s > 0


async def test_the_counts_follow_an_end_a_restore_and_a_truncate(db: Database) -> None:
    reader, _ = await fill(db)
    model = ReadModel(db=db, store=StatusStore(channel="baton_status.q"), memory=Memory(views=8))
    failed = event("WORKFLOW_FAILED", "q_03", {"failure_reason": "broken"}, at=T0)
    await model.on_event(failed)
    assert (await reader.overview()).counts == {"COMPLETED": 18, "FAILED": 1, "STARTED": 5}
    assert (await reader.page(ListQuery(status="FAILED"))).total == 1
    await model.on_event(event("WORKFLOW_RESTORED", "q_03", {}, at=T0))
    assert (await reader.overview()).counts == {"COMPLETED": 18, "STARTED": 6}
    assert (await reader.page(ListQuery(status="FAILED"))).total == 0
    assert (await reader.page(ListQuery())).total == 24
    await empty(db)
    assert (await reader.overview()).counts == {}
    assert (await reader.page(ListQuery())).total == 0


async def test_pruning_deletes_only_workflows_ended_before_the_window(db: Database) -> None:
    reader, names = await fill(db)
    store = StatusStore(channel="baton_status.q")
    # The simulated runs ended in January 2025: a window ending before them prunes none.
    kept = await prune_all(db=db, store=store, older_than=T0, batch=4)
    assert kept == {"status_workflows": 0, "status_history": 0}
    await db.pool.execute(
        "update status_workflows set finished_at = now() where workflow_id = any($1::text[])",
        ["q_00", "q_01"],
    )
    pruned = await prune_all(
        db=db, store=store, older_than=datetime.now(UTC) - timedelta(days=1), batch=4
    )
    assert pruned["status_workflows"] == 16  # 18 ended, 2 of them just now
    left = await walk(reader, ListQuery(limit=50))
    assert sorted(left[0]) == sorted(["q_00", "q_01", *(n for n in names if int(n[2:]) % 4 == 3)])
    assert await reader.detail("q_02", detailed=False, include_dependencies=False) is None
    assert (await reader.overview()).counts == {"COMPLETED": 2, "STARTED": 6}


async def test_rows_written_before_the_summary_columns_are_listed_then_summarised(
    db: Database,
) -> None:
    reader, names = await fill(db)
    await db.pool.execute("update status_workflows set summary = null, progress = 0")
    page = await reader.page(ListQuery(limit=100))
    assert [w.workflow_id for w in page.workflows] == names[::-1]  # rendered from views
    assert {w.progress for w in page.workflows if w.status == "COMPLETED"} == {100.0}
    store = StatusStore(channel="baton_status.q")
    assert await summarise_all(db=db, store=store, batch=5) == 24
    assert await summarise_all(db=db, store=store, batch=5) == 0
    progress = await db.pool.fetch(
        "select progress from status_workflows where status = 'COMPLETED'"
    )
    assert {r["progress"] for r in progress} == {100.0}
    again = await reader.page(ListQuery(status="COMPLETED", limit=100))
    assert again.workflows == [w for w in page.workflows if w.status == "COMPLETED"]
