"""Two PostgreSQL roles: a migration owner that owns the schema, and a DML-only app role.

The owner (``baton_owner``) runs ``baton db migrate``: it creates, alters and drops tables,
and owns them. The application role (``baton_app``) is what services connect as: it may
select, insert, update and delete rows, and use sequences, but create, alter, drop or
truncate nothing, so a compromised or buggy service cannot change the schema.
Default privileges make every table the owner creates later usable by the app role.

Each deployment has its own schema (``public`` for the default one): the grants are per
schema, and a deployment's schema other than ``public`` is created owned by the owner.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from baton.db.database import quote_ident

__all__ = ["APP_ROLE", "OWNER_ROLE", "ensure_roles", "grant_app_role"]

OWNER_ROLE = "baton_owner"
APP_ROLE = "baton_app"


async def _ensure_role(conn: Any, *, role: str, password: SecretStr | None) -> None:
    exists = await conn.fetchval("select 1 from pg_roles where rolname = $1", role)
    quoted = quote_ident(role)
    if not exists:
        # NOSUPERUSER NOCREATEDB NOCREATEROLE are the defaults, spelled out for the reader.
        await conn.execute(f"create role {quoted} login nosuperuser nocreatedb nocreaterole")
    if password is not None:
        # A literal, not a parameter: utility statements take none. Quoted by the server.
        literal = await conn.fetchval("select quote_literal($1)", password.get_secret_value())
        await conn.execute(f"alter role {quoted} password {literal}")


async def ensure_roles(
    conn: Any,
    *,
    database: str,
    owner: str = OWNER_ROLE,
    app: str = APP_ROLE,
    schema: str = "public",
    owner_password: SecretStr | None = None,
    app_password: SecretStr | None = None,
) -> None:
    """Create both roles if missing and give each what it needs on ``database``; idempotent.

    Args:
        conn: An asyncpg connection to ``database`` as a role that may create roles.
        database: The database the roles work in.
        owner: Name of the migration owner role.
        app: Name of the DML-only application role.
        schema: The deployment's schema; created (owned by ``owner``) when missing.
        owner_password: Sets the owner's password when given (else left as it is).
        app_password: Sets the app role's password when given.
    """
    async with conn.transaction():
        # Two sessions creating the same role at once would collide: one at a time.
        await conn.execute("select pg_advisory_xact_lock(hashtext('baton_roles'))")
        await _ensure_role(conn, role=owner, password=owner_password)
        await _ensure_role(conn, role=app, password=app_password)
        db, o, a = quote_ident(database), quote_ident(owner), quote_ident(app)
        s = quote_ident(schema)
        await conn.execute(f"grant connect on database {db} to {o}, {a}")
        if not await conn.fetchval("select 1 from pg_namespace where nspname = $1", schema):
            await conn.execute(f"create schema {s} authorization {o}")
        # Nobody but the owner creates objects in the schema (PostgreSQL < 15 let PUBLIC).
        await conn.execute(f"revoke create on schema {s} from public")
        await conn.execute(f"grant usage, create on schema {s} to {o}")
        await conn.execute(f"grant usage on schema {s} to {a}")
        await conn.execute(f"revoke create on schema {s} from {a}")


async def grant_app_role(conn: Any, *, app: str = APP_ROLE, schema: str = "public") -> None:
    """As the owner, after migrating: DML on every table and sequence of ``schema``, now
    and later (the schema's USAGE comes from :func:`ensure_roles`).

    Args:
        conn: An asyncpg connection as the migration owner.
        app: Name of the DML-only application role.
        schema: The deployment's schema.
    """
    a, s = quote_ident(app), quote_ident(schema)
    dml = "select, insert, update, delete"
    async with conn.transaction():
        await conn.execute(f"grant {dml} on all tables in schema {s} to {a}")
        await conn.execute(f"grant usage, select on all sequences in schema {s} to {a}")
        await conn.execute(f"alter default privileges in schema {s} grant {dml} on tables to {a}")
        await conn.execute(
            f"alter default privileges in schema {s} grant usage, select on sequences to {a}"
        )
