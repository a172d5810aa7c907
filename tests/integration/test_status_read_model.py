"""The status read model on PostgreSQL: the system view and the history stay in memory
between writes, and are read again when another replica wrote them or a write failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.conftest import migrate_for
from tests.unit.status.helpers import simulate

from baton.config import BatonSettings
from baton.db import Database
from baton.protocol.event import Event
from baton_status.handlers import ReadModel
from baton_status.history import History
from baton_status.stream import Broadcaster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TYPE = "replicas"


class Refused(Exception):
    """A write that fails (not an outage: the database layer would wrap that)."""


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with Database(dsn=live_stack.dsn, max_size=4) as database:
        await migrate_for(database, "status")
        await database.pool.execute("delete from status_singletons")
        yield database
        await database.pool.execute("delete from status_singletons")


def run(workflow_id: str) -> list[Event]:
    """A finished one-phase workflow of type ``replicas``: its events as the hub sent them."""
    definition = {
        "workflow_id": workflow_id,
        "name": workflow_id,
        "workflow_type": TYPE,
        "phases": ["only"],
        "tasks": [{"task_id": "t", "phase": "only"}],
    }
    return simulate(definition, {"t": 30.0}).events


async def stored(db: Database) -> History:
    query = "select value from status_singletons where name = 'history'"
    value: Any = await db.pool.fetchval(query)
    return History.model_validate(value)


def runs(history: History) -> list[str]:
    return sorted(s.workflow_id or "" for s in history.workflows.get(TYPE, []))


async def apply_all(model: ReadModel, events: list[Event]) -> None:
    for event in events:
        await model.on_event(event)


async def test_two_replicas_each_see_the_others_samples(db: Database) -> None:
    a = ReadModel(db=db, stream=Broadcaster())
    b = ReadModel(db=db, stream=Broadcaster())
    await apply_all(a, run("rm_1"))
    await apply_all(b, run("rm_2"))  # b has never read the history: it reads a's
    await apply_all(a, run("rm_3"))  # a's memory is one version old: it reads b's write
    assert runs(await stored(db)) == ["rm_1", "rm_2", "rm_3"]
    assert runs(a.history) == ["rm_1", "rm_2", "rm_3"]
    await apply_all(a, run("rm_4"))  # unchanged since a wrote it: from memory
    assert runs(await stored(db)) == ["rm_1", "rm_2", "rm_3", "rm_4"]


async def test_a_failed_write_is_not_kept_in_memory(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ReadModel(db=db, stream=Broadcaster())
    await apply_all(model, run("rm_ok"))
    failing = run("rm_failed")
    completed = [e for e in failing if e.event_type == "WORKFLOW_COMPLETED"]
    await apply_all(model, [e for e in failing if e.event_type != "WORKFLOW_COMPLETED"])
    real = model.store.save_singleton

    async def broken(conn: Any, name: str, value: Any) -> int:
        if name == "history":
            raise Refused("the row was refused")
        return await real(conn, name, value)

    monkeypatch.setattr(model.store, "save_singleton", broken)
    with pytest.raises(Refused):
        await model.on_event(completed[0])  # its sample was added in memory, then rolled back
    monkeypatch.undo()
    await apply_all(model, run("rm_next"))
    assert runs(await stored(db)) == ["rm_next", "rm_ok"]
    assert runs(model.history) == ["rm_next", "rm_ok"]


async def test_one_statement_records_the_event_and_reads_the_view(db: Database) -> None:
    model = ReadModel(db=db, stream=Broadcaster())
    created = run("rm_ledger")[0]
    await model.on_event(created)
    async with db.transaction() as conn:
        first, view = await model.store.first_and_view(
            conn, event_id=created.event_id, workflow_id="rm_ledger"
        )
    assert not first  # recorded by on_event
    assert view is not None
    assert view.workflow_id == "rm_ledger"
    fresh = Event.parse("WORKFLOW_PAUSED:rm_absent:global:{}")
    async with db.transaction() as conn:
        first, view = await model.store.first_and_view(
            conn, event_id=fresh.event_id, workflow_id="rm_absent"
        )
    assert first
    assert view is None
    await model.on_event(fresh)  # recorded above, in a committed transaction: not applied
    assert "rm_absent" not in model.views
