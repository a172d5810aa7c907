"""Agent liveness: heartbeats and task progress are signs of life, assignments are watched.

An agent silent for ``misses`` intervals gets ``AGENT_TIMEOUT`` (its circuit breaker counts
a failure); each task it holds gets ``TASK_TIMEOUT`` and a reassignment action away from it.
Agents' task reports also feed their breakers.

With N replicas: the state is rows in PostgreSQL (:mod:`~baton_recovery.failures.watchlist`), one
per agent and per watched task, written by whichever replica reads a signal. Each replica judges
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
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from baton.bus import Bus
from baton.bus.tracecontext import trace_headers, trace_of
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
from baton_recovery.failures.watchlist import WatchList
from baton_recovery.store import RecoveryStore

__all__ = ["Watchdog"]

BATCH = 200
"""Most agents, tasks and forgotten rows one check handles (the rest wait for the next)."""


def _is_hubs(event: Event) -> bool:
    """The hub's announcements of a task's end; agents' reports are what count."""
    return event.source == "baton-hub" or event.source.endswith("-hub")


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

    def subscriptions(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        return {
            "task.*.assigned": self.on_task_assigned,
            "task.*.started": self.on_task_progress,
            "phase.*.progress": self.on_task_progress,
            "task.*.completed": self.on_task_finished,
            "task.*.failed": self.on_task_finished,
        }

    def ended_subscriptions(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        """Handlers of a workflow's end (completed, cancelled)."""
        return {
            "workflow.*.completed": self.on_workflow_ended,
            "workflow.*.cancelled": self.on_workflow_ended,
        }

    def batch_subscriptions(self) -> dict[str, Callable[[list[Event]], Awaitable[None]]]:
        return {"agent.*.heartbeat": self.on_heartbeats}

    async def on_task_assigned(self, event: Event) -> None:
        agent, task = event.data.get("agent_id"), event.data.get("task_id")
        if not (isinstance(agent, str) and isinstance(task, str)):
            return
        agent_partition = await self.bus.partition_for(agent)
        task_partition = await self.bus.partition_for(event.workflow_id)
        async with self.db.transaction() as conn:
            await self.rows.track(conn, agent_id=agent, partition=agent_partition)
            await self.rows.watch(
                conn,
                workflow_id=event.workflow_id,
                task_id=task,
                partition=task_partition,
                agent_id=agent,
                assignment_id=event.event_id,
                trace_context=trace_of(event),  # its timeout will be in the workflow's trace
            )

    async def on_task_progress(self, event: Event) -> None:
        task, agent = event.data.get("task_id"), event.data.get("agent_id")
        sender = agent if isinstance(agent, str) and agent else None
        partition = None if sender is None else await self.bus.partition_for(sender)
        async with self.db.connection() as conn:
            if sender is not None and partition is not None:
                await self.rows.seen(conn, agents={sender: partition})
            if isinstance(task, str):
                await self.rows.progress(
                    conn, workflow_id=event.workflow_id, task_id=task, besides=sender
                )

    async def on_task_finished(self, event: Event) -> None:
        if _is_hubs(event):
            return
        task, agent = event.data.get("task_id"), event.data.get("agent_id")
        holder = agent if isinstance(agent, str) else None
        partition = None if holder is None else await self.bus.partition_for(holder)
        now, policy = utc_now(), self.config.breakers()
        async with self.db.transaction() as conn:
            if holder is not None and partition is not None:  # agent row first, as a check
                stored = await self.rows.signed(conn, agent_id=holder, partition=partition)
                breaker = stored or Breaker()
                if event.event_type == "TASK_FAILED":
                    breaker.record_failure(now=now, policy=policy)
                else:
                    breaker.record_success(now=now, policy=policy)
                if stored is not None or _kept(breaker) is not None:
                    await self.rows.set_breaker(conn, agent_id=holder, breaker=_kept(breaker))
            if isinstance(task, str):
                await self.rows.unwatch(
                    conn, workflow_id=event.workflow_id, task_id=task, agent_id=holder
                )

    async def on_workflow_ended(self, event: Event) -> None:
        async with self.db.connection() as conn:
            await self.end_workflow(conn, workflow_id=event.workflow_id)

    async def end_workflow(self, conn: Any, *, workflow_id: str) -> None:
        """A workflow ended: none of its tasks is watched any more."""
        await self.rows.unwatch_workflow(conn, workflow_id=workflow_id)

    async def on_heartbeats(self, events: list[Event]) -> None:
        """Heartbeats read together: one statement for all of them."""
        agents: dict[str, int] = {}
        for event in events:
            agent = event.data.get("agent_id") or event.phase
            if isinstance(agent, str) and agent and agent not in agents:
                agents[agent] = await self.bus.partition_for(agent)
        if agents:
            async with self.db.connection() as conn:
                await self.rows.seen(conn, agents=agents)

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
