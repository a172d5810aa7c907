"""Versioned SQL migrations, one folder per owner (the runtime, each service).

A migration is a file ``NNNN_name.sql``; it is applied once, in a transaction, and recorded
in ``baton_schema_migrations`` with its checksum. Everything lives in the database handle's
schema (one per deployment, created by the first migration): the ledger too, so each
deployment is migrated on its own. A recorded migration whose file changed
is an error (migrations are append-only). Applied by ``baton db migrate``; services refuse
to start while one of theirs is pending.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from baton.db.database import Database, quote_ident
from baton.errors import BatonError

__all__ = [
    "MIGRATION_LOCK",
    "Migration",
    "applied_versions",
    "load_migrations",
    "migrate",
    "pending",
]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LEDGER = """
create table if not exists baton_schema_migrations (
    owner text not null,
    version int not null,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    primary key (owner, version)
)
"""


MIGRATION_LOCK = "select pg_advisory_xact_lock(hashtext('baton_migrations'))"
"""Taken by every migrator of the database (and by :func:`baton.db.owner.take_ownership`)."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    owner: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(*, owner: str, directory: Path) -> list[Migration]:
    """The migrations of ``owner`` found in ``directory``, by version."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise BatonError(f"migration file {path} is not named NNNN_name.sql")
        found.append(Migration(owner, int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise BatonError(f"two migrations of {owner} share a version in {directory}")
    return found


async def applied_versions(db: Database, *, owner: str) -> dict[int, str]:
    """Version → checksum of the migrations of ``owner`` already applied.

    Only reads: the application role (no DDL) checks pending migrations at start, and even
    ``create table if not exists`` needs the right to create.
    """
    async with db.transaction() as conn:
        if await conn.fetchval("select to_regclass('baton_schema_migrations')") is None:
            return {}
        rows = await conn.fetch(
            "select version, checksum from baton_schema_migrations where owner = $1", owner
        )
    return {r["version"]: r["checksum"] for r in rows}


async def pending(db: Database, *, migrations: list[Migration]) -> list[Migration]:
    """Migrations not applied yet; raises if an applied one was edited since."""
    if not migrations:
        return []
    done = await applied_versions(db, owner=migrations[0].owner)
    for m in migrations:
        if m.version in done and done[m.version] != m.checksum:
            raise BatonError(
                f"migration {m.owner}/{m.version:04d}_{m.name} changed after it was applied; "
                "add a new migration instead"
            )
    return [m for m in migrations if m.version not in done]


async def migrate(db: Database, *, migrations: list[Migration]) -> list[str]:
    """Apply pending migrations in order; returns what was applied (``owner/NNNN_name``)."""
    applied: list[str] = []
    if not migrations:
        return applied
    async with db.transaction() as conn:
        await conn.execute(MIGRATION_LOCK)
        # Checked first: even `create schema if not exists` needs the right to create one.
        if not await conn.fetchval("select 1 from pg_namespace where nspname = $1", db.schema):
            await conn.execute(f"create schema {quote_ident(db.schema)}")
        await conn.execute(_LEDGER)
    for m in await pending(db, migrations=migrations):
        async with db.transaction() as conn:
            # Serialise concurrent migrators (several replicas starting a migrate job).
            await conn.execute(MIGRATION_LOCK)
            exists = await conn.fetchval(
                "select 1 from baton_schema_migrations where owner = $1 and version = $2",
                m.owner,
                m.version,
            )
            if exists:
                continue
            await conn.execute(m.sql)
            await conn.execute(
                "insert into baton_schema_migrations (owner, version, name, checksum) "
                "values ($1, $2, $3, $4)",
                m.owner,
                m.version,
                m.name,
                m.checksum,
            )
        applied.append(f"{m.owner}/{m.version:04d}_{m.name}")
    return applied
