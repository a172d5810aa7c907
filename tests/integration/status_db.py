"""The status service's tables on the test stack, migrated and emptied before and after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.conftest import migrate_for

from baton.config import BatonSettings
from baton.db import Database

__all__ = ["empty", "status_database"]


async def empty(db: Database) -> None:
    """Remove every row of the status service's tables."""
    await db.pool.execute("truncate status_workflows, status_history, status_singletons")


@asynccontextmanager
async def status_database(settings: BatonSettings) -> AsyncIterator[Database]:
    """A pool on the test database with the status tables migrated and empty."""
    async with Database(dsn=settings.dsn, max_size=4) as database:
        await migrate_for(database, "status")
        await empty(database)
        yield database
        await empty(database)
