"""Workflow states in PostgreSQL, read and written inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from baton.protocol.event import Event
from baton.runtime import Outbox
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

    async def read_many(
        self, conn: Any, *, event_ids: list[str], workflow_ids: list[str]
    ) -> tuple[set[str], dict[str, WorkflowState]]:
        """In one round trip, without locks: which of ``event_ids`` the hub's ledger has
        already, and the states of the hub's workflows among ``workflow_ids``."""
        rows = await conn.fetch(
            "select null::jsonb as state, array(select event_id from baton_processed "
            "where consumer = 'hub' and event_id = any($1::text[])) as seen "
            "union all select state, null from hub_workflows where workflow_id = any($2::text[])",
            event_ids,
            workflow_ids,
        )
        seen: set[str] = set()
        states: dict[str, WorkflowState] = {}
        for row in rows:
            if row["seen"] is not None:
                seen.update(row["seen"])
            else:
                state = WorkflowState.model_validate(row["state"])
                states[state.workflow_id] = state
        return seen, states

    async def write_many(
        self,
        conn: Any,
        *,
        event_ids: list[str],
        changed: list[tuple[WorkflowState, int]],
        kept: dict[str, int],
        outbox: Outbox,
        queued: list[tuple[Event, str | None]],
    ) -> None:
        """Write what :meth:`read_many`'s rows led to, in one statement (one round trip, no
        transaction around it), only if nothing else wrote them since: ``event_ids`` into the
        ledger (none of them may be there yet), each ``(state, version it was computed
        from)`` of ``changed`` over that version, ``queued`` into ``outbox``; and the
        workflows of ``kept`` (read, not changed) must still have their version.

        Raises:
            WriteConflictError: another replica applied one of the events or changed one of
                the workflows meanwhile; nothing was written.
        """
        await conn.execute(
            "with fresh as (insert into baton_processed (consumer, event_id) "
            "select 'hub', id from unnest($1::text[]) as e (id) order by id "
            "on conflict do nothing returning 1), "
            "changed as (update hub_workflows w set status = u.status, "
            "state_version = u.version, state = u.state, updated_at = now() "
            "from unnest($2::text[], $3::text[], $4::int[], $5::jsonb[], $6::int[]) "
            "as u (workflow_id, status, version, state, was) "
            "where w.workflow_id = u.workflow_id and w.state_version = u.was returning 1), "
            f"queued as ({outbox.insert_statement(first=9)}) "
            "select baton_expect((select count(*) from fresh) = cardinality($1::text[]) "
            "and (select count(*) from changed) = cardinality($2::text[]) "
            "and (select count(*) from hub_workflows w join unnest($7::text[], $8::int[]) "
            "as k (workflow_id, version) on w.workflow_id = k.workflow_id "
            "and w.state_version = k.version) = cardinality($7::text[]), "
            "'hub: workflows or events applied meanwhile')",
            event_ids,
            [s.workflow_id for s, _ in changed],
            [s.status for s, _ in changed],
            [s.state_version for s, _ in changed],
            [s.model_dump(mode="json") for s, _ in changed],
            [was for _, was in changed],
            list(kept),
            list(kept.values()),
            *outbox.columns(queued),
        )

    async def insert(
        self,
        conn: Any,
        state: WorkflowState,
        *,
        outbox: Outbox | None = None,
        queued: list[tuple[Event, str | None]] | None = None,
    ) -> bool:
        """Store a new workflow, with ``queued`` into ``outbox`` in the same statement;
        False when the id is taken (the events are queued all the same: the caller's
        transaction must then roll back)."""
        events = ""
        columns: list[list[Any]] = []
        if outbox is not None and queued:
            events = f", queued as ({outbox.insert_statement(first=6)})"
            columns = outbox.columns(queued)
        done = await conn.fetchval(
            "with created as (insert into hub_workflows (workflow_id, status, priority, "
            "state_version, state) values ($1, $2, $3, $4, $5) on conflict do nothing "
            f"returning 1){events} select count(*) from created",
            state.workflow_id,
            state.status,
            state.definition.priority,
            state.state_version,
            state.model_dump(mode="json"),
            *columns,
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
