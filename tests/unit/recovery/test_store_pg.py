"""The checkpoint writer on PostgreSQL: batches streamed with ``COPY``, small ones inserted.

Both paths store the same rows; a redelivered or repeated id is stored once; a state that is
not JSON-ready in the middle of a streamed batch leaves nothing behind; a row another writer
stored meanwhile falls back to the plain insert; rows of the previous format (every payload
compressed) still restore.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from baton.config import BatonSettings
from baton.db import Database
from baton_recovery.checkpoints.chain import ChainPolicy
from baton_recovery.checkpoints.writer import CheckpointRequest, CheckpointWriter
from baton_recovery.errors import InvalidStateError
from baton_recovery.store import COPY_FROM, RecoveryStore
from tests.conftest import migrate_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with Database(dsn=live_stack.dsn, max_size=2) as database:
        await migrate_for(database, "recovery")
        yield database


def state(version: int) -> dict[str, Any]:
    return {
        "tasks": {f"t{i}": {"status": "done" if i < version else "pending"} for i in range(20)},
        "context": {"version": version, "notes": "n" * 300},
    }


def requests(prefix: str, versions: range, workflows: int = 3) -> list[CheckpointRequest]:
    return [
        CheckpointRequest(
            workflow_id=f"{prefix}_wf{v % workflows}",
            checkpoint_id=f"{prefix}_c{v}",
            checkpoint_type="incremental",
            trigger="automatic",
            state_version=v,
            state=state(v),
        )
        for v in versions
    ]


async def write(db: Database, writer: CheckpointWriter, batch: list[CheckpointRequest]) -> Any:
    async with db.transaction() as conn:
        written = await writer.write(conn, batch)
    writer.committed(written)
    return written.created


async def stored(db: Database, prefix: str) -> list[dict[str, Any]]:
    rows = await db.pool.fetch(
        "select * from recovery_checkpoints where checkpoint_id like $1 order by seq", f"{prefix}_%"
    )
    return [{k: v for k, v in dict(r).items() if k not in ("seq", "created_at")} for r in rows]


def prefixes() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"pgcopy{tag}", f"pgins{tag}"


async def test_streamed_and_inserted_batches_store_the_same_rows(db: Database) -> None:
    big, small = prefixes()
    versions = range(2 * COPY_FROM)
    writer = CheckpointWriter(store=RecoveryStore(), policy=ChainPolicy())
    created = await write(db, writer, requests(big, versions))
    assert all(c is not None for c in created)
    for start in range(0, len(versions), 3):  # below COPY_FROM: one INSERT each
        await write(db, writer, requests(small, versions[start : start + 3]))
    rows = {big: await stored(db, big), small: await stored(db, small)}
    assert len(rows[big]) == len(versions)
    assert {r["kind"] for r in rows[big]} == {"full", "delta"}
    for a, b in zip(rows[big], rows[small], strict=True):
        assert {k: str(v).replace(big, "") for k, v in a.items()} == {
            k: str(v).replace(small, "") for k, v in b.items()
        }
    async with db.pool.acquire() as conn:
        for v in versions:
            assert await RecoveryStore().state_at(conn, f"{big}_c{v}") == state(v)


async def test_redelivered_and_repeated_ids_are_stored_once(db: Database) -> None:
    prefix, _ = prefixes()
    writer = CheckpointWriter(store=RecoveryStore(), policy=ChainPolicy())
    first = requests(prefix, range(COPY_FROM))
    await write(db, writer, first)
    again = first[:3] + requests(prefix, range(COPY_FROM, 2 * COPY_FROM)) + first[-1:]
    created = await write(db, writer, [*again, again[5]])
    assert created[:3] == [None] * 3
    assert created[-2:] == [None, None]
    assert all(c is not None for c in created[3:-2])
    assert len(await stored(db, prefix)) == 2 * COPY_FROM


async def test_a_bad_state_in_a_streamed_batch_leaves_nothing(db: Database) -> None:
    prefix, _ = prefixes()
    batch = requests(prefix, range(2 * COPY_FROM))
    bad = batch[COPY_FROM + 3]
    batch[COPY_FROM + 3] = CheckpointRequest(
        workflow_id=bad.workflow_id,
        checkpoint_id=bad.checkpoint_id,
        checkpoint_type="incremental",
        trigger="automatic",
        state_version=0,
        state={"x": float("nan")},
    )
    writer = CheckpointWriter(store=RecoveryStore(), policy=ChainPolicy())
    with pytest.raises(InvalidStateError):
        await write(db, writer, batch)
    assert await stored(db, prefix) == []
    # The connection is fine afterwards, and the good part writes.
    assert all(c is not None for c in await write(db, writer, batch[: COPY_FROM + 3]))


async def test_an_id_stored_meanwhile_falls_back_to_the_insert(db: Database) -> None:
    prefix, _ = prefixes()
    batch = requests(prefix, range(COPY_FROM))
    writer = CheckpointWriter(store=RecoveryStore(), policy=ChainPolicy())

    class Racing(RecoveryStore):
        """Another writer stores the batch's last id between the lookup and the COPY."""

        async def heads(self, conn: Any, **kwargs: Any) -> Any:
            found = await super().heads(conn, **kwargs)
            await other.write(conn, batch[-1:])
            return found

    other = CheckpointWriter(store=RecoveryStore(), policy=ChainPolicy())
    writer.store = Racing()
    created = await write(db, writer, batch)
    assert created[-1] is None
    assert all(c is not None for c in created[:-1])
    assert len(await stored(db, prefix)) == COPY_FROM


async def test_rows_of_the_previous_format_still_restore(db: Database) -> None:
    prefix, _ = prefixes()
    writer = CheckpointWriter(store=RecoveryStore(), policy=ChainPolicy())
    await write(db, writer, requests(prefix, range(6), workflows=1))
    # Before, every payload was compressed: store them so, as the old writer did.
    rows = await stored(db, prefix)
    assert any(r["payload"][:1] in (b"{", b"[") for r in rows)
    async with db.transaction() as conn:
        for r in rows:
            if r["payload"][:1] in (b"{", b"["):
                blob = zlib.compress(r["payload"], 6)
                await conn.execute(
                    "update recovery_checkpoints set payload = $2, stored_size = $3 "
                    "where checkpoint_id = $1",
                    r["checkpoint_id"],
                    blob,
                    len(blob),
                )
    assert all(r["payload"][:1] == b"x" for r in await stored(db, prefix))
    async with db.pool.acquire() as conn:
        for v in range(6):
            assert await RecoveryStore().state_at(conn, f"{prefix}_c{v}") == state(v)
    # A new writer (nothing in memory) chains onto them.
    fresh = CheckpointWriter(store=RecoveryStore(), policy=ChainPolicy())
    await write(db, fresh, requests(prefix, range(6, 8), workflows=1))
    async with db.pool.acquire() as conn:
        assert await RecoveryStore().state_at(conn, f"{prefix}_c7") == state(7)
