"""Agent liveness: heartbeats and task progress are signs of life, assignments are watched.

An agent silent for ``misses`` intervals gets ``AGENT_TIMEOUT`` (its circuit breaker counts
a failure); each task it holds gets ``TASK_TIMEOUT`` and a reassignment action away from it.
Agents' task reports also feed their breakers.

With N replicas: the state is rows in PostgreSQL (:mod:`~baton_recovery.failures.watchlist`), one
per agent and per watched task, written by whichever replica reads a signal, a batch of events
at a time (:mod:`~baton_recovery.failures.signs`: a few statements a batch). Each replica judges
the timeouts of the partitions it holds in the consumer group, once settled
(:mod:`~baton_recovery.failures.ownership`): an agent by its id's partition (its heartbeats are
keyed by it), a task by its workflow's. Timeouts are claimed by conditional updates in the same
transaction as the events and actions they cause, so none is reported twice, and the
reassignment's id is the assignment's, so the hub applies it once. Memory holds the
partitions held, nothing per agent or task.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from baton.bus import Bus
from baton.bus.tracecontext import trace_headers
from baton.db import Database
from baton.protocol.commands import HubCommand
from baton.protocol.event import Event
from baton.protocol.messages.base import utc_now
from baton.runtime import Outbox
from baton_recovery.config import RecoveryConfig
from baton_recovery.failures.actions import TRACE_CONTEXT
from baton_recovery.failures.breaker import Breaker, BreakerState
from baton_recovery.failures.liveness import TaskTimeout
from baton_recovery.failures.ownership import Ownership
from baton_recovery.failures.signs import Signs
from baton_recovery.failures.watchlist import Watch, WatchList
from baton_recovery.store import RecoveryStore

__all__ = ["Watchdog"]

BATCH = 200
"""Most agents, tasks and forgotten rows one check handles (the rest wait for the next)."""


class Watchdog:
    """Liveness of agents and circuit breakers, and the timeouts they produce."""

    def __init__(
        self,
        *,
        bus: Bus,
        db: Database,
        outbox: Outbox,
        store: RecoveryStore,
        config: RecoveryConfig,
        group: str,
    ) -> None:
        self.bus = bus
        self.db = db
        self.outbox = outbox
        self.store = store
        self.config = config
        self.group = group
        self.rows = WatchList()
        self.ownership = Ownership()
        self.settled: frozenset[int] = frozenset()
        self.reported: Counter[str] = Counter()

    async def load(self) -> None:
        """Give rows moved from the old single-row state their partitions."""
        while True:
            async with self.db.connection() as conn:
                unplaced = await self.rows.unplaced(conn, limit=BATCH)
            if not (unplaced.agents or unplaced.workflows):
                return
            agents = {a: await self.bus.partition_for(a) for a in unplaced.agents}
            flows = {w: await self.bus.partition_for(w) for w in unplaced.workflows}
            async with self.db.connection() as conn:
                await self.rows.place(conn, agents=agents, workflows=flows)

    async def apply(self, conn: Any, signs: Signs) -> None:
        """Record what a batch of events told (:mod:`~baton_recovery.failures.signs`) in
        ``conn``'s transaction: a statement for the agents' signs of life, one for their
        breakers if any changed, and at most four per round of watch changes."""
        agents = {**signs.tracked, **signs.alive}
        if agents:
            placed = {a: await self.bus.partition_for(a) for a in agents}
            stored = await self.rows.touch(
                conn,
                alive={a: placed[a] for a in signs.alive},
                tracked={a: placed[a] for a in signs.tracked},
            )
            await self.rows.set_breakers(conn, breakers=self._outcomes(signs.outcomes, stored))
        for step in signs.rounds:
            flows = {a.workflow_id for a in step.watches}
            partitions = {w: await self.bus.partition_for(w) for w in flows}
            watches = [
                Watch(
                    workflow_id=a.workflow_id,
                    task_id=a.task_id,
                    partition=partitions[a.workflow_id],
                    agent_id=a.agent_id,
                    assignment_id=a.assignment_id,
                    trace_context=a.trace_context,  # its timeout will be in the workflow's trace
                )
                for a in step.watches
            ]
            await self.rows.watch_many(conn, watches=watches)
            await self.rows.progress_many(
                conn, tasks=[(p.workflow_id, p.task_id, p.agent_id) for p in step.progress]
            )
            await self.rows.unwatch_many(
                conn, reports=[(r.workflow_id, r.task_id, r.agent_id) for r in step.reports]
            )
            await self.rows.unwatch_workflows(conn, workflow_ids=step.ended)

    def _outcomes(
        self, outcomes: Mapping[str, list[bool]], stored: Mapping[str, Breaker | None]
    ) -> dict[str, Breaker | None]:
        """The breakers that agents' reported outcomes change, by agent (None: it has none
        any more)."""
        now, policy = utc_now(), self.config.breakers()
        changed: dict[str, Breaker | None] = {}
        for agent, results in outcomes.items():
            before = stored.get(agent)
            breaker = before or Breaker()
            for completed in results:
                if completed:
                    breaker.record_success(now=now, policy=policy)
                else:
                    breaker.record_failure(now=now, policy=policy)
            kept = _kept(breaker)
            if before is not None or kept is not None:
                changed[agent] = kept
        return changed

    async def end_workflow(self, conn: Any, *, workflow_id: str) -> None:
        """A workflow ended: none of its tasks is watched any more."""
        await self.rows.unwatch_workflow(conn, workflow_id=workflow_id)

    async def breaker_state(self, conn: Any, *, agent_id: str, now: datetime) -> BreakerState:
        """The state of an agent's breaker."""
        breaker = await self.rows.breaker(conn, agent_id=agent_id)
        return (
            "closed" if breaker is None else breaker.state(now=now, policy=self.config.breakers())
        )

    async def open_breakers(self, *, now: datetime) -> dict[str, BreakerState]:
        """Agents whose breaker is open or half-open, by id, sorted."""
        async with self.db.connection() as conn:
            breakers = await self.rows.breakers(conn)
        states = {a: b.state(now=now, policy=self.config.breakers()) for a, b in breakers.items()}
        return {a: s for a, s in states.items() if s != "closed"}

    async def check(self) -> None:
        """Time out the silent agents and overdue tasks of the settled partitions held."""
        policy = self.config.liveness()
        clock = time.monotonic()
        self.ownership.update(self.bus.assigned(group=self.group), now=clock)
        self.settled = self.ownership.settled(now=clock, grace=policy.timeout_seconds)
        if not self.settled:
            return
        now, breakers = utc_now(), self.config.breakers()
        async with self.db.transaction() as conn:
            agents = await self.rows.time_out_agents(
                conn, partitions=self.settled, timeout_seconds=policy.timeout_seconds, limit=BATCH
            )
            for agent, breaker in agents:
                breaker = breaker or Breaker()
                breaker.record_failure(now=now, policy=breakers)
                await self.rows.set_breaker(conn, agent_id=agent.agent_id, breaker=breaker)
                await self.outbox.add(
                    conn,
                    Event(
                        event_type="AGENT_TIMEOUT",
                        workflow_id="global",
                        phase=agent.agent_id,
                        data=agent.data(),
                        partition_key=agent.agent_id,
                    ),
                )
            tasks = await self.rows.time_out_tasks(
                conn,
                partitions=self.settled,
                agents=[agent.agent_id for agent, _ in agents],
                limit=BATCH,
            )
            for task in tasks:
                await self._report_task(conn, task, now=now)
            await self.rows.forget(
                conn, partitions=self.settled, after_seconds=self.config.forget_after, limit=BATCH
            )
        self.reported.update(agents=len(agents), tasks=len(tasks))
        if agents or tasks:
            self.outbox.notify()

    async def _report_task(self, conn: Any, task: TaskTimeout, *, now: datetime) -> None:
        await self.outbox.add(
            conn,
            Event(
                event_type="TASK_TIMEOUT",
                workflow_id=task.workflow_id,
                phase="recovery",
                data=task.data(),
                extra_headers=trace_headers(task.trace_context),
            ),
        )
        await self.store.add_action(
            conn,
            action_id=task.action_id,
            workflow_id=task.workflow_id,
            due_at=now,
            request={
                "command": HubCommand.RECOVER_TASK,
                "task_id": task.task_id,
                "action": "reassign",
                "avoid_agents": [task.agent_id] if task.agent_id else [],
                "reason": f"agent {task.agent_id} timed out ({task.reason})",
                TRACE_CONTEXT: dict(task.trace_context),
            },
        )

    def health(self) -> dict[str, Any]:
        """What /health shows of the watchdog: the partitions this replica owns."""
        return {
            "partitions_held": sorted(self.ownership.held),
            "partitions_judged": sorted(self.settled),
            "agents_timed_out": self.reported["agents"],
            "tasks_timed_out": self.reported["tasks"],
        }


def _kept(breaker: Breaker) -> Breaker | None:
    """What to store of a breaker: nothing while closed without a failure to count."""
    return None if breaker.opened_at is None and not breaker.failures else breaker
