"""The resource manager's tables, row by row (migration ``0004_rows``).

Every query here reads rows by key or by an index in order, never a whole table, except
those that run once at start (agents, sort keys) and the pools (one row per pool).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from baton_resource.parsed import Parsed
from baton_resource.pools import Amounts
from baton_resource.records import (
    Allocation,
    AllocatorState,
    Decision,
    QueuedRequest,
    SaturationHold,
)
from baton_resource.window import Window

__all__ = [
    "AllocationRow",
    "Head",
    "QueueRow",
    "WorkingSet",
    "allocation_rows",
    "allocations_after",
    "amounts_of",
    "answers",
    "decimal_of",
    "earliest_ends",
    "lock_head",
    "queue_prefix",
    "queue_rows",
    "read_head",
]

# Records are read as their JSON text: a text read before is not parsed again (module parsed).
_ALLOCATION = "seq, allocation_id, agent_ids, trace, record::text as record"
_QUEUE = "request_id, trace, record::text as record"
_PARSED_LIMIT = 1024
_allocations = Parsed(Allocation, limit=_PARSED_LIMIT)
_queued_requests = Parsed(QueuedRequest, limit=_PARSED_LIMIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """The pool rows and the counters: what every change locks first."""

    used: dict[str, Decimal]
    """Pool name → what the allocations hold in it."""
    breached: frozenset[str]
    """Pools at or above their threshold."""
    version: int
    next_seq: int
    allocations: int
    queued: int
    saturation: SaturationHold | None
    aging: float | None
    """The aging the queue's sort keys were computed with."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingSet:
    """The rows one run of an operation sees, as allocator state."""

    state: AllocatorState
    window: Window
    agents: dict[str, list[str]]
    """Allocation id → agent ids, for the allocations read."""
    traces: dict[str, dict[str, str]]
    """Workflow id → its trace context, from the rows read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationRow:
    """An allocation as stored."""

    seq: int
    allocation: Allocation
    agent_ids: list[str]
    trace: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRow:
    """A queued request as stored."""

    entry: QueuedRequest
    trace: dict[str, str]


def decimal_of(value: float) -> Decimal:
    """A float as the decimal it prints as (so that sums stay exact in PostgreSQL)."""
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def amounts_of(used: Mapping[str, Decimal]) -> Amounts:
    """Pool totals as an amount (tools with nothing held left out, as in a sum)."""
    tools = {
        name.removeprefix("tool_instances."): int(value)
        for name, value in sorted(used.items())
        if name.startswith("tool_instances.") and value
    }
    return Amounts(
        agents=int(used.get("agents", 0)),
        memory_gb=float(used.get("memory_gb", 0)),
        cpu_cores=float(used.get("cpu_cores", 0)),
        tool_instances=tools,
    )


async def _head(conn: Any, *, lock: str) -> Head:
    pools = await conn.fetch(
        f"select name, used, breached from resource_pools order by name {lock}"
    )
    meta = await conn.fetchrow(f"select * from resource_meta where id = 1 {lock}")
    saturation = meta["saturation"]
    return Head(
        used={r["name"]: r["used"] for r in pools},
        breached=frozenset(r["name"] for r in pools if r["breached"]),
        version=meta["version"],
        next_seq=meta["next_seq"],
        allocations=meta["allocations"],
        queued=meta["queued"],
        saturation=None if saturation is None else SaturationHold.model_validate(saturation),
        aging=meta["aging"],
    )


async def lock_head(conn: Any) -> Head:
    """Lock the pool rows (in name order, so that changes never deadlock) and the counters."""
    return await _head(conn, lock="for update")


async def read_head(conn: Any) -> Head:
    """The pools and counters as committed, waiting for a change in progress to end."""
    return await _head(conn, lock="for share")


def _allocation(row: Any) -> AllocationRow:
    return AllocationRow(
        seq=row["seq"],
        allocation=_allocations(row["record"]),
        agent_ids=list(row["agent_ids"]),
        trace=dict(row["trace"]),
    )


def _queued(row: Any) -> QueueRow:
    return QueueRow(entry=_queued_requests(row["record"]), trace=dict(row["trace"]))


async def allocation_rows(
    conn: Any,
    *,
    ids: Sequence[str] = (),
    requests: Sequence[str] = (),
    workflows: Sequence[str] = (),
    files: Sequence[str] = (),
    due: datetime | None = None,
) -> list[AllocationRow]:
    """Allocations by id, by request, by workflow, holding one of ``files``, or whose lease
    ended by ``due``; each once, oldest first."""
    rows = await conn.fetch(
        f"select {_ALLOCATION} from resource_allocations where allocation_id = any($1::text[]) "
        f"union all select {_ALLOCATION} from resource_allocations where request_id = any($2) "
        f"union all select {_ALLOCATION} from resource_allocations where workflow_id = any($3) "
        f"union all select {_ALLOCATION} from resource_allocations where lease_deadline <= $4 "
        f"union all select {', '.join('a.' + c for c in _ALLOCATION.split(', '))} "
        "from resource_files f join resource_allocations a using (allocation_id) "
        "where f.file = any($5)",
        list(ids),
        list(requests),
        list(workflows),
        due,  # None: none (nothing compares with null)
        list(files),
    )
    unique = {r["allocation_id"]: r for r in rows}
    return sorted((_allocation(r) for r in unique.values()), key=lambda r: r.seq)


async def allocations_after(conn: Any, *, after: int, limit: int) -> list[AllocationRow]:
    """Up to ``limit`` allocations granted after the one numbered ``after``, oldest first."""
    rows = await conn.fetch(
        f"select {_ALLOCATION} from resource_allocations where seq > $1 order by seq limit $2",
        after,
        limit,
    )
    return [_allocation(r) for r in rows]


async def earliest_ends(conn: Any, *, limit: int) -> list[AllocationRow]:
    """The ``limit`` allocations expected to end first."""
    rows = await conn.fetch(
        f"select {_ALLOCATION} from resource_allocations order by expected_end, seq limit $1",
        limit,
    )
    return [_allocation(r) for r in rows]


async def queue_prefix(
    conn: Any, *, held: Iterable[str], limit: int | None, no_agents: bool = False
) -> list[QueueRow]:
    """The first ``limit`` (None: all) queued requests in serving order whose priority is
    not ``held``; with ``no_agents``, every such request that needs no agent instead."""
    where = "agents = 0 and " if no_agents else ""
    rows = await conn.fetch(
        f"select {_QUEUE} from resource_queue where {where}not (priority = any($1::text[])) "
        "order by rank_key desc, seq limit $2",
        sorted(held),
        None if no_agents else limit,
    )
    return [_queued(r) for r in rows]


async def queue_rows(
    conn: Any, *, requests: Sequence[str] = (), workflows: Sequence[str] = ()
) -> list[QueueRow]:
    """Queued requests by id or by workflow."""
    rows = await conn.fetch(
        f"select {_QUEUE} from resource_queue where request_id = any($1::text[]) "
        f"union all select {_QUEUE} from resource_queue where workflow_id = any($2)",
        list(requests),
        list(workflows),
    )
    return [_queued(r) for r in {r["request_id"]: r for r in rows}.values()]


async def answers(conn: Any, *, requests: Iterable[str]) -> dict[str, Decision]:
    """The latest answers to ``requests`` that are kept."""
    rows = await conn.fetch(
        "select request_id, updated_at, response from resource_answers "
        "where request_id = any($1::text[])",
        sorted(set(requests)),
    )
    return {
        r["request_id"]: Decision.model_validate(
            {"response": r["response"], "updated_at": r["updated_at"]}
        )
        for r in rows
    }
