"""The allocator's state in PostgreSQL: one row, locked by every operation.

Reading and validating the whole state on every operation would cost time in proportion
to its size, so the store remembers the allocator it last saved with the version it wrote;
the next operation locks the row, reads only the version, and reuses the allocator when the
version is still its own (no other replica wrote since, and its own write committed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from baton_resource.allocator import Allocator
from baton_resource.records import AllocatorState

__all__ = ["Loaded", "ResourceStore"]


class Loaded(NamedTuple):
    """The stored state, as one operation reads it."""

    version: int
    allocator: Allocator
    slots: dict[str, list[str]]
    """Allocation id → agent ids it holds."""
    traces: dict[str, dict[str, str]]
    """Workflow id → its trace context, while it holds or waits for resources."""


class ResourceStore:
    """``resource_state``: allocator state, agent ids per allocation, workflows' trace
    contexts, and a version."""

    def __init__(self, *, build: Callable[[AllocatorState], Allocator]) -> None:
        self._build = build
        self._cached: Loaded | None = None

    async def load(self, conn: Any) -> Loaded:
        """Lock the row; the stored version, the allocator, agent slots and traces."""
        await conn.execute(
            "insert into resource_state (id, state) values (1, $1) on conflict do nothing",
            AllocatorState().model_dump(mode="json"),
        )
        version = await conn.fetchval("select version from resource_state where id = 1 for update")
        cached = self._cached
        if cached is not None and cached.version == version:
            return cached._replace(slots=dict(cached.slots), traces=dict(cached.traces))
        self._cached = None
        row = await conn.fetchrow(
            "select state, agent_slots, traces from resource_state where id = 1"
        )
        allocator = self._build(AllocatorState.model_validate(row["state"]))
        return Loaded(version, allocator, dict(row["agent_slots"]), dict(row["traces"]))

    async def save(
        self,
        conn: Any,
        *,
        version: int,
        allocator: Allocator,
        slots: dict[str, list[str]],
        traces: dict[str, dict[str, str]],
    ) -> None:
        """Write the state as ``version + 1`` and remember it (valid once committed).

        Traces of workflows that neither hold nor wait for anything are dropped.
        """
        state = allocator.state_json()
        present = {a["workflow_id"] for a in state["allocations"]} | {
            q["request"]["workflow_id"] for q in state["queue"]
        }
        traces = {w: t for w, t in traces.items() if w in present}
        await conn.execute(
            "update resource_state set state = $1, agent_slots = $2, traces = $3, "
            "version = $4, updated_at = now() where id = 1",
            state,
            slots,
            traces,
            version + 1,
        )
        self._cached = Loaded(version + 1, allocator, dict(slots), traces)

    def forget(self) -> None:
        """Drop the remembered allocator (after a failed operation changed it in memory)."""
        self._cached = None
