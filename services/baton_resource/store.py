"""The allocator's state in PostgreSQL: a row per pool, allocation, queued request, answer.

An operation locks the pool rows (:func:`~baton_resource.rows.lock_head`), loads the rows
it needs as a working set (:meth:`ResourceStore.load`), lets the pure allocator decide on
it (:mod:`~baton_resource.window` says why a part is enough, and when it is not), and
writes back what changed (:meth:`ResourceStore.save`): rows inserted, deleted or updated,
the pools' totals moved by the difference, and the counters. So the cost of an operation
follows what it reads and changes, never the number of allocations, queued requests or
answers kept.

Replicas: every change locks the same pool rows first, in name order, so changes are
serialised across replicas (and never deadlock) and each sees the last one committed. A
finer lock (only the pools a request needs) would not be correct: the queue is one order
across every pool, a release serves it (granting in any pool), and a new head moves the
reservation between pools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from baton.protocol.messages import AllocationRequest
from baton_resource import rows
from baton_resource.config import ResourceConfig
from baton_resource.pools import Amounts, total
from baton_resource.queue import sort_key
from baton_resource.records import AllocatorState
from baton_resource.rows import AllocationRow, Head, QueueRow, WorkingSet
from baton_resource.window import Missing, Unseen, Window
from baton_resource.writeback import Saved, save

__all__ = ["HOLDINGS_START", "PREFIX_START", "Needs", "ResourceStore"]

PREFIX_START = 16
"""Queued requests read first when the queue may be served (eight times more while that is
not enough)."""
HOLDINGS_START = 64
"""Allocations read first, earliest end first, for an estimated start (eight times more
while that is not enough)."""
_PREFIX_ALL = 4096
"""A prefix this long is read as the whole queue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Needs:
    """The rows an operation needs."""

    requests: tuple[str, ...] = ()
    """Answers to these requests, and their allocations or queue entries."""
    allocations: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    """Everything these workflows hold or wait for."""
    due: bool = False
    """The allocations whose lease has ended."""
    files: tuple[str, ...] = ()
    """The holders of these files (those of queued files are always read)."""
    queue: int | None = 0
    """The first N admissible queued requests (and those needing no agent); None: all."""
    whole_order: bool = False
    """Read the prefix regardless of saturation (the operation may change it)."""
    holdings: int = 0
    """The N allocations expected to end first."""

    def wider(self, missing: Missing) -> Needs:
        """What to read after the allocator said it lacked ``missing``."""
        if missing is Missing.HOLDINGS:
            return replace(self, holdings=max(HOLDINGS_START, self.holdings * 8))
        if missing is Missing.QUEUE or self.queue is None or self.queue * 8 >= _PREFIX_ALL:
            # Positions and estimated starts come next: allocations' ends too.
            return replace(self, queue=None, holdings=max(HOLDINGS_START, self.holdings))
        return replace(self, queue=max(PREFIX_START, self.queue * 8))

    @classmethod
    def arrival(cls, request: AllocationRequest, *, free_agents: int) -> Needs:
        """What answering a new allocation request needs.

        The head of the queue is enough when the request is granted at once (module
        ``window``). With no agent free it cannot be, when it needs one: it waits or is
        denied, and either answer takes the whole queue and the earliest ends (its position
        and estimated start), so those are read at once, not after a run on the head alone.
        """
        needs = cls(
            requests=(request.request_id,),
            workflows=(request.workflow_id,),
            files=tuple(request.resources.exclusive_files),
            queue=1,
        )
        if request.resources.agents > 0 and free_agents <= 0:
            return needs.wider(Missing.QUEUE)
        return needs

    @classmethod
    def serving(cls, **fields: Any) -> Needs:
        """What an operation that may serve the queue needs: a prefix of it, and ``fields``."""
        return cls(queue=PREFIX_START, **fields)


class ResourceStore:
    """Reads working sets and writes back changes (see the module docstring)."""

    def __init__(self, *, config: ResourceConfig) -> None:
        self.config = config

    def held(self, head: Head) -> frozenset[str]:
        """Priorities the queue skips now (saturated, and feedback on)."""
        return self.config.hold_when_saturated if head.saturation is not None else frozenset()

    async def load(self, conn: Any, head: Head, needs: Needs, *, now: datetime) -> WorkingSet:
        """The rows ``needs`` names, under the lock ``head`` holds."""
        held = frozenset() if needs.whole_order else self.held(head)
        # The prefix of the queue: all of it (None), or the first N admissible requests.
        read_prefix = head.queued > 0 and (needs.queue is None or needs.queue > 0)
        found = await rows.named(
            conn,
            ids=needs.allocations,
            requests=needs.requests,
            workflows=needs.workflows,
            due=now if needs.due else None,
            # The whole queue, when read, holds those of the requests and workflows named.
            queued=needs.queue is not None,
            prefix=read_prefix,
            held=() if needs.queue is None else held,
            limit=needs.queue,
            ends=needs.holdings,
        )
        prefix = found.prefix
        admissible_complete = needs.queue is None
        queue: dict[str, QueueRow] = {}
        if read_prefix and needs.queue is not None:
            admissible_complete = len(prefix) < needs.queue
            if not admissible_complete:
                queue.update(
                    _by_id(await rows.queue_prefix(conn, held=held, limit=None, no_agents=True))
                )
        queue.update(_by_id(prefix))
        queue.update(_by_id(found.queued))
        return await self._assemble(
            conn,
            head,
            targets=found.allocations,
            queue=list(queue.values()),
            prefix=prefix,
            admissible_complete=admissible_complete,
            files=needs.files,
            holdings=needs.holdings,
            ends=found.ends,
            answers=found.answers,
            now=now,
        )

    async def load_page(
        self, conn: Any, head: Head, *, queue: int, holdings: int, now: datetime
    ) -> WorkingSet:
        """The first ``queue`` queued requests in serving order, for a status."""
        first = await rows.queue_prefix(conn, held=(), limit=queue)
        return await self._assemble(
            conn,
            head,
            targets=[],
            queue=first,
            prefix=first,
            admissible_complete=False,
            files=(),
            holdings=holdings,
            ends=await rows.earliest_ends(conn, limit=holdings) if holdings else [],
            answers={},
            now=now,
        )

    async def _assemble(
        self,
        conn: Any,
        head: Head,
        *,
        targets: list[AllocationRow],
        queue: list[QueueRow],
        prefix: list[QueueRow],
        admissible_complete: bool,
        files: Iterable[str],
        holdings: int,
        ends: list[AllocationRow],
        answers: Mapping[str, Any],
        now: datetime,
    ) -> WorkingSet:
        """Add the holders of every file in question and the earliest ends (``holdings``
        asked, ``ends`` read); the window."""
        wanted = set(files)
        for waiting in queue:
            wanted.update(waiting.entry.request.resources.exclusive_files)
        loaded = {r.allocation.allocation_id: r for r in targets}
        holders = await rows.allocation_rows(conn, files=sorted(wanted)) if wanted else []
        for row in [*holders, *ends]:
            loaded.setdefault(row.allocation.allocation_id, row)
        seen = sorted(loaded.values(), key=lambda r: r.seq)
        unseen = None
        everything = holdings > 0 and len(ends) < holdings
        if head.allocations > len(seen) and not everything:
            mine = total(Amounts.of(r.allocation.resources) for r in seen)
            # Not yet loaded ones end no earlier than the last of the earliest ends read.
            bound = max(now, ends[-1].allocation.expected_end) if ends else now
            unseen = Unseen(amounts=rows.amounts_of(head.used).minus(mine), ends_at=bound)
        queue_complete = len(queue) >= head.queued
        traces: dict[str, dict[str, str]] = {}
        for workflow_id, trace in [
            *((r.allocation.workflow_id, r.trace) for r in seen),
            *((q.entry.request.workflow_id, q.trace) for q in queue),
        ]:
            if trace:
                traces.setdefault(workflow_id, trace)
        state = AllocatorState(
            allocations=[r.allocation for r in seen],
            queue=[q.entry for q in queue],
            decisions=dict(answers),
            breached=sorted(head.breached),
            next_seq=head.next_seq,
            saturation=head.saturation,
        )
        window = Window(
            unseen=unseen,
            queue_complete=queue_complete,
            admissible_complete=admissible_complete or queue_complete,
            prefix=frozenset(q.entry.request.request_id for q in prefix),
        )
        agents = {r.allocation.allocation_id: r.agent_ids for r in seen}
        return WorkingSet(state=state, window=window, agents=agents, traces=traces)

    async def save(
        self,
        conn: Any,
        head: Head,
        work: WorkingSet,
        after: AllocatorState,
        *,
        traces: Mapping[str, dict[str, str]],
    ) -> Saved | None:
        """Write what changed from ``work`` to ``after`` (see :mod:`~baton_resource.writeback`)."""
        return await save(
            conn,
            head,
            work,
            after,
            traces=traces,
            aging_per_minute=self.config.aging_per_minute,
        )

    # -- start, status, upkeep ---------------------------------------------------------

    async def create(self, conn: Any) -> None:
        """Make sure the counters and the configured pools have their rows."""
        await conn.execute("insert into resource_meta (id) values (1) on conflict do nothing")
        await rows.ensure_pools(conn, self.config.pools.capacity.flat())

    async def align(self, conn: Any, head: Head) -> None:
        """Under the lock, at start: agent rows for the configured names, and the queue's
        sort keys for the configured aging (once it changed). Both follow the settings, not
        the history: the queue is what waits now."""
        names = self.config.agent_names()
        await conn.execute(
            "update resource_agents set position = null "
            "where position is not null and not (agent_id = any($1::text[]))",
            names,
        )
        await conn.execute(
            "insert into resource_agents (agent_id, position) "
            "select * from unnest($1::text[], $2::int[]) "
            "on conflict (agent_id) do update set position = excluded.position",
            names,
            list(range(len(names))),
        )
        await conn.execute(
            "delete from resource_agents where position is null and allocation_id is null"
        )
        aging = self.config.aging_per_minute
        if head.aging == aging:
            return
        waiting = await conn.fetch("select request_id, priority, queued_at from resource_queue")
        await conn.executemany(
            "update resource_queue set rank_key = $2 where request_id = $1",
            [
                (
                    r["request_id"],
                    sort_key(
                        priority=r["priority"], queued_at=r["queued_at"], aging_per_minute=aging
                    ),
                )
                for r in waiting
            ],
        )
        await conn.execute("update resource_meta set aging = $1 where id = 1", aging)

    async def page(self, conn: Any, *, limit: int, after: int) -> tuple[list[AllocationRow], bool]:
        """Allocations after cursor ``after`` (oldest first), and whether more follow."""
        found = await rows.allocations_after(conn, after=after, limit=limit + 1)
        return found[:limit], len(found) > limit

    async def due(self, conn: Any, *, now: datetime) -> bool:
        """Whether a lease has ended (read without a lock: the change checks again)."""
        return bool(
            await conn.fetchval(
                "select exists (select 1 from resource_allocations where lease_deadline <= $1)",
                now,
            )
        )


def _by_id(found: Iterable[QueueRow]) -> dict[str, QueueRow]:
    return {q.entry.request.request_id: q for q in found}
