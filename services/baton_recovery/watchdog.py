"""Agent liveness: heartbeats and task progress are signs of life, assignments are watched.

An agent silent for ``misses`` intervals gets ``AGENT_TIMEOUT`` (its circuit breaker counts
a failure); each task it holds gets ``TASK_TIMEOUT`` and a reassignment action away from it.
Agents' task reports also feed their breakers. The state lives in memory and is saved with
every check that found something changed; a restart resumes from the last save (the hub's
own execution timeouts remain the backstop for anything a crash made it miss).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from baton.bus.tracecontext import trace_headers, trace_of
from baton.db import Database
from baton.protocol.event import Event
from baton.protocol.messages.base import utc_now
from baton.runtime import Outbox
from baton_recovery.actions import TRACE_CONTEXT
from baton_recovery.breaker import BreakerRegistry
from baton_recovery.config import RecoveryConfig
from baton_recovery.liveness import Liveness
from baton_recovery.store import RecoveryStore

__all__ = ["Watchdog"]


class Watchdog:
    """Liveness of agents and circuit breakers, and the timeouts they produce."""

    def __init__(
        self, *, db: Database, outbox: Outbox, store: RecoveryStore, config: RecoveryConfig
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.store = store
        self.config = config
        self.liveness = Liveness()
        self.breakers = BreakerRegistry()
        self._dirty = False

    async def load(self) -> None:
        async with self.db.connection() as conn:
            self.liveness, self.breakers = await self.store.load_watchdog(conn)

    def subscriptions(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        return {
            "task.*.assigned": self.on_task_assigned,
            "task.*.started": self.on_task_progress,
            "phase.*.progress": self.on_task_progress,
            "task.*.completed": self.on_task_finished,
            "task.*.failed": self.on_task_finished,
            "agent.*.heartbeat": self.on_heartbeat,
        }

    async def on_task_assigned(self, event: Event) -> None:
        agent, task = event.data.get("agent_id"), event.data.get("task_id")
        if isinstance(agent, str) and isinstance(task, str):
            self.liveness.watch(
                workflow_id=event.workflow_id,
                task_id=task,
                agent_id=agent,
                now=utc_now(),
                trace_context=trace_of(event),  # its timeout will be in the workflow's trace
            )
            self._dirty = True

    async def on_task_progress(self, event: Event) -> None:
        task, agent = event.data.get("task_id"), event.data.get("agent_id")
        now = utc_now()
        if isinstance(task, str):
            self.liveness.progress(workflow_id=event.workflow_id, task_id=task, now=now)
        if isinstance(agent, str):
            self.liveness.heartbeat(agent, now=now)
        self._dirty = True

    async def on_task_finished(self, event: Event) -> None:
        if event.source == "baton-hub" or event.source.endswith("-hub"):
            return  # the hub's announcements; agents' reports are what count
        task, agent = event.data.get("task_id"), event.data.get("agent_id")
        now, policy = utc_now(), self.config.breakers()
        if isinstance(task, str):
            holder = agent if isinstance(agent, str) else None
            self.liveness.unwatch(workflow_id=event.workflow_id, task_id=task, agent_id=holder)
        if isinstance(agent, str):
            self.liveness.heartbeat(agent, now=now)
            if event.event_type == "TASK_FAILED":
                self.breakers.record_failure(agent, now=now, policy=policy)
            else:
                self.breakers.record_success(agent, now=now, policy=policy)
        self._dirty = True

    async def on_heartbeat(self, event: Event) -> None:
        agent = event.data.get("agent_id") or event.phase
        if isinstance(agent, str) and agent:
            self.liveness.heartbeat(agent, now=utc_now())
            self._dirty = True

    async def check(self) -> None:
        now = utc_now()
        due = self.liveness.due(now=now, policy=self.config.liveness())
        if not (due.agents or due.tasks or self._dirty):
            return
        policy = self.config.breakers()
        async with self.db.transaction() as conn:
            for agent in due.agents:
                self.breakers.record_failure(agent.agent_id, now=now, policy=policy)
                await self.outbox.add(
                    conn,
                    Event(
                        event_type="AGENT_TIMEOUT",
                        workflow_id="global",
                        phase=agent.agent_id,
                        data=agent.data(),
                    ),
                )
            for task in due.tasks:
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
                stamp = int(now.timestamp() * 1000)
                await self.store.add_action(
                    conn,
                    action_id=f"act_timeout_{task.workflow_id}_{task.task_id}_{stamp}",
                    workflow_id=task.workflow_id,
                    due_at=now,
                    request={
                        "command": "RECOVER_TASK",
                        "task_id": task.task_id,
                        "action": "reassign",
                        "avoid_agents": [task.agent_id] if task.agent_id else [],
                        "reason": f"agent {task.agent_id} timed out ({task.reason})",
                        TRACE_CONTEXT: dict(task.trace_context),
                    },
                )
            await self.store.save_watchdog(conn, liveness=self.liveness, breakers=self.breakers)
            self._dirty = False
        if due.agents or due.tasks:
            self.outbox.notify()
