"""Each deployment (topic prefix) has its own PostgreSQL schema (issue 17.2), on real
PostgreSQL: rows, migrations and the split roles' grants are per deployment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from tests.conftest import deployment_database, unique_prefix
from tests.security.databases import fresh_database, with_user

from baton.cli.db import all_migrations
from baton.config import BatonSettings
from baton.db import Database, load_migrations, pending
from baton.db.owner import migrate_as_owner
from baton.db.roles import APP_ROLE, OWNER_ROLE, ensure_roles
from baton.runtime import RUNTIME_MIGRATIONS, first_time
from baton_hub.state import WorkflowState
from baton_hub.store import WorkflowStore
from baton_hub.workflow import create

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SERVICES = ("hub", "resource", "status", "recovery")


def _workflow(name: str) -> WorkflowState:
    state, _ = create(
        {"workflow_id": name, "name": name, "priority": "high", "phases": ["p1"]},
        now=datetime.now(UTC),
    )
    return state


async def test_two_prefixes_on_one_database_share_no_rows(live_stack: BatonSettings) -> None:
    store = WorkflowStore()
    async with (
        deployment_database(live_stack, *SERVICES) as (a, db_a),
        deployment_database(live_stack, *SERVICES) as (b, db_b),
    ):
        assert a.dsn == b.dsn
        assert {a.db_schema, b.db_schema} == {a.topic_prefix, b.topic_prefix}
        async with db_a.transaction() as conn:
            assert await store.insert(conn, _workflow("wf_shared_name"))
            assert await first_time(conn, consumer="hub", event_id="evt_1")
            await conn.execute(
                "insert into baton_outbox (owner, topic, value) values ('x', 't', '\\x00')"
            )
        async with db_b.transaction() as conn:
            # B sees nothing of A's: not its workflow, not its ledger, not its outbox...
            assert await store.get(conn, "wf_shared_name") is None
            assert await first_time(conn, consumer="hub", event_id="evt_1")
            assert await conn.fetchval("select count(*) from baton_outbox") == 0
            # ...and may use the same ids for its own.
            assert await store.insert(conn, _workflow("wf_shared_name"))
        async with db_a.transaction() as conn:
            assert not await first_time(conn, consumer="hub", event_id="evt_1")
            assert await conn.fetchval("select count(*) from hub_workflows") == 1
        for db, settings in ((db_a, a), (db_b, b)):
            async with db.connection() as conn:
                tables = await conn.fetch(
                    "select table_schema, table_name from information_schema.tables "
                    "where table_name in ('hub_workflows', 'baton_processed', "
                    "'baton_schema_migrations') and table_schema = current_schema()"
                )
            assert {t["table_schema"] for t in tables} == {settings.db_schema}
            assert len(tables) == 3


async def test_the_migration_ledger_is_per_deployment(live_stack: BatonSettings) -> None:
    runtime = load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS)
    async with deployment_database(live_stack) as (_, migrated):
        assert await pending(migrated, migrations=runtime) == []
        other = live_stack.model_copy(update={"topic_prefix": unique_prefix(), "pg_schema": None})
        async with Database(dsn=other.dsn, schema=other.db_schema) as fresh:
            # Migrated in one deployment's schema, still all pending in another's (whose
            # schema does not even exist yet): a service there refuses to start.
            assert await pending(fresh, migrations=runtime) == runtime


async def test_the_app_role_works_in_a_deployments_own_schema() -> None:
    """``baton db migrate`` as the owner into a new deployment's schema: the schema is
    created owned by the owner, and the DML-only app role may use its rows, not its DDL."""
    async with fresh_database(stem="baton_schema_roles") as (name, admin):
        conn = await asyncpg.connect(admin)
        try:
            await ensure_roles(conn, database=name)  # what `baton stack up` does: public only
        finally:
            await conn.close()
        schemas = [f"dep_{uuid.uuid4().hex[:8]}" for _ in range(2)]
        for schema in schemas:
            first = await migrate_as_owner(dsn=admin, groups=all_migrations(), schema=schema)
            assert first.role == OWNER_ROLE
            assert first.granted
            assert first.applied
            again = await migrate_as_owner(dsn=admin, groups=all_migrations(), schema=schema)
            assert (again.applied, again.moved) == ([], [])
        app_dsn = with_user(admin, user=APP_ROLE, database=name)
        store = WorkflowStore()
        for schema in schemas:
            async with Database(dsn=app_dsn, schema=schema) as app:
                for group in all_migrations():  # what a service checks at start
                    assert await pending(app, migrations=group) == []
                async with app.transaction() as conn:
                    assert await conn.fetchval("select current_user") == APP_ROLE
                    assert await store.insert(conn, _workflow("wf_1"))
                    assert await first_time(conn, consumer="hub", event_id="e1")
                    await conn.execute("delete from baton_processed where event_id = 'e1'")
                refused = 0
                for ddl in (
                    "create table app_made (id int)",
                    "drop table hub_workflows",
                    "alter table hub_workflows add column extra int",
                    "truncate baton_processed",
                    "create index app_index on hub_workflows (priority)",
                ):
                    try:
                        async with app.transaction() as conn:
                            await conn.execute(ddl)
                    except asyncpg.InsufficientPrivilegeError:
                        refused += 1
                assert refused == 5
        admin_conn = await asyncpg.connect(admin)
        try:
            owners = await admin_conn.fetch(
                "select n.nspname, pg_get_userbyid(n.nspowner) as schema_owner, "
                "array_agg(distinct pg_get_userbyid(c.relowner)) as table_owners "
                "from pg_namespace n join pg_class c on c.relnamespace = n.oid "
                "where n.nspname = any($1::text[]) group by 1, 2",
                schemas,
            )
            in_public = await admin_conn.fetchval(
                "select count(*) from pg_tables where schemaname = 'public'"
            )
        finally:
            await admin_conn.close()
        assert {r["nspname"] for r in owners} == set(schemas)
        for row in owners:
            assert row["schema_owner"] == OWNER_ROLE
            assert row["table_owners"] == [OWNER_ROLE]
        assert in_public == 0  # nothing of either deployment landed in public
