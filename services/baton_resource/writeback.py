"""Writing back what an operation changed: rows inserted, deleted, updated; pool totals
moved by the difference; the counters and the version, under the lock the change holds.

The agents of a new allocation are the first free names in configured order; the pools'
totals are exact decimals (``numeric``), so they come back to zero when everything is
released, however many fractional amounts went in and out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from baton_resource import rows
from baton_resource.pools import Amounts
from baton_resource.queue import sort_key
from baton_resource.records import Allocation, AllocatorState, QueuedRequest
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
    agents = dict(work.agents)
    if gone:
        # Files go with them; their agents become free (on delete set null).
        await conn.execute(
            "delete from resource_allocations where allocation_id = any($1::text[])",
            [a.allocation_id for a in gone],
        )
    if new:
        agents.update(await _insert(conn, new, traces=traces))
    if renewed:
        await conn.executemany(
            "update resource_allocations set expected_end = $2, lease_deadline = $3, "
            "record = $4 where allocation_id = $1",
            [
                (a.allocation_id, a.expected_end, a.lease_deadline, a.model_dump(mode="json"))
                for a in renewed
            ],
        )
    if dequeued:
        await conn.execute(
            "delete from resource_queue where request_id = any($1::text[])", dequeued
        )
    if enqueued:
        await _enqueue(conn, enqueued, traces=traces, aging_per_minute=aging_per_minute)
    if answers:
        await conn.executemany(
            "insert into resource_answers (request_id, updated_at, response) "
            "values ($1, $2, $3) on conflict (request_id) do update "
            "set updated_at = excluded.updated_at, response = excluded.response",
            [
                (d.response.request_id, d.updated_at, d.response.model_dump(mode="json"))
                for d in answers
            ],
        )
    delta: dict[str, Decimal] = {}
    _delta(delta, new, 1)
    _delta(delta, gone, -1)
    moved = {name: value for name, value in delta.items() if value}
    if moved:
        await _pools(conn, [name for name in moved if name not in head.used])
        await conn.execute(
            "update resource_pools p set used = p.used + d.delta "
            "from unnest($1::text[], $2::numeric[]) d(name, delta) where p.name = d.name",
            list(moved),
            list(moved.values()),
        )
    if breached != head.breached:
        await _pools(conn, [name for name in breached if name not in head.used])
        await conn.execute(
            "update resource_pools set breached = (name = any($1::text[])) "
            "where breached <> (name = any($1::text[]))",
            sorted(breached),
        )
    counters = await conn.fetchrow(
        "update resource_meta set version = version + 1, next_seq = $1, "
        "allocations = allocations + $2, queued = queued + $3, saturation = $4 "
        "where id = 1 returning version, allocations, queued",
        after.next_seq,
        len(new) - len(gone),
        len(enqueued) - len(dequeued),
        None if after.saturation is None else after.saturation.model_dump(mode="json"),
    )
    used = dict(head.used)
    for name, value in moved.items():
        used[name] = used.get(name, Decimal(0)) + value
    for allocation in gone:
        agents.pop(allocation.allocation_id, None)
    return Saved(
        version=counters["version"],
        used=used,
        allocations=counters["allocations"],
        queued=counters["queued"],
        agents=agents,
    )


async def _pools(conn: Any, names: list[str]) -> None:
    """Rows for pools that have none yet (a tool not configured)."""
    if names:
        await conn.execute(
            "insert into resource_pools (name) select unnest($1::text[]) on conflict do nothing",
            sorted(names),
        )


async def _insert(
    conn: Any, new: list[Allocation], *, traces: Mapping[str, dict[str, str]]
) -> dict[str, list[str]]:
    """Insert granted allocations, each with the first free agent names it needs."""
    wanted = sum(a.resources.agents for a in new)
    free: list[str] = []
    if wanted:
        free = list(
            await conn.fetchval(
                "select coalesce(array_agg(agent_id order by position), '{}') from ("
                "select agent_id, position from resource_agents "
                "where allocation_id is null and position is not null "
                "order by position limit $1) f",
                wanted,
            )
        )
    names: dict[str, list[str]] = {}
    for allocation in new:
        count = allocation.resources.agents
        names[allocation.allocation_id], free = free[:count], free[count:]
    await conn.executemany(
        "insert into resource_allocations (allocation_id, request_id, workflow_id, "
        "expected_end, lease_deadline, agent_ids, trace, record) "
        "values ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (
                a.allocation_id,
                a.request_id,
                a.workflow_id,
                a.expected_end,
                a.lease_deadline,
                names[a.allocation_id],
                dict(traces.get(a.workflow_id, {})),
                a.model_dump(mode="json"),
            )
            for a in new
        ],
    )
    taken = [(agent, key) for key, agents in names.items() for agent in agents]
    if taken:
        await conn.execute(
            "update resource_agents set allocation_id = d.allocation_id "
            "from unnest($1::text[], $2::text[]) d(agent_id, allocation_id) "
            "where resource_agents.agent_id = d.agent_id",
            [agent for agent, _ in taken],
            [key for _, key in taken],
        )
    held = [(f, a.allocation_id) for a in new for f in dict.fromkeys(a.resources.exclusive_files)]
    if held:
        await conn.execute(
            "insert into resource_files (file, allocation_id) "
            "select * from unnest($1::text[], $2::text[])",
            [f for f, _ in held],
            [key for _, key in held],
        )
    return names


async def _enqueue(
    conn: Any,
    entries: list[QueuedRequest],
    *,
    traces: Mapping[str, dict[str, str]],
    aging_per_minute: float,
) -> None:
    aging = aging_per_minute
    await conn.executemany(
        "insert into resource_queue (request_id, workflow_id, priority, agents, queued_at, "
        "rank_key, seq, trace, record) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (
                q.request.request_id,
                q.request.workflow_id,
                q.request.priority,
                q.request.resources.agents,
                q.queued_at,
                sort_key(
                    priority=q.request.priority, queued_at=q.queued_at, aging_per_minute=aging
                ),
                q.seq,
                dict(traces.get(q.request.workflow_id, {})),
                q.model_dump(mode="json"),
            )
            for q in entries
        ],
    )
