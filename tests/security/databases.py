"""Throw-away databases migrated as the owner role, for tests of services as ``baton_app``.

Each gets a fresh name (two sessions never share one) and is dropped at the end. The
default ``baton`` database and the suite's fixtures are left as they are.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from baton.cli.db import all_migrations
from baton.config import BatonSettings
from baton.db.owner import OwnedMigration, migrate_as_owner
from baton.db.roles import APP_ROLE, OWNER_ROLE, ensure_roles


def with_user(dsn: str, *, user: str, database: str) -> str:
    """``dsn`` for ``user`` on ``database`` (no password: the local server trusts)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}", path=f"/{database}"))


@dataclass(frozen=True)
class MigratedDatabase:
    """DSNs of one throw-away database: its creator (superuser), owner and app role."""

    name: str
    admin: str
    owner: str
    app: str
    migration: OwnedMigration


@contextlib.asynccontextmanager
async def fresh_database(*, stem: str) -> AsyncIterator[tuple[str, str]]:
    """A new empty database named ``<stem>_<random>``; yields (name, superuser DSN)."""
    base = BatonSettings.from_env(os.environ).dsn
    admin_user = urlsplit(base).username or "baton"
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    server = await asyncpg.connect(with_user(base, user=admin_user, database="postgres"))
    try:
        await server.execute(f'create database "{name}"')
    finally:
        await server.close()
    try:
        yield name, with_user(base, user=admin_user, database=name)
    finally:
        server = await asyncpg.connect(with_user(base, user=admin_user, database="postgres"))
        try:
            await server.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await server.close()


@contextlib.asynccontextmanager
async def migrated_database(
    stem: str, *, schema: str = "public"
) -> AsyncIterator[MigratedDatabase]:
    """A fresh database with both roles, every migration applied as ``baton_owner`` in
    ``schema`` (a deployment's own, or the default deployment's ``public``).

    Migrated the way ``baton db migrate`` does it: connected as the (superuser) creator,
    acting as the owner role, then DML granted to the app role.
    """
    async with fresh_database(stem=stem) as (name, admin):
        conn = await asyncpg.connect(admin)
        try:
            await ensure_roles(conn, database=name)
        finally:
            await conn.close()
        migration = await migrate_as_owner(dsn=admin, groups=all_migrations(), schema=schema)
        assert migration.role == OWNER_ROLE, migration
        yield MigratedDatabase(
            name=name,
            admin=admin,
            owner=with_user(admin, user=OWNER_ROLE, database=name),
            app=with_user(admin, user=APP_ROLE, database=name),
            migration=migration,
        )
