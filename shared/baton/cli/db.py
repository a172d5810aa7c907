"""``baton db``: database migrations."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from baton.cli.common import HelperGroup, emit, run, settings
from baton.db import Database, Migration, load_migrations, migrate, pending
from baton.runtime import RUNTIME_MIGRATIONS
from baton.services import SERVICE_CLASSES, load_service

app = typer.Typer(
    cls=HelperGroup, help="PostgreSQL schema: versioned migrations.", no_args_is_help=True
)


def _all_migrations() -> list[list[Migration]]:
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
) -> None:
    """Apply every pending migration (runtime and services), in order. Idempotent."""
    config = settings()

    async def main() -> list[str]:
        async with Database(dsn=config.dsn) as db:
            applied: list[str] = []
            for group in _all_migrations():
                applied += await migrate(db, migrations=group)
            return applied

    applied = run(main)
    emit(
        {"applied": applied} if as_json else f"applied {len(applied)}: {', '.join(applied) or '-'}",
        as_json=as_json,
    )


@app.command("status")
def status_command() -> None:
    """List pending migrations (JSON)."""
    config = settings()

    async def main() -> list[str]:
        async with Database(dsn=config.dsn) as db:
            return [
                f"{m.owner}/{m.version:04d}_{m.name}"
                for group in _all_migrations()
                for m in await pending(db, migrations=group)
            ]

    emit({"pending": run(main)})
