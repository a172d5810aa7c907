"""The watchdog's rows: one per agent (``recovery_agents``), one per watched task
(``recovery_watches``), each naming the events-topic partition that owns it.

Every replica records the signs of life it reads, whatever the partition; timeouts are
claimed by conditional updates (``timed_out_at is null``, rows locked with ``skip locked``),
so a timeout is reported by one replica even if two ever judged the same partition (as
they may for a moment during a rebalance), and a check never waits for a handler's lock.
Statements that lock several agent rows lock them in id order, and handlers lock an agent
row before a watch row, as the check does, so two of them cannot deadlock.

``at`` parameters (the tests' clock) default to the database's clock: replicas on several
hosts share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from baton_recovery.failures.breaker import Breaker
from baton_recovery.failures.liveness import AgentTimeout, TaskTimeout

__all__ = ["Unplaced", "WatchList"]

_NOW = "coalesce($1::timestamptz, now())"  # every statement's $1

_SEEN = f"""
insert into recovery_agents (agent_id, partition, last_seen)
select agent_id, partition, {_NOW} from unnest($2::text[], $3::int[]) as t(agent_id, partition)
order by agent_id
on conflict (agent_id) do update
set last_seen = greatest(recovery_agents.last_seen, excluded.last_seen),
    timed_out_at = null, partition = excluded.partition
"""

_SIGNED = f"""
insert into recovery_agents (agent_id, partition, last_seen) values ($2, $3, {_NOW})
on conflict (agent_id) do update
set last_seen = greatest(recovery_agents.last_seen, excluded.last_seen),
    timed_out_at = null, partition = excluded.partition
returning breaker
"""

_PROGRESS = f"""
update recovery_agents a set last_seen = greatest(a.last_seen, {_NOW}), timed_out_at = null
from recovery_watches w
where w.workflow_id = $2 and w.task_id = $3 and a.agent_id = w.agent_id
  and a.agent_id is distinct from $4
"""

_WATCH = f"""
insert into recovery_watches
    (workflow_id, task_id, partition, agent_id, assignment_id, since, deadline, trace_context)
values ($2, $3, $4, $5, $6, {_NOW}, $7, $8)
on conflict (workflow_id, task_id) do update
set partition = excluded.partition, agent_id = excluded.agent_id,
    assignment_id = excluded.assignment_id, since = excluded.since,
    deadline = excluded.deadline, timed_out_at = null, trace_context = excluded.trace_context
where recovery_watches.assignment_id <> excluded.assignment_id
"""

_AGENTS_DUE = f"""
with due as (
    select agent_id from recovery_agents
    where partition = any($2::int[]) and timed_out_at is null
      and last_seen <= {_NOW} - make_interval(secs => $3)
    order by agent_id limit $4
    for update skip locked
)
update recovery_agents a set timed_out_at = {_NOW}
from due where a.agent_id = due.agent_id
returning a.agent_id, a.last_seen, a.timed_out_at, a.breaker
"""

# Watches of the partitions given whose deadline passed or whose agent is out, and those of
# the agents just timed out (wherever they are), each once.
_TASKS_DUE = f"""
with due as (
    select w.workflow_id, w.task_id from recovery_watches w
    where w.timed_out_at is null and (
        w.agent_id = any($3::text[])
        or (w.partition = any($2::int[]) and (
            w.deadline <= {_NOW}
            or exists (
                select 1 from recovery_agents a
                where a.agent_id = w.agent_id and a.timed_out_at is not null
            )
        ))
    )
    order by w.workflow_id, w.task_id limit $4
    for update of w skip locked
)
update recovery_watches w set timed_out_at = {_NOW}
from due where w.workflow_id = due.workflow_id and w.task_id = due.task_id
returning w.workflow_id, w.task_id, w.agent_id, w.assignment_id, w.since, w.deadline,
          w.timed_out_at, w.trace_context
"""

_FORGET_AGENTS = f"""
delete from recovery_agents where agent_id in (
    select a.agent_id from recovery_agents a
    where a.partition = any($2::int[]) and a.timed_out_at <= {_NOW} - make_interval(secs => $3)
      and not exists (
          select 1 from recovery_watches w
          where w.agent_id = a.agent_id and w.timed_out_at is null
      )
    order by a.agent_id limit $4
    for update skip locked
)
"""

_FORGET_WATCHES = f"""
delete from recovery_watches where (workflow_id, task_id) in (
    select workflow_id, task_id from recovery_watches
    where partition = any($2::int[]) and timed_out_at <= {_NOW} - make_interval(secs => $3)
    limit $4
    for update skip locked
)
"""


@dataclass(frozen=True, slots=True)
class Unplaced:
    """Rows without a partition yet (moved from the old single row), by their keys."""

    agents: list[str]
    """Agent ids, placed by the partition of the agent id."""
    workflows: list[str]
    """Workflow ids of watches, placed by the partition of the workflow id."""


def _status_count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class WatchList:
    """Queries of the watchdog's rows, each on a connection the caller holds."""

    async def seen(
        self, conn: Any, *, agents: Mapping[str, int], at: datetime | None = None
    ) -> None:
        """Signs of life of ``agents`` (id → partition): tracked from now, outages ended."""
        ids = sorted(agents)
        await conn.execute(_SEEN, at, ids, [agents[a] for a in ids])

    async def signed(
        self, conn: Any, *, agent_id: str, partition: int, at: datetime | None = None
    ) -> Breaker | None:
        """A sign of life of one agent, returning its breaker: the row stays locked until
        the caller's transaction ends, so it may update the breaker."""
        raw = await conn.fetchval(_SIGNED, at, agent_id, partition)
        return None if raw is None else Breaker.model_validate(raw)

    async def track(
        self, conn: Any, *, agent_id: str, partition: int, at: datetime | None = None
    ) -> None:
        """An agent given a task: tracked from now unless it is known already."""
        await conn.execute(
            "insert into recovery_agents (agent_id, partition, last_seen) "
            f"values ($2, $3, {_NOW}) on conflict (agent_id) do nothing",
            at,
            agent_id,
            partition,
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
        await conn.execute(_PROGRESS, at, workflow_id, task_id, besides)

    async def set_breaker(self, conn: Any, *, agent_id: str, breaker: Breaker | None) -> None:
        """Store an agent's breaker (None: it has none), on a row the caller locked."""
        value = None if breaker is None else breaker.model_dump(mode="json")
        await conn.execute(
            "update recovery_agents set breaker = $2 where agent_id = $1", agent_id, value
        )

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
        """Watch an assignment from now (a newer one replaces the task's watch, the same one
        redelivered changes nothing); True when it started a watch."""
        status = await conn.execute(
            _WATCH,
            at,
            workflow_id,
            task_id,
            partition,
            agent_id,
            assignment_id,
            deadline,
            dict(trace_context),
        )
        return _status_count(status) == 1

    async def unwatch(
        self, conn: Any, *, workflow_id: str, task_id: str, agent_id: str | None = None
    ) -> bool:
        """Stop watching a task; with ``agent_id`` (a report's sender) only when that agent
        holds it, so a late report of a superseded assignment does not end the watch of the
        current holder. True when a watch ended."""
        status = await conn.execute(
            "delete from recovery_watches where workflow_id = $1 and task_id = $2 "
            "and ($3::text is null or agent_id = $3)",
            workflow_id,
            task_id,
            agent_id,
        )
        return _status_count(status) == 1

    async def unwatch_workflow(self, conn: Any, *, workflow_id: str) -> int:
        """Stop watching every task of a workflow that ended; how many were watched."""
        status = await conn.execute(
            "delete from recovery_watches where workflow_id = $1", workflow_id
        )
        return _status_count(status)

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
        rows = await conn.fetch(_AGENTS_DUE, at, sorted(partitions), timeout_seconds, limit)
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
        rows = await conn.fetch(_TASKS_DUE, at, sorted(partitions), sorted(agents), limit)
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
        agents = await conn.execute(_FORGET_AGENTS, at, owned, after_seconds, limit)
        watches = await conn.execute(_FORGET_WATCHES, at, owned, after_seconds, limit)
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
