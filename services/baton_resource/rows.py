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

import orjson

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
    "Named",
    "QueueRow",
    "WorkingSet",
    "allocation_rows",
    "allocations_after",
    "amounts_of",
    "decimal_of",
    "earliest_ends",
    "ensure_pools",
    "lock_head",
    "named",
    "queue_prefix",
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


# The pools (in name order) and then the counters, locked in that order by every change and
# every reader (Append runs its parts one after the other), in one round trip.
_HEAD = """
with pools as (
    select name, used, breached from resource_pools order by name {lock}
), meta as (
    select version, next_seq, allocations, queued, saturation, aging
    from resource_meta where id = 1 {lock}
)
select name, used, breached, null::bigint as version, null::bigint as next_seq,
    null::bigint as allocations, null::bigint as queued, null::jsonb as saturation,
    null::float8 as aging
from pools
union all
select null, null, null, version, next_seq, allocations, queued, saturation, aging from meta
"""
_LOCK_HEAD = _HEAD.format(lock="for update")
_READ_HEAD = _HEAD.format(lock="for share")


def _head(found: Sequence[Any]) -> Head:
    *pools, meta = found
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


async def ensure_pools(conn: Any, names: Iterable[str]) -> None:
    """Rows for the pools ``names`` that have none yet (at start, or a tool not configured)."""
    await conn.execute(
        "insert into resource_pools (name) select unnest($1::text[]) on conflict do nothing",
        sorted(names),
    )


async def lock_head(conn: Any) -> Head:
    """Lock the pool rows (in name order, so that changes never deadlock) and the counters."""
    return _head(await conn.fetch(_LOCK_HEAD))


async def read_head(conn: Any) -> Head:
    """The pools and counters as committed, waiting for a change in progress to end."""
    return _head(await conn.fetch(_READ_HEAD))


def _allocation(row: Any) -> AllocationRow:
    return AllocationRow(
        seq=row["seq"],
        allocation=_allocations(row["record"]),
        agent_ids=list(row["agent_ids"]),
        trace=dict(row["trace"]),
    )


def _queued(row: Any) -> QueueRow:
    return QueueRow(entry=_queued_requests(row["record"]), trace=dict(row["trace"]))


def _targets(columns: str) -> str:
    """Allocations by id ($1), request ($2), workflow ($3), whose lease ended by $4 (null:
    none, since nothing compares with null), or holding one of the files $5; the same one
    may come twice."""
    held = ", ".join("a." + c for c in columns.split(", "))
    return (
        f"select {columns} from resource_allocations where allocation_id = any($1::text[]) "
        f"union all select {columns} from resource_allocations where request_id = any($2) "
        f"union all select {columns} from resource_allocations where workflow_id = any($3) "
        f"union all select {columns} from resource_allocations where lease_deadline <= $4 "
        f"union all select {held} from resource_files f "
        "join resource_allocations a using (allocation_id) where f.file = any($5)"
    )


_TARGETS = _targets(_ALLOCATION)
# What an operation names, in one round trip: the allocations (as _TARGETS), the queued
# requests of the requests and workflows (when $6), the answers to the requests and to
# those of the allocations found, the first $9 (null: all) queued requests in serving order
# whose priority is not one of $8 (when $7), and the $10 allocations expected to end first.
# Rows: kind, the columns of _ALLOCATION, the answer's time, the place in its order.
_NAMED = f"""
with targets as ({_targets("request_id, " + _ALLOCATION)})
select 'allocation' as kind, seq, allocation_id, agent_ids, trace, record,
    null::timestamptz as updated_at, null::bigint as n
from targets
union all select 'queued', null, request_id, null, trace, record::text, null, null
    from resource_queue where $6 and request_id = any($2)
union all select 'queued', null, request_id, null, trace, record::text, null, null
    from resource_queue where $6 and workflow_id = any($3)
union all select 'answer', null, request_id, null, null, response::text, updated_at, null
    from resource_answers
    where request_id = any($2::text[] || array(select request_id from targets))
union all (
    select 'prefix', null, request_id, null, trace, record::text, null,
        row_number() over (order by rank_key desc, seq)
    from resource_queue where $7 and not (priority = any($8::text[]))
    order by rank_key desc, seq limit $9
)
union all (
    select 'end', {_ALLOCATION}, null, row_number() over (order by expected_end, seq)
    from resource_allocations order by expected_end, seq limit $10
)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Named:
    """The rows an operation names (:func:`named`)."""

    allocations: list[AllocationRow]
    """Oldest first, each once."""
    queued: list[QueueRow]
    answers: dict[str, Decision]
    prefix: list[QueueRow]
    """In serving order."""
    ends: list[AllocationRow]
    """Earliest expected end first."""


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
    found = await conn.fetch(_TARGETS, list(ids), list(requests), list(workflows), due, list(files))
    return _unique_allocations(found)


async def named(
    conn: Any,
    *,
    ids: Sequence[str] = (),
    requests: Sequence[str] = (),
    workflows: Sequence[str] = (),
    due: datetime | None = None,
    queued: bool = True,
    prefix: bool = False,
    held: Iterable[str] = (),
    limit: int | None = None,
    ends: int = 0,
) -> Named:
    """In one round trip: allocations as :func:`allocation_rows` finds them; with
    ``queued``, the queued requests by id or by workflow; the answers to ``requests`` and
    to those of the allocations found; with ``prefix``, what :func:`queue_prefix` reads
    (``held``, ``limit``); and the ``ends`` allocations :func:`earliest_ends` reads."""
    found = await conn.fetch(
        _NAMED,
        list(ids),
        list(requests),
        list(workflows),
        due,
        [],
        queued,
        prefix,
        sorted(held),
        limit,
        ends,
    )
    # A queued request's and an answer's id come as allocation_id: a union's columns are
    # named after its first part.
    kinds: dict[str, list[Any]] = {
        "allocation": [],
        "queued": [],
        "answer": [],
        "prefix": [],
        "end": [],
    }
    for row in found:
        kinds[row["kind"]].append(row)
    return Named(
        allocations=_unique_allocations(kinds["allocation"]),
        queued=[_queued(r) for r in {r["allocation_id"]: r for r in kinds["queued"]}.values()],
        answers={
            r["allocation_id"]: Decision.model_validate(
                {"response": orjson.loads(r["record"]), "updated_at": r["updated_at"]}
            )
            for r in kinds["answer"]
        },
        prefix=[_queued(r) for r in sorted(kinds["prefix"], key=_place)],
        ends=[_allocation(r) for r in sorted(kinds["end"], key=_place)],
    )


def _place(row: Any) -> int:
    place: int = row["n"]
    return place


def _unique_allocations(found: Iterable[Any]) -> list[AllocationRow]:
    unique = {r["allocation_id"]: r for r in found}
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
