"""The status writer's statements per batch of events: as many for a few events as for
sixty over sixteen workflows, whether the views are held in memory or read; and a batch
that overlaps another replica's (a partition handed over) waits for it, then builds on it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from tests.integration.status_db import status_database
from tests.integration.test_status_read_model import (
    CHANNEL,
    interleaved,
    reference,
    replica,
    run,
    stored_view,
)

from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton_status.handlers import ReadModel
from baton_status.memory import Memory
from baton_status.store import StatusStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with status_database(live_stack) as database:
        yield database


@contextmanager
def statements(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every statement sent on ``db``'s connections meanwhile (BEGIN and COMMIT too), by
    its first words: each is a round trip to PostgreSQL once prepared on the connection."""
    sent: Counter[str] = Counter()
    connection = db.connection

    @asynccontextmanager
    async def counted() -> AsyncIterator[Any]:
        def heard(query: Any) -> None:
            sent[" ".join(query.query.split()[:3]).rstrip(";,").lower()] += 1

        async with connection() as conn:
            conn.add_query_logger(heard)
            try:
                yield conn
            finally:
                conn.remove_query_logger(heard)

    with monkeypatch.context() as patch:
        patch.setattr(db, "connection", counted)
        yield sent


async def applied(
    db: Database, monkeypatch: pytest.MonkeyPatch, memory: Memory | None, events: list[Event]
) -> Counter[str]:
    """The statements one batch of ``events`` takes (a replica with ``memory``, or a new
    one holding nothing)."""
    held = Memory(views=64) if memory is None else memory
    model = ReadModel(db=db, store=StatusStore(channel=CHANNEL), memory=held)
    with statements(db, monkeypatch) as sent:
        await model.on_events(events)
        await asyncio.sleep(0.05)  # the query loggers are called soon after each statement
    return sent


async def test_a_batch_takes_as_many_statements_for_four_events_as_for_sixty(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer once sent two statements per event (ledger and lock, then the view). Now:
    the ledger, the locks (with the views not held), the views, the ended counts, the
    history of the type, between BEGIN and COMMIT, however many events and workflows."""
    _, _, memory = replica(db)
    warm, _, _ = replica(db)
    await warm.on_events(run("rt_warm"))  # the type's history exists; statements prepared
    seen: dict[str, Counter[str]] = {}
    small = run("rt_one")
    many = [run(f"rt_many_{n:02d}") for n in range(16)]
    split = len(small) // 2
    # The start of each: views made; the end: views from memory, or read by a new replica.
    seen["one, start"] = await applied(db, monkeypatch, memory, small[:split])
    seen["one, end"] = await applied(db, monkeypatch, memory, small[split:])
    seen["many, start"] = await applied(
        db, monkeypatch, memory, interleaved(*(w[:split] for w in many))
    )
    seen["many, end, read"] = await applied(
        db, monkeypatch, None, interleaved(*(w[split:] for w in many))
    )
    batch = sum(len(w) for w in many) - len(many) * split
    assert batch >= 60
    starting = Counter(
        [
            "begin",
            "insert into baton_processed",
            "select w.workflow_id, w.version",
            "with saved as",
            "commit",
        ]
    )
    ending = starting + Counter(
        ["insert into status_ended", "select version, case", "update status_history set"]
    )
    assert seen == {
        "one, start": starting,
        "one, end": ending,  # ended: counted, and the history learned
        "many, start": starting,
        "many, end, read": ending,
    }
    for name, events in [("rt_one", small), *((f"rt_many_{n:02d}", w) for n, w in enumerate(many))]:
        stored = await stored_view(db, name)
        assert stored.model_dump(mode="json") == reference(events).model_dump(mode="json")


async def test_a_replay_takes_the_ledger_statement_alone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _, memory = replica(db)
    events = interleaved(*(run(f"rt_replay_{n}") for n in range(5)))
    await model.on_events(events)
    again = await applied(db, monkeypatch, memory, events)
    assert again == Counter(["begin", "insert into baton_processed", "commit"])


async def test_a_batch_overlapping_another_replicas_waits_and_builds_on_its_rows(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica a applies the start of two workflows and, before it commits, replica b (the
    partition's new owner) gets the same events and the next ones: b's ledger waits for a's
    entries, and b then locks and reads the rows a made, applying only its new events."""
    a, _, _ = replica(db)
    b, _, _ = replica(db)
    workflows = {name: run(name) for name in ("rt_handed_1", "rt_handed_2")}
    events = interleaved(*workflows.values())
    first, later = events[:6], events[:10]
    reached, release = asyncio.Event(), asyncio.Event()
    count_ended = a.store.count_ended

    async def held_open(conn: Any, changes: Any) -> None:
        reached.set()
        await release.wait()
        await count_ended(conn, changes)

    monkeypatch.setattr(a.store, "count_ended", held_open)
    a_batch = asyncio.create_task(a.on_events(first))
    await reached.wait()  # a's rows are written, not committed
    b_batch = asyncio.create_task(b.on_events(later))
    await asyncio.sleep(0.5)
    assert not b_batch.done()  # waiting for a's ledger entries
    release.set()
    await asyncio.gather(a_batch, b_batch)
    for name in workflows:
        expected = reference([e for e in later if e.workflow_id == name])
        stored = await stored_view(db, name)
        assert stored.model_dump(mode="json") == expected.model_dump(mode="json")


async def test_copies_pushed_out_while_their_rows_are_locked_are_read_in_one_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers share the writer's memory: a copy whose version the lock found current may
    be pushed out before the writer takes it; those views are read together, once."""
    model, _, memory = replica(db)
    workflows = {f"rt_pushed_{n}": run(f"rt_pushed_{n}") for n in range(4)}
    events = interleaved(*workflows.values())
    half = len(events) // 2
    await model.on_events(events[:half])
    lock = model.store.lock

    async def meanwhile(conn: Any, *, held: Any) -> Any:
        found = await lock(conn, held=held)
        for name in workflows:
            memory.views.discard(name)  # as a reader's copies of other workflows would
        return found

    monkeypatch.setattr(model.store, "lock", meanwhile)
    with statements(db, monkeypatch) as sent:
        await model.on_events(events[half:])
        await asyncio.sleep(0.05)
    assert sent["select workflow_id, view"] == 1
    for name, whole in workflows.items():
        stored = await stored_view(db, name)
        assert stored.model_dump(mode="json") == reference(whole).model_dump(mode="json")


async def test_a_row_changed_while_its_lock_is_awaited_is_read_as_committed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica b holds a copy of a workflow's view; replica a changes the row and, before
    a commits, b gets the next events: b waits for the row, then finds its copy stale and
    builds on a's view."""
    a, _, _ = replica(db)
    b, _, memory_b = replica(db)
    events = run("rt_changed")
    third = len(events) // 3
    await b.on_events(events[:third])
    reached, release = asyncio.Event(), asyncio.Event()
    save_views = a.store.save_views

    async def held_open(conn: Any, views: Any) -> Any:
        saved = await save_views(conn, views)
        reached.set()
        await release.wait()
        return saved

    monkeypatch.setattr(a.store, "save_views", held_open)
    a_batch = asyncio.create_task(a.on_events(events[third : 2 * third]))
    await reached.wait()
    stale = memory_b.views.version("rt_changed", full=True)
    b_batch = asyncio.create_task(b.on_events(events[2 * third :]))
    await asyncio.sleep(0.5)
    assert not b_batch.done()  # waiting for the row a holds
    release.set()
    await asyncio.gather(a_batch, b_batch)
    stored = await stored_view(db, "rt_changed")
    assert stored.model_dump(mode="json") == reference(events).model_dump(mode="json")
    held = memory_b.views.get("rt_changed")
    assert held is not None
    assert held.version != stale
