"""``baton db migrate`` as the owner role; a service's store then works as ``baton_app``."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import asyncpg
import pytest

from baton.cli.db import all_migrations
from baton.db import Database, load_migrations, migrate, pending
from baton.db.owner import migrate_as_owner
from baton.db.roles import APP_ROLE, OWNER_ROLE, ensure_roles
from baton.runtime import RUNTIME_MIGRATIONS
from baton_resource.allocator import Allocator
from baton_resource.config import ResourceConfig
from baton_resource.rows import lock_head, read_head
from baton_resource.store import Needs, ResourceStore
from tests.security.databases import fresh_database, migrated_database
from tests.unit.resource.support import T0, make

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BATON = [sys.executable, "-m", "baton"]


async def _cli_migrate(dsn: str) -> dict[str, object]:
    env = {**os.environ, "BATON_PG_DSN": dsn}
    proc = await asyncio.create_subprocess_exec(
        *BATON,
        "db",
        "migrate",
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out)
    return result


async def _owners(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select c.relname, pg_get_userbyid(c.relowner) as owner from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p', 'S')"
        )
    finally:
        await conn.close()
    return {r["relname"]: r["owner"] for r in rows}


async def test_migrate_moves_old_tables_to_the_owner_once_and_creates_the_rest_as_it() -> None:
    async with fresh_database(stem="baton_sec_own") as (name, admin):
        # A database migrated the old way: the runtime's tables belong to the connecting user.
        async with Database(dsn=admin) as db:
            runtime = load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS)
            await migrate(db, migrations=runtime)
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute("create table legacy_rows (id bigserial primary key, note text)")
            await ensure_roles(conn, database=name)
        finally:
            await conn.close()
        before = await _owners(admin)
        assert before
        assert OWNER_ROLE not in before.values()

        first = await _cli_migrate(admin)
        assert first["role"] == OWNER_ROLE
        assert first["granted"] is True
        assert first["applied"]  # every service's migrations were still pending
        assert "public.legacy_rows" in first["moved"]  # type: ignore[operator]
        assert "public.baton_schema_migrations" in first["moved"]  # type: ignore[operator]
        after = await _owners(admin)
        assert set(after.values()) == {OWNER_ROLE}, after  # the serial's sequence moved too

        again = await _cli_migrate(admin)
        assert again == {"applied": [], "role": OWNER_ROLE, "moved": [], "granted": True}
        print(
            f"\nmigrate as {OWNER_ROLE}: applied={len(first['applied'])} "  # type: ignore[arg-type]
            f"moved={len(first['moved'])} then applied=0 moved=0; "  # type: ignore[arg-type]
            f"{len(after)} relations all owned by {OWNER_ROLE}"
        )


async def test_a_user_that_may_not_act_as_the_owner_migrates_as_itself() -> None:
    async with migrated_database("baton_sec_app") as db:
        # The app role is no member of the owner role: nothing to migrate, nothing moved.
        result = await migrate_as_owner(dsn=db.app, groups=[])
        assert result.role is None
        assert result.moved == []


async def test_a_services_store_writes_as_the_app_role() -> None:
    async with migrated_database("baton_sec_store") as db:
        config = ResourceConfig.from_env({"BATON_RESOURCE_POOLS": '{"agents": 4}'})
        store = ResourceStore(config=config)
        async with Database(dsn=db.app) as app:
            async with app.transaction() as conn:
                assert await conn.fetchval("select current_user") == APP_ROLE
                await store.create(conn)
                head = await lock_head(conn)
                await store.align(conn, head)  # agent rows
                work = await store.load(conn, head, Needs(), now=T0)
                allocator = Allocator(pools=config.pools, state=work.state)
                allocator.request(make("req_sec", "wf_sec", agents=2), now=T0)
                saved = await store.save(conn, head, work, allocator.state, traces={})
            assert saved is not None
            assert saved.agents == {"alloc_sec": ["agent_001", "agent_002"]}
            async with app.transaction() as conn:
                head = await read_head(conn)
            assert (head.version, head.allocations, int(head.used["agents"])) == (1, 1, 2)
            # What a service checks at start: no migration pending, read by the app role.
            for group in all_migrations():
                assert await pending(app, migrations=group) == []
        owners = await _owners(db.admin)
        assert owners["resource_allocations"] == OWNER_ROLE
        assert owners["resource_allocations_seq_seq"] == OWNER_ROLE
