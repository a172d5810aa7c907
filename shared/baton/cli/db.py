"""``baton db``: database migrations."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from baton.cli.common import HelperGroup, emit, run, settings
from baton.db import Database, Migration, load_migrations, pending
from baton.db.owner import OwnedMigration, migrate_as_owner
from baton.db.roles import OWNER_ROLE
from baton.services import SERVICE_CLASSES, load_service

app = typer.Typer(
    cls=HelperGroup, help="PostgreSQL schema: versioned migrations.", no_args_is_help=True
)


def all_migrations() -> list[list[Migration]]:
    """Migrations of the runtime and of every installed service, one list per owner."""
    # Imported here: the runtime package brings the HTTP server (~0.6 s) every other
    # `baton` command would pay for at start.
    from baton.runtime import RUNTIME_MIGRATIONS

    groups = [load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS)]
    for name in SERVICE_CLASSES:
        with contextlib.suppress(ImportError):
            cls = load_service(name)
            if cls.migrations is not None:
                groups.append(load_migrations(owner=name, directory=cls.migrations))
    return groups


@app.command("migrate")
def migrate_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    owner: Annotated[
        str,
        typer.Option(
            "--owner",
            help="Role the migrations run as and that owns the schema, when it exists and "
            "BATON_PG_DSN's user may act as it; its tables are then opened to baton_app.",
        ),
    ] = OWNER_ROLE,
) -> None:
    """Apply every pending migration (runtime and services), in order, in this deployment's
    schema (BATON_PG_SCHEMA, or named after BATON_TOPIC_PREFIX; created when missing).
    Idempotent."""
    config = settings()

    async def main() -> OwnedMigration:
        return await migrate_as_owner(
            dsn=config.dsn, groups=all_migrations(), schema=config.db_schema, owner=owner
        )

    result = run(main)
    if as_json:
        emit(result.model_dump(mode="json"))
        return
    applied = ", ".join(result.applied) or "-"
    who = f" as {result.role}" if result.role else ""
    moved = f"; {len(result.moved)} moved to {result.role}" if result.moved else ""
    emit(
        f"applied {len(result.applied)}{who} in schema {config.db_schema}: {applied}{moved}",
        as_json=False,
    )


@app.command("status")
def status_command() -> None:
    """List pending migrations of this deployment's schema (JSON)."""
    config = settings()

    async def main() -> list[str]:
        async with Database(dsn=config.dsn, schema=config.db_schema) as db:
            return [
                f"{m.owner}/{m.version:04d}_{m.name}"
                for group in all_migrations()
                for m in await pending(db, migrations=group)
            ]

    emit({"schema": config.db_schema, "pending": run(main)})
