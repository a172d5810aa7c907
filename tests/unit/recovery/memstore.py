"""An in-memory :class:`RecoveryStore` for the checkpoint writer: rows, latest, chains.

A :class:`Txn` stands for a connection inside a transaction: its inserts are seen by its own
reads, and reach the store only on :meth:`Txn.commit` (dropped on rollback).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from baton_recovery.checkpoints.rebuild import (
    CheckpointRecord,
    Rebuilt,
    rebuild,
    rebuild_state,
    stored_record,
)
from baton_recovery.store import CheckpointRow, Head, RecoveryStore

__all__ = ["COLUMNS", "MemoryStore", "Txn"]

COLUMNS = (
    "checkpoint_id",
    "workflow_id",
    "checkpoint_type",
    "trigger",
    "state_version",
    "kind",
    "base_id",
    "deltas_since_full",
    "payload",
    "payload_hash",
    "state_hash",
    "full_size",
    "stored_size",
)
"""The order of a row as the writer inserts it."""


class Txn:
    """A transaction on a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.staged: dict[str, dict[str, Any]] = {}

    def rows(self) -> dict[str, dict[str, Any]]:
        """Committed rows, then this transaction's, in insertion order."""
        return {**self.store.rows, **self.staged}

    def commit(self) -> None:
        self.store.rows.update(self.staged)
        self.staged = {}


class MemoryStore(RecoveryStore):
    """Checkpoint queries of :class:`RecoveryStore` on dicts (``conn`` is a :class:`Txn`).

    Attributes:
        lookup_turns: Event loop turns :meth:`heads` takes to answer, as a query to the
            server would (the writer prepares from memory meanwhile).
    """

    lookup_turns = 0

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.chain_reads = 0

    def txn(self) -> Txn:
        return Txn(self)

    async def latest_many(self, conn: Any, workflow_ids: list[str]) -> list[CheckpointRow]:
        """The latest checkpoint of each of ``workflow_ids`` that has one."""
        latest: dict[str, dict[str, Any]] = {}
        for row in conn.rows().values():  # insertion order stands for ``seq``
            if row["workflow_id"] in workflow_ids:
                latest[row["workflow_id"]] = row
        return [_row(r) for r in latest.values()]

    async def heads(
        self, conn: Any, *, workflow_ids: list[str], checkpoint_ids: list[str]
    ) -> tuple[list[Head], set[str]]:
        for _ in range(self.lookup_turns):
            await asyncio.sleep(0)
        stored = conn.rows()
        latest = [
            Head(r.workflow_id, r.checkpoint_id, r.kind, r.deltas_since_full, r.state_hash)
            for r in await self.latest_many(conn, workflow_ids)
        ]
        return latest, {c for c in checkpoint_ids if c in stored}

    async def insert_rows(
        self, conn: Any, rows: Iterable[tuple[Any, ...]], *, count: int
    ) -> set[str]:
        return await self.insert_many(conn, list(rows))

    async def insert_many(self, conn: Any, rows: list[tuple[Any, ...]]) -> set[str]:
        inserted: set[str] = set()
        for values in rows:
            row = dict(zip(COLUMNS, values, strict=True))
            if row["checkpoint_id"] not in conn.rows():
                conn.staged[row["checkpoint_id"]] = row
                inserted.add(row["checkpoint_id"])
        return inserted

    async def state_at(self, conn: Any, checkpoint_id: str) -> dict[str, Any]:
        self.chain_reads += 1
        return restore(conn.rows(), checkpoint_id)

    async def rebuilt_at(self, conn: Any, checkpoint_id: str) -> Rebuilt:
        self.chain_reads += 1
        return rebuild(_records(conn.rows()), checkpoint_id)


def restore(rows: dict[str, dict[str, Any]], checkpoint_id: str) -> dict[str, Any]:
    """The state of a checkpoint rebuilt from stored rows, every hash checked (as the
    store's ``state_at`` does)."""
    return rebuild_state(_records(rows), checkpoint_id)


def _records(rows: dict[str, dict[str, Any]]) -> list[CheckpointRecord]:
    return [
        stored_record(
            checkpoint_id=r["checkpoint_id"],
            kind=r["kind"],
            state_hash=r["state_hash"],
            payload=r["payload"],
            payload_hash=r["payload_hash"],
            base_id=r["base_id"],
        )
        for r in rows.values()
    ]


def _row(r: dict[str, Any]) -> CheckpointRow:
    return CheckpointRow(
        **{k: r[k] for k in COLUMNS if k not in ("payload", "payload_hash")},
        created_at=datetime(2025, 1, 15, tzinfo=UTC),
    )
