"""The allocator's state in PostgreSQL: one row, locked by every operation."""

from __future__ import annotations

from typing import Any

from baton_resource.records import AllocatorState

__all__ = ["ResourceStore"]


class ResourceStore:
    """``resource_state``: the allocator state and the agent ids each allocation holds."""

    async def load(self, conn: Any) -> tuple[AllocatorState, dict[str, list[str]]]:
        """The state, locked until the transaction ends (created empty on first use)."""
        await conn.execute(
            "insert into resource_state (id, state) values (1, $1) on conflict do nothing",
            AllocatorState().model_dump(mode="json"),
        )
        row = await conn.fetchrow(
            "select state, agent_slots from resource_state where id = 1 for update"
        )
        return AllocatorState.model_validate(row["state"]), dict(row["agent_slots"])

    async def save(self, conn: Any, state: AllocatorState, slots: dict[str, list[str]]) -> None:
        await conn.execute(
            "update resource_state set state = $1, agent_slots = $2, updated_at = now() "
            "where id = 1",
            state.model_dump(mode="json"),
            slots,
        )
