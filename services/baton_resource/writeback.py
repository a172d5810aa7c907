"""Writing back what an operation changed: rows inserted, deleted, updated; pool totals
moved by the difference; the counters and the version, under the lock the change holds.

The agents of a new allocation are the first free names in configured order; the pools'
totals are exact decimals (``numeric``), so they come back to zero when everything is
released, however many fractional amounts went in and out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from typing import Any

import orjson

from baton_resource import rows
from baton_resource.pools import Amounts
from baton_resource.queue import sort_key
from baton_resource.records import Allocation, AllocatorState
from baton_resource.rows import Head, WorkingSet

__all__ = ["Saved", "save"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Saved:
    """What a change left in the counters."""

    version: int
    used: dict[str, Decimal]
    allocations: int
    queued: int
    agents: dict[str, list[str]]
    """Allocation id → agent ids, for the allocations read and those granted."""


def _delta(into: dict[str, Decimal], allocations: Iterable[Allocation], sign: int) -> None:
    for allocation in allocations:
        for name, value in Amounts.of(allocation.resources).flat().items():
            into[name] = into.get(name, Decimal(0)) + sign * rows.decimal_of(value)


async def save(
    conn: Any,
    head: Head,
    work: WorkingSet,
    after: AllocatorState,
    *,
    traces: Mapping[str, dict[str, str]],
    aging_per_minute: float,
) -> Saved | None:
    """Write what changed from ``work`` to ``after``; None when nothing did.

    Args:
        traces: Workflow id → trace context for the rows it inserts.
        aging_per_minute: The aging the queue's sort keys are computed with.
    """
    before = work.state
    old = {a.allocation_id: a for a in before.allocations}
    now_held = {a.allocation_id: a for a in after.allocations}
    gone = [a for key, a in old.items() if key not in now_held]
    new = [a for key, a in now_held.items() if key not in old]
    renewed = [a for key, a in now_held.items() if key in old and a != old[key]]
    waiting = {q.request.request_id for q in before.queue}
    still = {q.request.request_id for q in after.queue}
    dequeued = sorted(waiting - still)
    enqueued = [q for q in after.queue if q.request.request_id not in waiting]
    answers = [d for rid, d in after.decisions.items() if before.decisions.get(rid) != d]
    breached = frozenset(after.breached)
    if not (
        gone
        or new
        or renewed
        or dequeued
        or enqueued
        or answers
        or breached != head.breached
        or after.saturation != before.saturation
        or after.next_seq != before.next_seq
    ):
        return None
    if gone:
        # Files go with them; their agents become free (on delete set null) before the
        # new allocations pick theirs: a statement of its own.
        await conn.execute(
            "delete from resource_allocations where allocation_id = any($1::text[])",
            [a.allocation_id for a in gone],
        )
    delta: dict[str, Decimal] = {}
    _delta(delta, new, 1)
    _delta(delta, gone, -1)
    moved = {name: value for name, value in delta.items() if value}
    pools = sorted(
        name
        for name in {*head.used, *breached, *moved}
        if name in moved or (name in breached) != (name in head.breached)
    )
    unknown = [name for name in pools if name not in head.used]
    if unknown:  # pools not configured (a tool): their rows first
        await rows.ensure_pools(conn, unknown)
    # How many agents the new allocations before each take: where its own start.
    firsts = accumulate((a.resources.agents for a in new), initial=0)
    files = [(f, a.allocation_id) for a in new for f in dict.fromkeys(a.resources.exclusive_files)]
    row = await conn.fetchrow(
        _WRITE,
        *_columns(
            [
                (
                    a.allocation_id,
                    a.request_id,
                    a.workflow_id,
                    a.expected_end,
                    a.lease_deadline,
                    first,
                    a.resources.agents,
                    _json(traces.get(a.workflow_id, {})),
                    a.model_dump_json(),
                )
                for a, first in zip(new, firsts, strict=False)
            ],
            9,
        ),
        *_columns(files, 2),
        *_columns(
            [
                (
                    a.allocation_id,
                    a.expected_end,
                    a.lease_deadline,
                    a.model_dump_json(),
                )
                for a in renewed
            ],
            4,
        ),
        dequeued,
        *_columns(
            [
                (
                    q.request.request_id,
                    q.request.workflow_id,
                    q.request.priority,
                    q.request.resources.agents,
                    q.queued_at,
                    sort_key(
                        priority=q.request.priority,
                        queued_at=q.queued_at,
                        aging_per_minute=aging_per_minute,
                    ),
                    q.seq,
                    _json(traces.get(q.request.workflow_id, {})),
                    q.model_dump_json(),
                )
                for q in enqueued
            ],
            9,
        ),
        *_columns(
            [(d.response.request_id, d.updated_at, d.response.model_dump_json()) for d in answers],
            3,
        ),
        pools,
        [moved.get(name, Decimal(0)) for name in pools],
        [name in breached for name in pools],
        after.next_seq,
        len(new) - len(gone),
        len(enqueued) - len(dequeued),
        None if after.saturation is None else after.saturation.model_dump(mode="json"),
    )
    agents = {**work.agents, **row["agents"]}
    used = dict(head.used)
    for name, value in moved.items():
        used[name] = used.get(name, Decimal(0)) + value
    for allocation in gone:
        agents.pop(allocation.allocation_id, None)
    return Saved(
        version=row["version"],
        used=used,
        allocations=row["allocations"],
        queued=row["queued"],
        agents=agents,
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _columns(values: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` column lists (what ``unnest`` takes), empty ones for no rows."""
    if not values:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*values, strict=True)]


# Everything but the deletion of allocations, in one round trip: each part writes nothing
# for empty columns. The new allocations take the first free agents in configured order
# (``first``: how many the allocations before it take).
_WRITE = """
with new as (
    select * from unnest(
        $1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
        $6::int[], $7::int[], $8::text[], $9::text[]
    ) as n(allocation_id, request_id, workflow_id, expected_end, lease_deadline,
           first, wanted, trace, record)
), free as (
    select agent_id, row_number() over (order by position) as n from (
        select agent_id, position from resource_agents
        where allocation_id is null and position is not null
        order by position limit (select coalesce(sum(wanted), 0) from new)
    ) f
), inserted as (
    insert into resource_allocations (allocation_id, request_id, workflow_id,
        expected_end, lease_deadline, agent_ids, trace, record)
    select allocation_id, request_id, workflow_id, expected_end, lease_deadline,
        array(select agent_id from free where free.n > new.first
              and free.n <= new.first + new.wanted order by free.n),
        trace::jsonb, record::jsonb
    from new
    returning allocation_id, agent_ids
), taken as (
    update resource_agents a set allocation_id = i.allocation_id
    from inserted i where a.agent_id = any(i.agent_ids)
), held as (
    insert into resource_files (file, allocation_id)
    select * from unnest($10::text[], $11::text[])
), renewed as (
    update resource_allocations a
    set expected_end = r.expected_end, lease_deadline = r.lease_deadline,
        record = r.record::jsonb
    from unnest($12::text[], $13::timestamptz[], $14::timestamptz[], $15::text[])
        as r(allocation_id, expected_end, lease_deadline, record)
    where a.allocation_id = r.allocation_id
), dequeued as (
    delete from resource_queue where request_id = any($16::text[])
), enqueued as (
    insert into resource_queue (request_id, workflow_id, priority, agents, queued_at,
        rank_key, seq, trace, record)
    select request_id, workflow_id, priority, agents, queued_at, rank_key, seq,
        trace::jsonb, record::jsonb
    from unnest($17::text[], $18::text[], $19::text[], $20::int[], $21::timestamptz[],
        $22::float8[], $23::bigint[], $24::text[], $25::text[])
        as q(request_id, workflow_id, priority, agents, queued_at, rank_key, seq, trace,
             record)
), answered as (
    insert into resource_answers (request_id, updated_at, response)
    select request_id, updated_at, response::jsonb
    from unnest($26::text[], $27::timestamptz[], $28::text[])
        as d(request_id, updated_at, response)
    on conflict (request_id) do update
    set updated_at = excluded.updated_at, response = excluded.response
), pools as (
    update resource_pools p set used = p.used + d.delta, breached = d.breached
    from unnest($29::text[], $30::numeric[], $31::bool[]) as d(name, delta, breached)
    where p.name = d.name
), counters as (
    update resource_meta set version = version + 1, next_seq = $32,
        allocations = allocations + $33, queued = queued + $34, saturation = $35
    where id = 1 returning version, allocations, queued
)
select version, allocations, queued,
    coalesce((select jsonb_object_agg(allocation_id, agent_ids) from inserted), '{}') as agents
from counters
"""
