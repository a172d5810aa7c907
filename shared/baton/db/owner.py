"""Migrations applied as the migration owner role, then opened to the DML-only app role.

``baton db migrate`` connects with ``BATON_PG_DSN``. When the owner role exists and that
user may act as it (a member, or a superuser), the migrations run as the owner (``SET
ROLE`` at connection start), so every table they create is the owner's; tables made
earlier by another role are handed to the owner first (once: only those not yet its
own); and afterwards the app role gets DML on all of them. Without the owner role the
migrations run as the connecting user, as they always did. All of it happens in one
deployment's schema (``BATON_PG_SCHEMA``, or the topic prefix's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from baton.db.database import Database
from baton.db.migrations import MIGRATION_LOCK, Migration, migrate
from baton.db.roles import APP_ROLE, OWNER_ROLE, ensure_roles, grant_app_role
from baton.errors import BatonError

__all__ = ["OwnedMigration", "migrate_as_owner", "take_ownership"]

_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence"}
# Sequences linked to a column (serial, identity) move with their table and refuse to move
# alone, so only free-standing ones are listed.
_NOT_OWNED = """
select c.relkind::text as relkind, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $2
  and c.relkind in ('r', 'p', 'v', 'm', 'S')
  and c.relowner <> (select oid from pg_roles where rolname = $1)
  and not (c.relkind = 'S' and exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i')))
order by c.relkind = 'S', name
"""
# Whether the owner may create in the schema, and the app role (when it exists) use it
# (a CASE: has_schema_privilege raises on a schema or role that does not exist).
_SCHEMA_READY = """
select case
    when not exists (select 1 from pg_namespace where nspname = $1) then false
    when not (has_schema_privilege($2, $1, 'USAGE') and has_schema_privilege($2, $1, 'CREATE'))
        then false
    when not exists (select 1 from pg_roles where rolname = $3) then true
    else has_schema_privilege($3, $1, 'USAGE')
end
"""


class OwnedMigration(BaseModel):
    """What :func:`migrate_as_owner` did.

    Attributes:
        applied: Migrations applied (``owner/NNNN_name``).
        role: The role they ran as; None when no owner role is usable (the connecting user).
        moved: Relations whose ownership moved to the owner role in this run.
        granted: Whether the app role was granted DML on every table and sequence.
    """

    model_config = ConfigDict(frozen=True)

    applied: list[str]
    role: str | None
    moved: list[str]
    granted: bool


async def _role_exists(conn: Any, role: str) -> bool:
    return bool(await conn.fetchval("select 1 from pg_roles where rolname = $1", role))


async def take_ownership(
    conn: Any, *, owner: str = OWNER_ROLE, schema: str = "public"
) -> list[str]:
    """Hand every table, view and free-standing sequence of ``schema`` to ``owner``.

    Idempotent: those already the owner's are left alone. Runs as the connecting user, who
    must own them (or be a superuser) and be a member of ``owner``.

    Returns:
        The relations moved.
    """
    moved: list[str] = []
    async with conn.transaction():
        # Concurrent migrators take the same lock (see migrations.migrate).
        await conn.execute(MIGRATION_LOCK)
        quoted = await conn.fetchval("select quote_ident($1)", owner)
        for row in await conn.fetch(_NOT_OWNED, owner, schema):
            await conn.execute(f"alter {_KINDS[row['relkind']]} {row['name']} owner to {quoted}")
            moved.append(row["name"])
    return moved


async def migrate_as_owner(
    *,
    dsn: str,
    groups: Sequence[list[Migration]],
    schema: str = "public",
    owner: str = OWNER_ROLE,
    app: str = APP_ROLE,
) -> OwnedMigration:
    """Apply every pending migration of ``groups`` in order, as ``owner`` when usable.

    Args:
        dsn: The connecting user's DSN (``BATON_PG_DSN``).
        groups: Migrations per owner (runtime, then each service).
        schema: The deployment's schema (created when missing).
        owner: The migration owner role.
        app: The DML-only application role, granted DML afterwards when it exists.

    Raises:
        BatonError: the owner role cannot create tables in ``schema`` (or the app role
            not use it) and the connecting user may not grant that (run the stack's role
            set-up as a superuser).
    """
    async with Database(dsn=dsn, schema=schema, max_size=1) as db, db.connection() as conn:
        usable = await _role_exists(conn, owner) and await conn.fetchval(
            "select pg_has_role(current_user, $1, 'MEMBER')", owner
        )
        if not usable:
            applied = [name for group in groups for name in await migrate(db, migrations=group)]
            return OwnedMigration(applied=applied, role=None, moved=[], granted=False)
        if not await conn.fetchval(_SCHEMA_READY, schema, owner, app):
            database = await conn.fetchval("select current_database()")
            try:
                await ensure_roles(conn, database=database, owner=owner, app=app, schema=schema)
            except Exception as exc:
                raise BatonError(
                    f"role {owner} may not create tables in schema {schema} of {database} (or "
                    f"{app} not use it), and this user may not grant it: {exc}",
                    role=owner,
                    database=database,
                    schema=schema,
                ) from exc
        moved = await take_ownership(conn, owner=owner, schema=schema)
        has_app = await _role_exists(conn, app)
    applied = []
    async with Database(dsn=dsn, schema=schema, max_size=1, role=owner) as db:
        for group in groups:
            applied += await migrate(db, migrations=group)
        if has_app:
            async with db.connection() as conn:
                await grant_app_role(conn, app=app, schema=schema)
    return OwnedMigration(applied=applied, role=owner, moved=moved, granted=has_app)
