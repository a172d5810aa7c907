"""The status read model's writer on PostgreSQL: copies in memory are bounded and used only
while they are the row's version; two replicas (a partition moving between them) build on
each other's rows; a failed write leaves no copy behind; nothing is loaded at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from tests.integration.status_db import status_database
from tests.unit.status.helpers import T0, simulate

from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton_status.handlers import ReadModel
from baton_status.history import History
from baton_status.listing import ListQuery
from baton_status.maintenance import prune_all
from baton_status.memory import Memory
from baton_status.projection import apply
from baton_status.reader import Reader
from baton_status.store import StatusStore
from baton_status.views import WorkflowView

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TYPE = "replicas"
CHANNEL = "baton_status.test_read_model"


class Refused(Exception):
    """A write that fails (not an outage: the database layer would wrap that)."""


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with status_database(live_stack) as database:
        yield database


def replica(db: Database, *, views: int = 64) -> tuple[ReadModel, Reader, Memory]:
    """One replica's writer and reader, sharing its memory."""
    memory = Memory(views=views)
    store = StatusStore(channel=CHANNEL)
    return ReadModel(db=db, store=store, memory=memory), Reader(db=db, memory=memory), memory


def run(workflow_id: str, *, minutes: int = 0) -> list[Event]:
    """A finished one-phase workflow of type ``replicas``: its events as the hub sent them."""
    definition = {
        "workflow_id": workflow_id,
        "name": workflow_id,
        "workflow_type": TYPE,
        "phases": ["only"],
        "tasks": [{"task_id": "t", "phase": "only"}],
    }
    return simulate(definition, {"t": 30.0}, start=T0 + timedelta(minutes=minutes)).events


async def stored_history(db: Database) -> History:
    value: Any = await db.pool.fetchval(
        "select value from status_history where workflow_type = $1", TYPE
    )
    return History.model_validate(value)


async def stored_view(db: Database, workflow_id: str) -> WorkflowView:
    value: Any = await db.pool.fetchval(
        "select view from status_workflows where workflow_id = $1", workflow_id
    )
    return WorkflowView.model_validate(value)


def runs(history: History) -> list[str]:
    return sorted(s.workflow_id or "" for s in history.workflows.get(TYPE, []))


async def apply_all(model: ReadModel, events: list[Event]) -> None:
    for event in events:
        await model.on_event(event)


def reference(events: list[Event]) -> WorkflowView:
    view: WorkflowView | None = None
    for event in events:
        view = apply(view, event)
    assert view is not None
    return view


async def test_two_replicas_each_build_on_the_others_history(db: Database) -> None:
    a, _, memory_a = replica(db)
    b, _, _ = replica(db)
    await apply_all(a, run("rm_1"))
    await apply_all(b, run("rm_2"))  # b has never read the history: it reads a's
    await apply_all(a, run("rm_3"))  # a's copy is one version old: it reads b's write
    assert runs(await stored_history(db)) == ["rm_1", "rm_2", "rm_3"]
    held = memory_a.histories.get(TYPE)
    assert held is not None
    assert runs(held.value) == ["rm_1", "rm_2", "rm_3"]
    await apply_all(a, run("rm_4"))  # unchanged since a wrote it: from its copy
    assert runs(await stored_history(db)) == ["rm_1", "rm_2", "rm_3", "rm_4"]


async def test_a_partition_moving_between_replicas_loses_and_repeats_nothing(
    db: Database,
) -> None:
    """Replica a applies the start of a workflow, b (its partition's new owner) the middle,
    a again the end (its copy is stale by then): the row is what one projection makes."""
    a, _, _ = replica(db)
    b, _, _ = replica(db)
    events = run("rm_moved")
    third = len(events) // 3
    await apply_all(a, events[:third])
    await apply_all(b, events[third : 2 * third])
    await apply_all(a, events[third - 1 :])  # one repeated: the ledger skips it
    stored = await stored_view(db, "rm_moved")
    assert stored.model_dump(mode="json") == reference(events).model_dump(mode="json")


async def test_a_failed_write_leaves_no_copy_behind(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _, memory = replica(db)
    await apply_all(model, run("rm_ok"))
    failing = run("rm_failed")
    completed = [e for e in failing if e.event_type == "WORKFLOW_COMPLETED"]
    await apply_all(model, [e for e in failing if e.event_type != "WORKFLOW_COMPLETED"])

    async def broken(conn: Any, workflow_type: str, history: History) -> int:
        raise Refused("the row was refused")

    monkeypatch.setattr(model.store, "save_history", broken)
    with pytest.raises(Refused):
        await model.on_event(completed[0])  # its view and sample changed in memory, rolled back
    monkeypatch.undo()
    assert "rm_failed" not in memory.views
    assert TYPE not in memory.histories
    await apply_all(model, run("rm_next"))
    await model.on_event(completed[0])  # delivered again: applied now, once
    assert runs(await stored_history(db)) == ["rm_failed", "rm_next", "rm_ok"]
    held = memory.histories.get(TYPE)
    assert held is not None
    assert runs(held.value) == ["rm_failed", "rm_next", "rm_ok"]
    stored = await stored_view(db, "rm_failed")
    assert stored.model_dump(mode="json") == reference(failing).model_dump(mode="json")


async def test_the_ledger_tells_new_events_and_the_lock_reads_only_what_is_not_held(
    db: Database,
) -> None:
    model, reader, memory = replica(db)
    created = run("rm_ledger")[0]
    await model.on_event(created)
    fresh = Event.parse("WORKFLOW_PAUSED:rm_absent:global:{}")
    async with db.transaction() as conn:
        new = await model.store.record(conn, event_ids=[created.event_id, fresh.event_id])
        assert new == {fresh.event_id}  # the first was recorded by on_event
        held = memory.views.version("rm_ledger", full=True)
        assert held is not None
        found = await model.store.lock(conn, held={"rm_ledger": held, "rm_absent": None})
        assert found.versions == {"rm_ledger": held}  # no row of rm_absent
        assert found.views == {}  # the copy held is the row's version: not read
        found = await model.store.lock(conn, held={"rm_ledger": None})
        assert found.views["rm_ledger"].model_dump() == stored_view_of(memory, "rm_ledger")
    await model.on_event(fresh)  # recorded above, in a committed transaction: not applied
    assert await reader.detail("rm_absent", detailed=True, include_dependencies=True) is None


def stored_view_of(memory: Memory, workflow_id: str) -> dict[str, Any]:
    held = memory.views.get(workflow_id)
    assert held is not None
    return held.value.model_dump()


async def test_memory_stays_bounded_and_a_new_replica_loads_nothing(db: Database) -> None:
    """Issue 17: a replica held every workflow it had ever seen, and loaded them all at
    start. Now it keeps at most its cache's worth, and a new one starts empty yet answers
    for every workflow."""
    writer, _, memory = replica(db, views=5)
    names = [f"rm_many_{i:02d}" for i in range(30)]
    for minute, name in enumerate(names):
        await apply_all(writer, run(name, minutes=minute))
    assert len(memory.views) <= 5

    _, reader, fresh = replica(db, views=5)
    assert len(fresh.views) == 0
    page = await reader.page(ListQuery(limit=100))
    assert [w.workflow_id for w in page.workflows] == names[::-1]  # newest first
    assert page.total == len(names)
    assert {w.status for w in page.workflows} == {"COMPLETED"}
    assert len(fresh.views) == 0  # ended workflows are listed from their stored lines
    overview = await reader.overview()
    assert overview.counts == {"COMPLETED": len(names)}
    found = await reader.detail(names[0], detailed=True, include_dependencies=True)
    assert found is not None
    assert found.timeline[0].event_type == "WORKFLOW_CREATED"
    assert len(fresh.views) == 1


def interleaved(*workflows: list[Event]) -> list[Event]:
    """The events of several workflows as one partition would hold them: taking turns."""
    out: list[Event] = []
    longest = max(len(w) for w in workflows)
    for i in range(longest):
        out += [w[i] for w in workflows if i < len(w)]
    return out


async def test_a_batch_is_one_transaction_and_ends_as_its_events_one_by_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events that arrive together are applied in one transaction; views, history and the
    ledger end as if each had been applied alone, a repeated event within the batch too."""
    model, reader, memory = replica(db)
    workflows = {name: run(name) for name in ("rm_b1", "rm_b2", "rm_b3")}
    batch = interleaved(*workflows.values())
    batch.insert(5, batch[2])  # delivered twice within one batch: applied once
    opened = 0
    transaction = db.transaction

    def counted() -> Any:
        nonlocal opened
        opened += 1
        return transaction()

    monkeypatch.setattr(db, "transaction", counted)
    await model.on_events(batch)
    monkeypatch.undo()

    assert opened == 1
    for name, events in workflows.items():
        stored = await stored_view(db, name)
        assert stored.model_dump(mode="json") == reference(events).model_dump(mode="json")
        held = memory.views.get(name)
        assert held is not None  # kept once committed
    assert runs(await stored_history(db)) == ["rm_b1", "rm_b2", "rm_b3"]
    await model.on_events(batch)  # the whole batch again (a replay): nothing changes
    assert runs(await stored_history(db)) == ["rm_b1", "rm_b2", "rm_b3"]
    page = await reader.page(ListQuery(limit=10))
    assert {w.workflow_id: w.status for w in page.workflows} == dict.fromkeys(
        workflows, "COMPLETED"
    )


async def test_a_failed_batch_commits_nothing_and_its_events_then_apply_alone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _, memory = replica(db)
    workflows = {name: run(name) for name in ("rm_f1", "rm_f2")}
    batch = interleaved(*workflows.values())

    async def broken(conn: Any, workflow_type: str, history: History) -> int:
        raise Refused("the row was refused")

    monkeypatch.setattr(model.store, "save_history", broken)
    with pytest.raises(Refused):
        await model.on_events(batch)  # the history is written at the batch's end
    monkeypatch.undo()
    count = "select count(*) from status_workflows where workflow_id like 'rm_f%'"
    assert await db.pool.fetchval(count) == 0  # not even the views written before
    assert not any(name in memory.views for name in workflows)
    for event in batch:  # as the bus hands a failed batch's events over again
        await model.on_event(event)
    for name, events in workflows.items():
        stored = await stored_view(db, name)
        assert stored.model_dump(mode="json") == reference(events).model_dump(mode="json")
    assert runs(await stored_history(db)) == ["rm_f1", "rm_f2"]


async def test_batches_ending_workflows_at_once_never_deadlock_and_count_each_once(
    db: Database,
) -> None:
    """Replicas' batches end workflows in different orders beside a retention pass: the
    ended counts' shards are locked in one order, so none waits in a cycle."""
    model, reader, _ = replica(db)
    other, _, _ = replica(db)
    batches = []
    for b in range(4):
        names = [f"rm_d{b}_{n:02d}" for n in range(12)]
        ordered = names if b % 2 else names[::-1]
        batches.append(interleaved(*(run(name) for name in ordered)))
    writers = [(model if b % 2 else other).on_events(batch) for b, batch in enumerate(batches)]
    await asyncio.gather(*writers, prune_all(db=db, store=model.store, older_than=T0, batch=5))
    assert (await reader.overview()).counts == {"COMPLETED": 48}
    counted = await db.pool.fetchval("select sum(n) from status_ended")
    assert counted == 48


async def test_answers_never_show_a_change_the_writer_has_not_committed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list line or a detail rendered while the writer takes the workflow's copy to
    change it shows the committed state, not the change in progress."""
    model, reader, memory = replica(db)
    events = run("rm_race")
    done = next(i for i, e in enumerate(events) if e.event_type == "TASK_COMPLETED")
    await model.on_events(events[:done])  # committed: running, nothing done yet
    version = await db.pool.fetchval(
        "select version from status_workflows where workflow_id = 'rm_race'"
    )
    read_histories = reader.queries.histories
    changed: list[str] = []

    async def writer_meanwhile(conn: Any, known: dict[str, int | None]) -> Any:
        # As the writer does, in the middle of this answer: take the copy, change it.
        taken = memory.views.take("rm_race", version=version)
        if taken is not None:
            for event in events[done:]:
                apply(taken, event)  # never committed
            changed.append(taken.status)
        return await read_histories(conn, known)

    monkeypatch.setattr(reader.queries, "histories", writer_meanwhile)
    for answer in ("page", "detail"):
        memory.views.put("rm_race", version, await stored_view(db, "rm_race"))
        if answer == "page":
            line = (await reader.page(ListQuery(limit=10))).workflows[0]
            status, progress = line.status, line.progress
        else:
            found = await reader.detail("rm_race", detailed=False, include_dependencies=False)
            assert found is not None
            status, progress = found.status, found.progress
        assert changed == ["COMPLETED"]  # the writer did change the copy meanwhile...
        assert (status, progress) == ("STARTED", 0.0)  # ...and the answer is the committed
        changed.clear()
