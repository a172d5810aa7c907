"""Liveness: agents that stop heartbeating and tasks that overrun, each reported once.

Rules (enforced on the watchdog's rows, :mod:`~baton_recovery.failures.watchlist`):

- an agent silent for ``misses`` heartbeat intervals or more gets ``AGENT_TIMEOUT``, once
  per outage: its next sign of life ends the outage, and a later silence is a new one;
- a watched task whose deadline has passed, or whose agent has timed out, gets
  ``TASK_TIMEOUT`` and a reassignment, once: not again until it is watched anew (a new
  assignment) or unwatched.

Choices the protocol leaves open (the protocol configures ``heartbeat_interval: 30s``):

- 3 missed intervals by default, so one lost heartbeat is no outage.
- An agent is tracked from its first heartbeat or from its first task, whichever comes
  first: being given a task is its last known sign of life.
- Times are the database's clock when a replica recorded the signal, never the sender's,
  so clock skew between hosts (agents or recovery replicas) cannot make an agent look dead.

This module holds the policy and what a timeout reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from baton.protocol.duration import format_duration

__all__ = ["AgentTimeout", "LivenessPolicy", "TaskTimeout", "TimeoutReason"]

TimeoutReason = Literal["deadline", "agent_timeout"]
"""Why a task timed out: its deadline passed, or its agent fell silent."""


def _iso(moment: datetime) -> str:
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


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


@dataclass(frozen=True, slots=True)
class AgentTimeout:
    """An agent found silent."""

    agent_id: str
    last_response: datetime
    silent_seconds: float

    def data(self) -> dict[str, Any]:
        """Data of ``AGENT_TIMEOUT`` (the protocol's fields: agent_id, timeout_duration,
        last_response)."""
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
    reason: TimeoutReason
    running_seconds: float
    """Time since it was assigned."""
    assignment_id: str = ""
    """The assignment that timed out (its ``TASK_ASSIGNED`` event id)."""
    limit_seconds: float | None = None
    """Time it was given (deadline - assignment); None when its agent timed out."""
    trace_context: Mapping[str, str] = field(default_factory=dict)
    """Its assignment's trace context (the workflow's trace), for what its timeout emits."""

    @property
    def action_id(self) -> str:
        """Id of the reassignment it causes: one per assignment, so whichever replica
        stores it, and however often, the hub applies it once."""
        return f"act_timeout_{self.workflow_id}_{self.task_id}_{self.assignment_id}"

    def data(self) -> dict[str, Any]:
        """Data of ``TASK_TIMEOUT`` (the protocol's fields: task_id, agent_id, timeout_duration).

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
