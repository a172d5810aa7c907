"""Workflow states in PostgreSQL, read and written inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from baton.runtime import first_time_and_read
from baton_hub.state import WorkflowState

__all__ = ["WorkflowStore"]

_ACTIVE = ("CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED")


class WorkflowStore:
    """``hub_workflows``: one row per workflow with its full state as JSONB."""

    async def get(self, conn: Any, workflow_id: str, *, lock: bool = False) -> WorkflowState | None:
        """The workflow's state; ``lock`` holds the row until the transaction ends."""
        query = "select state from hub_workflows where workflow_id = $1"
        row = await conn.fetchrow(query + (" for update" if lock else ""), workflow_id)
        return None if row is None else WorkflowState.model_validate(row["state"])

    async def first_and_get(
        self, conn: Any, *, event_id: str, workflow_id: str
    ) -> tuple[bool, WorkflowState | None]:
        """Record ``event_id`` in the hub's ledger and read the workflow's state, locked, in
        one round trip: whether the event is new, and the state (None if not the hub's)."""
        first, value = await first_time_and_read(
            conn,
            consumer="hub",
            event_id=event_id,
            read="select state from hub_workflows where workflow_id = $3 for update",
            args=(workflow_id,),
        )
        return first, None if value is None else WorkflowState.model_validate(value)

    async def insert(self, conn: Any, state: WorkflowState) -> bool:
        """Store a new workflow; False when the id is taken."""
        done = await conn.fetchval(
            "insert into hub_workflows (workflow_id, status, priority, state_version, state) "
            "values ($1, $2, $3, $4, $5) on conflict do nothing returning 1",
            state.workflow_id,
            state.status,
            state.definition.priority,
            state.state_version,
            state.model_dump(mode="json"),
        )
        return bool(done == 1)

    async def update(self, conn: Any, state: WorkflowState) -> None:
        """Replace the stored state (the caller holds the row lock)."""
        await conn.execute(
            "update hub_workflows set status = $2, state_version = $3, state = $4, "
            "updated_at = now() where workflow_id = $1",
            state.workflow_id,
            state.status,
            state.state_version,
            state.model_dump(mode="json"),
        )

    async def active_versions(self, conn: Any) -> dict[str, int]:
        """Workflow id → state version of every workflow not finished yet."""
        rows = await conn.fetch(
            "select workflow_id, state_version from hub_workflows where status = any($1::text[])",
            list(_ACTIVE),
        )
        return {r["workflow_id"]: r["state_version"] for r in rows}

    async def get_many(self, conn: Any, workflow_ids: list[str]) -> list[WorkflowState]:
        """States of several workflows (no lock)."""
        if not workflow_ids:
            return []
        rows = await conn.fetch(
            "select state from hub_workflows where workflow_id = any($1::text[])", workflow_ids
        )
        return [WorkflowState.model_validate(r["state"]) for r in rows]

    async def summaries(
        self, conn: Any, *, status: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            "select workflow_id, status, priority, state_version, created_at, updated_at "
            "from hub_workflows where ($1::text is null or status = $1) "
            "order by created_at desc limit $2",
            status,
            limit,
        )
        return [
            {
                **dict(r),
                "created_at": r["created_at"].isoformat(),
                "updated_at": r["updated_at"].isoformat(),
            }
            for r in rows
        ]
