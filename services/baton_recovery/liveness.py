"""Liveness: agents that stop heartbeating and tasks that overrun, each reported once.

:class:`Liveness` keeps each agent's last sign of life (a heartbeat, or progress on one of its
tasks) and each in-flight task's agent and deadline. :meth:`Liveness.due` reports:

- an agent silent for ``misses`` heartbeat intervals or more (``AGENT_TIMEOUT``), once per
  outage: the next heartbeat ends the outage (:meth:`Liveness.heartbeat` says so), and a
  later silence is a new one;
- a watched task whose deadline has passed, or whose agent has timed out (``TASK_TIMEOUT``),
  once: it is not reported again until it is watched anew (reassigned) or unwatched.

Choices where the seeds are silent (seed 001 configures ``heartbeat_interval: 30s``):

- 3 missed intervals by default, so one lost heartbeat is no outage.
- An agent is tracked from its first heartbeat or from its first task, whichever comes
  first: being given a task is its last known sign of life.
- Times are the caller's clock when it observed the signal, never the sender's, so clock
  skew between hosts cannot make an agent look dead; timezone-aware (naive means UTC).

State is pydantic data that round-trips through :meth:`Liveness.to_dict` and
:meth:`Liveness.from_dict`; operations change it in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.protocol.duration import format_duration
from baton.protocol.messages.base import Timestamp

__all__ = [
    "AgentLiveness",
    "AgentTimeout",
    "Due",
    "Liveness",
    "LivenessPolicy",
    "TaskTimeout",
    "TaskWatch",
]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat().replace("+00:00", "Z")


def _key(workflow_id: str, task_id: str) -> str:
    # Workflow ids never hold ':' (SPEC §2), so the key is unambiguous.
    return f"{workflow_id}:{task_id}"


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    """How long an agent may stay silent."""

    interval_seconds: float = 30.0
    """Expected time between heartbeats."""
    misses: int = 3
    """Heartbeats missed before the agent is timed out."""

    def __post_init__(self) -> None:
        if not self.interval_seconds > 0 or self.misses < 1:
            raise ValueError("interval_seconds must be positive and misses at least 1")

    @property
    def timeout_seconds(self) -> float:
        """Silence after which an agent is timed out."""
        return self.interval_seconds * self.misses


class AgentLiveness(BaseModel):
    """What is known of one agent."""

    model_config = ConfigDict(extra="forbid")

    last_seen: Timestamp
    """Its latest sign of life."""
    timed_out_at: Timestamp | None = None
    """When its current outage was reported; None while it is alive."""


class TaskWatch(BaseModel):
    """One in-flight task being watched."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str
    task_id: str
    agent_id: str | None = None
    since: Timestamp
    """When it was (re)assigned."""
    deadline: Timestamp | None = None
    """When it should be done; None: only its agent's liveness counts."""
    timed_out_at: Timestamp | None = None
    """When its timeout was reported."""
    trace_context: dict[str, str] = Field(default_factory=dict)
    """Its assignment's trace context (its workflow's trace), for what its timeout emits."""


@dataclass(frozen=True, slots=True)
class AgentTimeout:
    """An agent found silent."""

    agent_id: str
    last_response: datetime
    silent_seconds: float

    def data(self) -> dict[str, Any]:
        """Data of ``AGENT_TIMEOUT`` (seed 001: agent_id, timeout_duration, last_response)."""
        return {
            "agent_id": self.agent_id,
            "timeout_duration": format_duration(round(self.silent_seconds, 3)),
            "last_response": _iso(self.last_response),
        }


@dataclass(frozen=True, slots=True)
class TaskTimeout:
    """A task found overdue, or held by an agent found silent."""

    workflow_id: str
    task_id: str
    agent_id: str | None
    reason: Literal["deadline", "agent_timeout"]
    running_seconds: float
    """Time since it was assigned."""
    limit_seconds: float | None = None
    """Time it was given (deadline - assignment); None when its agent timed out."""
    trace_context: Mapping[str, str] = field(default_factory=dict)
    """Its assignment's trace context (:attr:`TaskWatch.trace_context`)."""

    def data(self) -> dict[str, Any]:
        """Data of ``TASK_TIMEOUT`` (seed 001: task_id, agent_id, timeout_duration).

        ``timeout_duration`` is the time the task was given, or, when its agent timed out
        first, the time it has run.
        """
        seconds = self.running_seconds if self.limit_seconds is None else self.limit_seconds
        return {
            "task_id": self.task_id,
            "agent_id": self.agent_id,
            "timeout_duration": format_duration(round(max(0.0, seconds), 3)),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Due:
    """What :meth:`Liveness.due` found, sorted by agent, then workflow and task."""

    agents: tuple[AgentTimeout, ...] = ()
    tasks: tuple[TaskTimeout, ...] = ()


def _task_timeout(
    task: TaskWatch, reason: Literal["deadline", "agent_timeout"], now: datetime
) -> TaskTimeout:
    limit = None
    if reason == "deadline" and task.deadline is not None:
        limit = (task.deadline - task.since).total_seconds()
    return TaskTimeout(
        workflow_id=task.workflow_id,
        task_id=task.task_id,
        agent_id=task.agent_id,
        reason=reason,
        running_seconds=(now - task.since).total_seconds(),
        limit_seconds=limit,
        trace_context=dict(task.trace_context),
    )


class Liveness(BaseModel):
    """Agents' signs of life and the in-flight tasks being watched."""

    model_config = ConfigDict(extra="forbid")

    agents: dict[str, AgentLiveness] = Field(default_factory=dict)
    """Agents by id."""
    tasks: dict[str, TaskWatch] = Field(default_factory=dict)
    """Watched tasks by ``<workflow_id>:<task_id>``."""

    def heartbeat(self, agent_id: str, *, now: datetime) -> bool:
        """A sign of life from an agent; True when it ends an outage already reported."""
        now = _utc(now)
        known = self.agents.get(agent_id)
        if known is None:
            self.agents[agent_id] = AgentLiveness(last_seen=now)
            return False
        known.last_seen = max(known.last_seen, now)
        recovered = known.timed_out_at is not None
        known.timed_out_at = None
        return recovered

    def watch(
        self,
        *,
        workflow_id: str,
        task_id: str,
        agent_id: str | None,
        now: datetime,
        deadline: datetime | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> None:
        """Start (or restart, on reassignment) watching an in-flight task (``trace_context``:
        its assignment's, see :attr:`TaskWatch.trace_context`)."""
        now = _utc(now)
        if agent_id is not None and agent_id not in self.agents:
            self.agents[agent_id] = AgentLiveness(last_seen=now)
        self.tasks[_key(workflow_id, task_id)] = TaskWatch(
            workflow_id=workflow_id,
            task_id=task_id,
            agent_id=agent_id,
            since=now,
            deadline=None if deadline is None else _utc(deadline),
            trace_context=dict(trace_context or {}),
        )

    def progress(
        self, *, workflow_id: str, task_id: str, now: datetime, deadline: datetime | None = None
    ) -> bool:
        """Progress on a watched task: a sign of life of its agent, and maybe a new deadline.

        Returns True when it ends its agent's reported outage; unknown tasks are ignored.
        """
        task = self.tasks.get(_key(workflow_id, task_id))
        if task is None:
            return False
        if deadline is not None:
            task.deadline = _utc(deadline)
        return task.agent_id is not None and self.heartbeat(task.agent_id, now=now)

    def unwatch(self, *, workflow_id: str, task_id: str, agent_id: str | None = None) -> bool:
        """Stop watching a task (completed, failed, cancelled); True when it was watched.

        With ``agent_id`` (a report's sender) only when that agent holds it: a late report
        of a superseded assignment does not end the watch of the current holder.
        """
        key = _key(workflow_id, task_id)
        watched = self.tasks.get(key)
        if watched is None or agent_id not in (None, watched.agent_id):
            return False
        del self.tasks[key]
        return True

    def forget_agent(self, agent_id: str) -> bool:
        """Stop tracking an agent (it left); its tasks still time out on their deadlines."""
        return self.agents.pop(agent_id, None) is not None

    def due(self, *, now: datetime, policy: LivenessPolicy) -> Due:
        """Agents and tasks that timed out since the last call, each reported once."""
        now = _utc(now)
        limit = timedelta(seconds=policy.timeout_seconds)
        agents: list[AgentTimeout] = []
        for agent_id, agent in sorted(self.agents.items()):
            if agent.timed_out_at is None and now - agent.last_seen >= limit:
                agent.timed_out_at = now
                silent = (now - agent.last_seen).total_seconds()
                agents.append(AgentTimeout(agent_id, agent.last_seen, silent))
        tasks: list[TaskTimeout] = []
        for _, task in sorted(self.tasks.items()):
            if task.timed_out_at is not None:
                continue
            holder = self.agents.get(task.agent_id) if task.agent_id is not None else None
            reason: Literal["deadline", "agent_timeout"] | None = None
            if task.deadline is not None and now >= task.deadline:
                reason = "deadline"
            elif holder is not None and holder.timed_out_at is not None:
                reason = "agent_timeout"
            if reason is not None:
                task.timed_out_at = now
                tasks.append(_task_timeout(task, reason, now))
        return Due(agents=tuple(agents), tasks=tuple(tasks))

    def next_due(self, *, policy: LivenessPolicy) -> datetime | None:
        """The earliest moment :meth:`due` may report something new, if any."""
        limit = timedelta(seconds=policy.timeout_seconds)
        times = [a.last_seen + limit for a in self.agents.values() if a.timed_out_at is None]
        for task in self.tasks.values():
            if task.timed_out_at is not None:
                continue
            if task.deadline is not None:
                times.append(task.deadline)
            holder = self.agents.get(task.agent_id) if task.agent_id is not None else None
            if holder is not None and holder.timed_out_at is not None:
                times.append(holder.timed_out_at)
        return min(times, default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data to persist."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Liveness:
        """The tracker :meth:`to_dict` produced."""
        return cls.model_validate(data)
