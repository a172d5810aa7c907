"""The watchdog's rows: one per agent (``recovery_agents``), one per watched task
(``recovery_watches``), each naming the events-topic partition that owns it.

Every replica records the signs of life it reads, whatever the partition; timeouts are
claimed by conditional updates (``timed_out_at is null``, rows locked with ``skip locked``),
so a timeout is reported by one replica even if two ever judged the same partition (as
they may for a moment during a rebalance), and a check never waits for a handler's lock.
Statements that lock several agent rows lock them in id order, and a batch locks its
agents' rows first, before any watch row, as the check does. Progress on a task reported
by another agent than its holder (or by none) also touches the holder's row, after the
watch rows: should two replicas' batches ever wait on each other through it, PostgreSQL
fails one of them, and the bus applies that batch again.

``at`` parameters (the tests' clock) default to the database's clock: replicas on several
hosts share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from baton_recovery.failures import watchsql as sql
from baton_recovery.failures.breaker import Breaker
from baton_recovery.failures.liveness import AgentTimeout, TaskTimeout

__all__ = ["Unplaced", "Watch", "WatchList"]


@dataclass(frozen=True, slots=True)
class Unplaced:
    """Rows without a partition yet (moved from the old single row), by their keys."""

    agents: list[str]
    """Agent ids, placed by the partition of the agent id."""
    workflows: list[str]
    """Workflow ids of watches, placed by the partition of the workflow id."""


def _status_count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True, slots=True)
class Watch:
    """An assignment to watch: its task, the partition of its workflow, its holder."""

    workflow_id: str
    task_id: str
    partition: int
    agent_id: str | None
    assignment_id: str
    trace_context: Mapping[str, str]
    deadline: datetime | None = None


class WatchList:
    """Queries of the watchdog's rows, each on a connection the caller holds. Most take
    many rows at once: one statement for a whole batch of events."""

    async def touch(
        self,
        conn: Any,
        *,
        alive: Mapping[str, int],
        tracked: Mapping[str, int] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Breaker | None]:
        """Signs of life of ``alive`` (id → partition): tracked from now, outages ended;
        and agents given a task (``tracked``): tracked from now unless known already.
        Returns the breakers of ``alive``: their rows stay locked until the caller's
        transaction ends, so it may update them (:meth:`set_breakers`)."""
        partitions = {**(tracked or {}), **alive}
        ids = sorted(partitions)
        rows = await conn.fetch(sql.AGENTS, at, ids, [partitions[a] for a in ids], list(alive))
        return {
            r["agent_id"]: None if r["breaker"] is None else Breaker.model_validate(r["breaker"])
            for r in rows
        }

    async def seen(
        self, conn: Any, *, agents: Mapping[str, int], at: datetime | None = None
    ) -> None:
        """Signs of life of ``agents`` (id → partition): tracked from now, outages ended."""
        await self.touch(conn, alive=agents, at=at)

    async def signed(
        self, conn: Any, *, agent_id: str, partition: int, at: datetime | None = None
    ) -> Breaker | None:
        """A sign of life of one agent, returning its breaker (row locked: :meth:`touch`)."""
        return (await self.touch(conn, alive={agent_id: partition}, at=at)).get(agent_id)

    async def track(
        self, conn: Any, *, agent_id: str, partition: int, at: datetime | None = None
    ) -> None:
        """An agent given a task: tracked from now unless it is known already."""
        await self.touch(conn, alive={}, tracked={agent_id: partition}, at=at)

    async def progress_many(
        self,
        conn: Any,
        *,
        tasks: Sequence[tuple[str, str, str | None]],
        at: datetime | None = None,
    ) -> None:
        """Progress on watched tasks (workflow id, task id, sender): a sign of life of the
        agent holding each (the sender, recorded by the caller, aside)."""
        if tasks:
            await conn.execute(
                sql.PROGRESS, at, *(list(column) for column in zip(*tasks, strict=True))
            )

    async def progress(
        self,
        conn: Any,
        *,
        workflow_id: str,
        task_id: str,
        besides: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Progress on a watched task: a sign of life of the agent holding it (``besides``:
        an agent the caller records itself)."""
        await self.progress_many(conn, tasks=[(workflow_id, task_id, besides)], at=at)

    async def set_breakers(self, conn: Any, *, breakers: Mapping[str, Breaker | None]) -> None:
        """Store agents' breakers (None: it has none), on rows the caller locked."""
        if not breakers:
            return
        ids = sorted(breakers)
        values = [
            None if (b := breakers[a]) is None else orjson.dumps(b.model_dump(mode="json")).decode()
            for a in ids
        ]
        await conn.execute(
            "update recovery_agents a set breaker = t.breaker::jsonb "
            "from unnest($1::text[], $2::text[]) as t(agent_id, breaker) "
            "where a.agent_id = t.agent_id",
            ids,
            values,
        )

    async def set_breaker(self, conn: Any, *, agent_id: str, breaker: Breaker | None) -> None:
        """Store an agent's breaker (None: it has none), on a row the caller locked."""
        await self.set_breakers(conn, breakers={agent_id: breaker})

    async def breaker(self, conn: Any, *, agent_id: str) -> Breaker | None:
        """An agent's breaker, if it has one."""
        raw = await conn.fetchval(
            "select breaker from recovery_agents where agent_id = $1", agent_id
        )
        return None if raw is None else Breaker.model_validate(raw)

    async def breakers(self, conn: Any) -> dict[str, Breaker]:
        """Every agent's breaker, by agent id (only agents that failed lately have one)."""
        rows = await conn.fetch(
            "select agent_id, breaker from recovery_agents where breaker is not null "
            "order by agent_id"
        )
        return {r["agent_id"]: Breaker.model_validate(r["breaker"]) for r in rows}

    async def watch_many(
        self, conn: Any, *, watches: Sequence[Watch], at: datetime | None = None
    ) -> int:
        """Watch assignments from now, at most one per task (a newer one replaces the
        task's watch, the same one redelivered changes nothing); how many started."""
        if not watches:
            return 0
        status = await conn.execute(
            sql.WATCH,
            at,
            [w.workflow_id for w in watches],
            [w.task_id for w in watches],
            [w.partition for w in watches],
            [w.agent_id for w in watches],
            [w.assignment_id for w in watches],
            [w.deadline for w in watches],
            [orjson.dumps(dict(w.trace_context)).decode() for w in watches],
        )
        return _status_count(status)

    async def watch(
        self,
        conn: Any,
        *,
        workflow_id: str,
        task_id: str,
        partition: int,
        agent_id: str | None,
        assignment_id: str,
        trace_context: Mapping[str, str],
        deadline: datetime | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Watch an assignment from now (:meth:`watch_many`); True when it started a watch."""
        watch = Watch(
            workflow_id, task_id, partition, agent_id, assignment_id, trace_context, deadline
        )
        return await self.watch_many(conn, watches=[watch], at=at) == 1

    async def unwatch_many(
        self, conn: Any, *, reports: Sequence[tuple[str, str, str | None]]
    ) -> int:
        """Stop watching tasks (workflow id, task id, reporting agent); with an agent only
        when that agent holds the task, so a late report of a superseded assignment does
        not end the watch of the current holder. How many watches ended."""
        if not reports:
            return 0
        status = await conn.execute(
            sql.UNWATCH, *(list(column) for column in zip(*reports, strict=True))
        )
        return _status_count(status)

    async def unwatch(
        self, conn: Any, *, workflow_id: str, task_id: str, agent_id: str | None = None
    ) -> bool:
        """Stop watching a task (:meth:`unwatch_many`); True when a watch ended."""
        return await self.unwatch_many(conn, reports=[(workflow_id, task_id, agent_id)]) == 1

    async def unwatch_workflows(self, conn: Any, *, workflow_ids: Sequence[str]) -> int:
        """Stop watching every task of workflows that ended; how many were watched."""
        if not workflow_ids:
            return 0
        status = await conn.execute(
            "delete from recovery_watches where workflow_id = any($1::text[])",
            sorted(set(workflow_ids)),
        )
        return _status_count(status)

    async def unwatch_workflow(self, conn: Any, *, workflow_id: str) -> int:
        """Stop watching every task of a workflow that ended; how many were watched."""
        return await self.unwatch_workflows(conn, workflow_ids=[workflow_id])

    async def time_out_agents(
        self,
        conn: Any,
        *,
        partitions: Iterable[int],
        timeout_seconds: float,
        limit: int,
        at: datetime | None = None,
    ) -> list[tuple[AgentTimeout, Breaker | None]]:
        """Mark the agents of ``partitions`` silent for ``timeout_seconds`` as timed out,
        at most ``limit``, each once per outage; each with its breaker (rows locked)."""
        rows = await conn.fetch(sql.AGENTS_DUE, at, sorted(partitions), timeout_seconds, limit)
        found = []
        for r in sorted(rows, key=lambda r: r["agent_id"]):
            silent = (r["timed_out_at"] - r["last_seen"]).total_seconds()
            breaker = None if r["breaker"] is None else Breaker.model_validate(r["breaker"])
            found.append((AgentTimeout(r["agent_id"], r["last_seen"], silent), breaker))
        return found

    async def time_out_tasks(
        self,
        conn: Any,
        *,
        partitions: Iterable[int],
        agents: Iterable[str],
        limit: int,
        at: datetime | None = None,
    ) -> list[TaskTimeout]:
        """Mark as timed out, once each, at most ``limit`` watches: those of ``partitions``
        past their deadline or held by an agent that is out, and those held by ``agents``
        (timed out by the caller just now, whatever their tasks' partitions)."""
        rows = await conn.fetch(sql.TASKS_DUE, at, sorted(partitions), sorted(agents), limit)
        found = []
        for r in sorted(rows, key=lambda r: (r["agent_id"] or "", r["workflow_id"], r["task_id"])):
            now, since, deadline = r["timed_out_at"], r["since"], r["deadline"]
            overdue = deadline is not None and deadline <= now
            found.append(
                TaskTimeout(
                    workflow_id=r["workflow_id"],
                    task_id=r["task_id"],
                    agent_id=r["agent_id"],
                    reason="deadline" if overdue else "agent_timeout",
                    running_seconds=(now - since).total_seconds(),
                    assignment_id=r["assignment_id"],
                    limit_seconds=(deadline - since).total_seconds() if overdue else None,
                    trace_context=dict(r["trace_context"] or {}),
                )
            )
        return found

    async def forget(
        self,
        conn: Any,
        *,
        partitions: Iterable[int],
        after_seconds: float,
        limit: int,
        at: datetime | None = None,
    ) -> int:
        """Delete, at most ``limit`` of each, the agents of ``partitions`` out for
        ``after_seconds`` that hold no watched task, and the watches timed out that long ago
        (their task was never assigned again); how many rows went."""
        owned = sorted(partitions)
        agents = await conn.execute(sql.FORGET_AGENTS, at, owned, after_seconds, limit)
        watches = await conn.execute(sql.FORGET_WATCHES, at, owned, after_seconds, limit)
        return _status_count(agents) + _status_count(watches)

    async def unplaced(self, conn: Any, *, limit: int) -> Unplaced:
        """Some rows that have no partition yet."""
        agents = await conn.fetch(
            "select agent_id from recovery_agents where partition is null limit $1", limit
        )
        workflows = await conn.fetch(
            "select distinct workflow_id from recovery_watches where partition is null limit $1",
            limit,
        )
        return Unplaced([r[0] for r in agents], [r[0] for r in workflows])

    async def place(
        self, conn: Any, *, agents: Mapping[str, int], workflows: Mapping[str, int]
    ) -> None:
        """Give rows without a partition theirs (agent id → partition, workflow id → ...)."""
        await conn.execute(
            "update recovery_agents a set partition = t.partition "
            "from unnest($1::text[], $2::int[]) as t(agent_id, partition) "
            "where a.agent_id = t.agent_id and a.partition is null",
            list(agents),
            list(agents.values()),
        )
        await conn.execute(
            "update recovery_watches w set partition = t.partition "
            "from unnest($1::text[], $2::int[]) as t(workflow_id, partition) "
            "where w.workflow_id = t.workflow_id and w.partition is null",
            list(workflows),
            list(workflows.values()),
        )
