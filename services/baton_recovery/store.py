"""workflow-recovery's tables: checkpoints, error reports, recovery actions (the watchdog's
rows are :mod:`~baton_recovery.failures.watchlist`'s).

Checkpoint payloads are stored compressed (:mod:`~baton_recovery.checkpoints.snapshot`, or as byte
deltas, :mod:`~baton_recovery.checkpoints.bytedelta`) with the hash of what the payload decodes to,
and each row records the hash of the full state it stands for, so reading a chain verifies both
the bytes and the rebuilt state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from baton_recovery.checkpoints.bulk import RowStream, copy_in
from baton_recovery.checkpoints.rebuild import (
    CheckpointRecord,
    Rebuilt,
    rebuild,
    rebuild_state,
    stored_record,
)

__all__ = ["CheckpointRow", "Head", "RecoveryStore"]

_CHAIN = """
with recursive chain as (
    select * from recovery_checkpoints where checkpoint_id = $1
    union all
    select c.* from recovery_checkpoints c join chain on c.checkpoint_id = chain.base_id
)
select checkpoint_id, kind, base_id, payload, payload_hash, state_hash from chain
"""


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """What a list shows of one checkpoint."""

    checkpoint_id: str
    workflow_id: str
    checkpoint_type: str
    trigger: str
    state_version: int
    kind: str
    base_id: str | None
    deltas_since_full: int
    state_hash: str
    full_size: int
    stored_size: int
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint_id": self.checkpoint_id,
            "workflow_id": self.workflow_id,
            "checkpoint_type": self.checkpoint_type,
            "trigger": self.trigger,
            "state_version": self.state_version,
            "storage": self.kind,
            "base_id": self.base_id,
            "state_hash": self.state_hash,
            "size_bytes": self.stored_size,
            "full_size_bytes": self.full_size,
            "compression_ratio": round(self.stored_size / self.full_size, 4)
            if self.full_size
            else 1.0,
            "created_at": self.created_at.isoformat(),
        }


_COLUMNS = (
    "checkpoint_id, workflow_id, checkpoint_type, trigger, state_version, kind, base_id, "
    "deltas_since_full, state_hash, full_size, stored_size, created_at"
)


class Head(NamedTuple):
    """What a writer needs of a workflow's latest checkpoint."""

    workflow_id: str
    checkpoint_id: str
    kind: str
    deltas_since_full: int
    state_hash: str


# The latest checkpoint of each workflow of $1, one backward index scan each (``distinct
# on`` would read every checkpoint of them), and those of $2 stored already (a redelivered
# request), in one round trip: ``known`` tells the two apart.
_HEAD_COLUMNS = "workflow_id, checkpoint_id, kind, deltas_since_full, state_hash"
_HEADS = f"""
select latest.*, false as known from unnest($1::text[]) as wanted(id)
cross join lateral (
    select {_HEAD_COLUMNS} from recovery_checkpoints
    where workflow_id = wanted.id order by seq desc limit 1
) as latest
union all
select {_HEAD_COLUMNS}, true from recovery_checkpoints where checkpoint_id = any($2::text[])
"""

COPY_FROM: Final = 16
"""Fewest rows inserted with ``COPY`` (:mod:`baton_recovery.checkpoints.bulk`); fewer go in one
``INSERT``, which needs no savepoint around it."""

_INSERT_COLUMNS = (
    "checkpoint_id, workflow_id, checkpoint_type, trigger, state_version, kind, base_id, "
    "deltas_since_full, payload, payload_hash, state_hash, full_size, stored_size"
)
_INSERT_MANY = f"""
insert into recovery_checkpoints ({_INSERT_COLUMNS})
select {_INSERT_COLUMNS} from unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
    $8::int[], $9::bytea[], $10::text[], $11::text[], $12::int[], $13::int[]
) with ordinality as t({_INSERT_COLUMNS}, n)
order by n
on conflict (checkpoint_id) do nothing
returning checkpoint_id
"""


class RecoveryStore:
    """Queries of workflow-recovery's tables (each on a connection the caller holds)."""

    async def latest(self, conn: Any, workflow_id: str) -> CheckpointRow | None:
        row = await conn.fetchrow(
            f"select {_COLUMNS} from recovery_checkpoints where workflow_id = $1 "
            "order by seq desc limit 1",
            workflow_id,
        )
        return None if row is None else CheckpointRow(**dict(row))

    async def heads(
        self, conn: Any, *, workflow_ids: list[str], checkpoint_ids: list[str]
    ) -> tuple[list[Head], set[str]]:
        """The latest checkpoint of each of ``workflow_ids`` that has one, and those of
        ``checkpoint_ids`` stored already."""
        latest: list[Head] = []
        known: set[str] = set()
        for r in await conn.fetch(_HEADS, workflow_ids, checkpoint_ids):
            if r[5]:  # known
                known.add(r[1])
            else:
                latest.append(Head(r[0], r[1], r[2], r[3], r[4]))
        return latest, known

    async def insert_rows(
        self, conn: Any, rows: Iterable[tuple[Any, ...]], *, count: int
    ) -> set[str]:
        """Insert ``count`` rows, prepared as ``rows`` is consumed, in order; the ids
        inserted. Many go through a streamed ``COPY`` in a savepoint (falling back to
        :meth:`insert_many` if another writer stored one of the ids meanwhile).

        Raises:
            Exception: what consuming ``rows`` raised (nothing of them is kept).
        """
        if count < COPY_FROM:
            return await self.insert_many(conn, list(rows))
        stream = RowStream(rows, count=count)
        if not await copy_in(
            conn, table="recovery_checkpoints", columns=_INSERT_COLUMNS.split(", "), stream=stream
        ):
            return await self.insert_many(conn, stream.all_rows())
        return {row[0] for row in stream.sent}

    async def insert_many(self, conn: Any, rows: list[tuple[Any, ...]]) -> set[str]:
        """Insert prepared rows (in :data:`_INSERT_COLUMNS` order) in one statement, in
        order; the ids inserted (ids stored before are skipped)."""
        if not rows:
            return set()
        columns = list(zip(*rows, strict=True))
        inserted = await conn.fetch(_INSERT_MANY, *columns)
        return {r["checkpoint_id"] for r in inserted}

    async def checkpoints(self, conn: Any, workflow_id: str) -> list[CheckpointRow]:
        rows = await conn.fetch(
            f"select {_COLUMNS} from recovery_checkpoints where workflow_id = $1 order by seq",
            workflow_id,
        )
        return [CheckpointRow(**dict(r)) for r in rows]

    async def find(self, conn: Any, checkpoint_id: str) -> CheckpointRow | None:
        row = await conn.fetchrow(
            f"select {_COLUMNS} from recovery_checkpoints where checkpoint_id = $1", checkpoint_id
        )
        return None if row is None else CheckpointRow(**dict(row))

    async def state_at(self, conn: Any, checkpoint_id: str) -> dict[str, Any]:
        """The full state of a checkpoint, every hash on its chain verified.

        Raises:
            CheckpointChainError: a link of the chain is missing.
            CorruptCheckpointError: stored bytes or a rebuilt state do not match their hash.
        """
        return rebuild_state(await self._chain(conn, checkpoint_id), checkpoint_id)

    async def rebuilt_at(self, conn: Any, checkpoint_id: str) -> Rebuilt:
        """:meth:`state_at` as its canonical encoding (and the state, when at hand).

        Raises:
            CheckpointChainError, CorruptCheckpointError: as :meth:`state_at`.
        """
        return rebuild(await self._chain(conn, checkpoint_id), checkpoint_id)

    async def _chain(self, conn: Any, checkpoint_id: str) -> list[CheckpointRecord]:
        return [
            stored_record(
                checkpoint_id=r["checkpoint_id"],
                kind=r["kind"],
                state_hash=r["state_hash"],
                payload=bytes(r["payload"]),
                payload_hash=r["payload_hash"],
                base_id=r["base_id"],
            )
            for r in await conn.fetch(_CHAIN, checkpoint_id)
        ]

    # -- reports and actions ---------------------------------------------------------------

    async def add_report(
        self,
        conn: Any,
        *,
        error_id: str,
        workflow_id: str,
        report: dict[str, Any],
        decision: dict[str, Any] | None,
    ) -> bool:
        status = await conn.execute(
            "insert into recovery_reports (error_id, workflow_id, report, decision) "
            "values ($1, $2, $3, $4) on conflict do nothing",
            error_id,
            workflow_id,
            report,
            decision,
        )
        return bool(status.endswith(" 1"))

    async def reports(
        self, conn: Any, workflow_id: str, *, limit: int = 20
    ) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            "select report, decision from recovery_reports where workflow_id = $1 "
            "order by created_at desc limit $2",
            workflow_id,
            limit,
        )
        return [{"error_report": r["report"], "decision": r["decision"]} for r in rows]

    async def add_action(
        self,
        conn: Any,
        *,
        action_id: str,
        workflow_id: str,
        due_at: datetime,
        request: dict[str, Any],
    ) -> None:
        await conn.execute(
            "insert into recovery_actions (action_id, workflow_id, due_at, request) "
            "values ($1, $2, $3, $4) on conflict do nothing",
            action_id,
            workflow_id,
            due_at,
            request,
        )

    async def claim_due(
        self, conn: Any, *, now: datetime, claimant: str, lease_seconds: float
    ) -> Any | None:
        """The earliest due action that is not done nor held, now held by ``claimant`` for
        ``lease_seconds``; None when there is none. Two replicas never hold one at once:
        the row is claimed with ``skip locked`` and a lease that only ends when it runs out
        (a replica killed while running one leaves it to the others then)."""
        return await conn.fetchrow(
            "update recovery_actions set claimed_by = $2, "
            "claimed_until = $1::timestamptz + make_interval(secs => $3) "
            "where action_id = ("
            "  select action_id from recovery_actions "
            "  where done_at is null and due_at <= $1 "
            "    and (claimed_until is null or claimed_until <= $1) "
            "  order by due_at limit 1 for update skip locked"
            ") returning action_id, workflow_id, request",
            now,
            claimant,
            lease_seconds,
        )

    async def release_action(self, conn: Any, *, action_id: str, claimant: str) -> None:
        """Let go of an action held and not done (the hub did not answer): it is due again."""
        await conn.execute(
            "update recovery_actions set claimed_until = null "
            "where action_id = $1 and claimed_by = $2 and done_at is null",
            action_id,
            claimant,
        )

    async def next_due(self, conn: Any) -> datetime | None:
        """When the earliest recovery action not yet done is due (or its holder's lease
        ends); None when none is left."""
        due: datetime | None = await conn.fetchval(
            "select min(greatest(due_at, coalesce(claimed_until, due_at))) "
            "from recovery_actions where done_at is null"
        )
        return due

    async def finish_action(self, conn: Any, *, action_id: str, outcome: dict[str, Any]) -> None:
        await conn.execute(
            "update recovery_actions set done_at = now(), outcome = $2 "
            "where action_id = $1 and done_at is null",
            action_id,
            outcome,
        )

    async def pending_actions(self, conn: Any, workflow_id: str) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            "select action_id, due_at, request from recovery_actions "
            "where workflow_id = $1 and done_at is null order by due_at",
            workflow_id,
        )
        return [
            {"action_id": r["action_id"], "due_at": r["due_at"].isoformat(), **r["request"]}
            for r in rows
        ]
