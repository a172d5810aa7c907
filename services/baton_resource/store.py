"""The allocator's state in PostgreSQL: one row, locked by every operation.

Reading and validating the whole state on every operation would cost time in proportion
to its size, so the store remembers the allocator it last saved with the version it wrote;
the next operation locks the row, reads only the version, and reuses the allocator when the
version is still its own (no other replica wrote since, and its own write committed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baton_resource.allocator import Allocator
from baton_resource.records import AllocatorState

__all__ = ["ResourceStore"]


class ResourceStore:
    """``resource_state``: allocator state, agent ids per allocation, and a version."""

    def __init__(self, *, build: Callable[[AllocatorState], Allocator]) -> None:
        self._build = build
        self._cached: tuple[int, Allocator, dict[str, list[str]]] | None = None

    async def load(self, conn: Any) -> tuple[int, Allocator, dict[str, list[str]]]:
        """Lock the row; the stored version, the allocator and the agent slots."""
        await conn.execute(
            "insert into resource_state (id, state) values (1, $1) on conflict do nothing",
            AllocatorState().model_dump(mode="json"),
        )
        version = await conn.fetchval("select version from resource_state where id = 1 for update")
        cached = self._cached
        if cached is not None and cached[0] == version:
            return version, cached[1], dict(cached[2])
        self._cached = None
        row = await conn.fetchrow("select state, agent_slots from resource_state where id = 1")
        allocator = self._build(AllocatorState.model_validate(row["state"]))
        return version, allocator, dict(row["agent_slots"])

    async def save(
        self, conn: Any, *, version: int, allocator: Allocator, slots: dict[str, list[str]]
    ) -> None:
        """Write the state as ``version + 1`` and remember it (valid once committed)."""
        await conn.execute(
            "update resource_state set state = $1, agent_slots = $2, version = $3, "
            "updated_at = now() where id = 1",
            allocator.state_json(),
            slots,
            version + 1,
        )
        self._cached = (version + 1, allocator, dict(slots))

    def forget(self) -> None:
        """Drop the remembered allocator (after a failed operation changed it in memory)."""
        self._cached = None
