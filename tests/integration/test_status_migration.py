"""Migration 0003 on a read model written before it: rows keep their views and get summary
columns (their list lines later, from the maintenance loop), the one history singleton
becomes a row per workflow type, ended workflows are counted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.unit.status.helpers import FEATURE_DEV, MIXED, simulate

from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.services import load_service
from baton_status.history import History, observe
from baton_status.listing import ListQuery
from baton_status.maintenance import summarise_all
from baton_status.memory import Memory
from baton_status.projection import apply
from baton_status.reader import Reader
from baton_status.store import StatusStore
from baton_status.views import WorkflowView

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def schema_db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    """A database handle whose tables live in a schema of their own (dropped after)."""
    schema = f"t_mig_{uuid.uuid4().hex[:8]}"
    async with Database(dsn=live_stack.dsn) as admin:
        await admin.pool.execute(f"create schema {schema}")
        try:
            async with Database(dsn=live_stack.dsn, schema=schema) as db:
                yield db
        finally:
            await admin.pool.execute(f"drop schema {schema} cascade")


def ran(definition: dict[str, Any], durations: dict[str, float]) -> WorkflowView:
    view: WorkflowView | None = None
    for event in simulate(definition, durations).events:
        view = apply(view, event)
    assert view is not None
    return view


async def test_rows_written_before_0003_are_kept_counted_and_summarised(
    schema_db: Database,
) -> None:
    directory = load_service("status").migrations
    assert directory is not None
    migrations = load_migrations(owner="status", directory=directory)
    await migrate(schema_db, migrations=[m for m in migrations if m.version < 3])
    done = ran(
        FEATURE_DEV,
        dict.fromkeys(
            ["research", "plan", "backend", "frontend", "api", "unit_tests", "integration_tests"],
            60.0,
        ),
    )
    mixed = ran(MIXED, {"parser_0": 5.0, "parser_1": 6.0, "parser_2": 7.0, "schema_gen": 9.0})
    history = History()
    for view in (done, mixed):
        await schema_db.pool.execute(  # as the service wrote them before 0003
            "insert into status_workflows (workflow_id, status, priority, workflow_type, view) "
            "values ($1, $2, $3, $4, $5)",
            view.workflow_id,
            view.status,
            view.priority,
            view.workflow_type,
            view.model_dump(mode="json"),
        )
    for event in simulate(FEATURE_DEV, dict.fromkeys(done.tasks, 60.0)).events:
        observe(history, view=done, event=event)
    assert history.phases
    await schema_db.pool.execute(
        "insert into status_singletons (name, value) values ('history', $1)",
        history.model_dump(mode="json"),
    )

    await migrate(schema_db, migrations=migrations)

    rows = await schema_db.pool.fetch(
        "select workflow_id, phases_total, phases_done, created_at, finished_at, summary "
        "from status_workflows order by workflow_id"
    )
    assert [r["workflow_id"] for r in rows] == sorted([done.workflow_id, mixed.workflow_id])
    by_id = {r["workflow_id"]: r for r in rows}
    assert by_id[done.workflow_id]["phases_total"] == by_id[done.workflow_id]["phases_done"] == 4
    assert by_id[done.workflow_id]["created_at"] == done.created_at
    assert by_id[done.workflow_id]["finished_at"] == done.finished_at
    assert all(r["summary"] is None for r in rows)
    kinds = await schema_db.pool.fetch("select workflow_type, value from status_history")
    assert {r["workflow_type"] for r in kinds} == set(history.phases) | set(history.workflows)
    for row in kinds:
        moved = History.model_validate(row["value"])
        kind = row["workflow_type"]
        assert moved.phases.get(kind, {}) == history.phases.get(kind, {})
        assert moved.workflows.get(kind, []) == history.workflows.get(kind, [])
    assert await schema_db.pool.fetchval("select count(*) from status_singletons") == 0

    reader = Reader(db=schema_db, memory=Memory(views=4))
    assert (await reader.overview()).counts == {"COMPLETED": 2}
    before = (await reader.page(ListQuery())).workflows  # rendered from the views
    store = StatusStore(channel="baton_status.migration_test")
    assert await summarise_all(db=schema_db, store=store, batch=1) == 2
    assert (await reader.page(ListQuery())).workflows == before  # now from the stored lines
    assert (await reader.overview()).counts == {"COMPLETED": 2}
