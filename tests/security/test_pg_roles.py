"""The application role reads and writes rows but cannot change the schema."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.db.roles import APP_ROLE, OWNER_ROLE, ensure_roles, grant_app_role
from baton.runtime import RUNTIME_MIGRATIONS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DATABASE = "baton_roles"
"""A database of its own (roles are per cluster, privileges per database)."""


def _dsn(base: str, *, user: str, database: str) -> str:
    parts = urlsplit(base)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}", path=f"/{database}"))


@pytest.fixture
async def roles_db(live_stack: BatonSettings) -> str:
    """The roles database, migrated by the owner; yields the app role's DSN."""
    base = os.environ.get("BATON_ROLES_TEST_DSN") or live_stack.dsn
    database = urlsplit(base).path.lstrip("/") if "BATON_ROLES_TEST_DSN" in os.environ else None
    database = database or DATABASE
    admin_user = urlsplit(live_stack.dsn).username or "baton"
    admin = await asyncpg.connect(_dsn(live_stack.dsn, user=admin_user, database="postgres"))
    try:
        if not await admin.fetchval("select 1 from pg_database where datname = $1", database):
            await admin.execute(f'create database "{database}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(_dsn(live_stack.dsn, user=admin_user, database=database))
    try:
        await ensure_roles(conn, database=database)
        await ensure_roles(conn, database=database)  # idempotent
    finally:
        await conn.close()
    owner_dsn = _dsn(live_stack.dsn, user=OWNER_ROLE, database=database)
    async with Database(dsn=owner_dsn) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
        async with db.connection() as owner:
            await owner.execute(
                "create table if not exists roles_probe (id bigserial primary key, note text)"
            )
            await grant_app_role(owner)
    return _dsn(live_stack.dsn, user=APP_ROLE, database=database)


DDL = [
    "create table app_made (id int)",
    "drop table roles_probe",
    "alter table roles_probe add column extra int",
    "alter table baton_schema_migrations drop column checksum",
    "create index roles_probe_note on roles_probe (note)",
    "truncate roles_probe",
    "create schema app_schema",
    "comment on table roles_probe is 'mine now'",
    "create role app_made_role",
]


async def test_the_app_role_cannot_run_ddl(roles_db: str) -> None:
    conn = await asyncpg.connect(roles_db)
    successes = 0
    refused: dict[str, str] = {}
    try:
        assert await conn.fetchval("select current_user") == APP_ROLE
        for statement in DDL:
            try:
                async with conn.transaction():
                    await conn.execute(statement)
                successes += 1
            except asyncpg.InsufficientPrivilegeError as exc:
                refused[statement] = str(exc)
    finally:
        await conn.close()
    print(f"\nDDL as {APP_ROLE}: attempts={len(DDL)} successes={successes}")
    for statement, reason in refused.items():
        print(f"  {statement!r}: {reason}")
    assert successes == 0
    assert len(refused) == len(DDL)  # each refused for lack of privilege, nothing else


async def test_the_app_role_reads_and_writes_rows(roles_db: str) -> None:
    conn = await asyncpg.connect(roles_db)
    try:
        row_id = await conn.fetchval("insert into roles_probe (note) values ('a') returning id")
        await conn.execute("update roles_probe set note = 'b' where id = $1", row_id)
        assert await conn.fetchval("select note from roles_probe where id = $1", row_id) == "b"
        await conn.execute("delete from roles_probe where id = $1", row_id)
        assert await conn.fetchval("select count(*) from baton_schema_migrations") >= 1
    finally:
        await conn.close()
