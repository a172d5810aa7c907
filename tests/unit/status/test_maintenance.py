"""The status service's table upkeep outlives a pass the database cut short."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from baton.db import Database
from baton_status.maintenance import maintain
from baton_status.store import StatusStore


class _Db:
    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[object]:
        yield object()


class _Store:
    """Prunes nothing; its first prune is broken by a deadlock, as the server does."""

    def __init__(self) -> None:
        self.prunes = 0
        self.passed = asyncio.Event()

    async def unsummarised(self, conn: object, *, batch: int) -> list[Any]:
        return []

    async def prune(self, conn: object, *, older_than: datetime, batch: int) -> int:
        self.prunes += 1
        if self.prunes == 1:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return 0

    async def prune_history(self, conn: object, *, older_than: datetime) -> int:
        self.passed.set()
        return 0


async def test_a_deadlocked_pass_is_retried_at_the_next_not_fatal() -> None:
    store = _Store()
    loop = asyncio.create_task(
        maintain(
            db=cast(Database, _Db()),
            store=cast(StatusStore, store),
            retention=timedelta(days=1),
            batch=10,
            interval=0.01,
        )
    )
    await asyncio.wait_for(store.passed.wait(), timeout=5)
    assert not loop.done()
    assert store.prunes == 2
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
