"""The state of one workflow as plain pydantic data.

Everything the hub knows about a workflow is in :class:`WorkflowState`; it round-trips
through ``model_dump(mode="json")`` and ``model_validate`` unchanged, so a store can keep it
as JSON. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from baton.protocol.fields import TERMINAL_STATUSES
from baton.protocol.messages.base import Timestamp
from baton_hub.definition import TaskSpec, WorkflowDefinition

__all__ = [
    "TERMINAL",
    "AgentAssignment",
    "AllocationInfo",
    "ExternalDependencyState",
    "PhaseState",
    "PhaseStatus",
    "QueueInfo",
    "SharedContext",
    "Signal",
    "TaskState",
    "TaskStatus",
    "WorkflowState",
    "WorkflowStatus",
]

WorkflowStatus = Literal[
    "CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"
]
"""Lifecycle: CREATED → SCHEDULED/QUEUED → STARTED ⇄ PAUSED → COMPLETED | FAILED | CANCELLED."""

TERMINAL: frozenset[str] = TERMINAL_STATUSES
"""Statuses a workflow never leaves."""

TaskStatus = Literal["pending", "ready", "assigned", "running", "completed", "failed", "skipped"]
"""pending: waits for its phase or dependencies; ready: waits for an agent."""

PhaseStatus = Literal["pending", "running", "completed", "failed", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskState(_Model):
    """Runtime state of one task."""

    task_id: str
    status: TaskStatus = "pending"
    agent_id: str | None = None
    previous_agent: str | None = None
    """Agent that held the task before a retry or reassignment."""
    attempts: NonNegativeInt = 0
    """Assignments so far (the first assignment is attempt 1)."""
    error_count: NonNegativeInt = 0
    """Failures so far (agent reports, timeouts, dependency waits)."""
    fencing_token: NonNegativeInt = 0
    """Grows by one per (re)assignment; a report with an older token is stale."""
    share_agent: bool = False
    """A parallelize decision let this task run on an agent that is busy."""
    escalated: bool = False
    quality_score: float | None = None
    results: dict[str, Any] | None = None
    failure_reason: str | None = None
    waiting_since: Timestamp | None = None
    assigned_at: Timestamp | None = None
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    avoid_agents: list[str] = Field(default_factory=list)
    """Agents workflow-recovery asked not to give this task to next, while the workflow has
    others (:mod:`baton_hub.scheduling`); cleared by that assignment."""

    @property
    def in_flight(self) -> bool:
        """True while an agent holds the task."""
        return self.status in {"assigned", "running"}

    @property
    def done(self) -> bool:
        """True when completed or skipped."""
        return self.status in {"completed", "skipped"}


class PhaseState(_Model):
    """Runtime state of one phase."""

    name: str
    status: PhaseStatus = "pending"
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None


class AllocationInfo(_Model):
    """Resources granted by the resource manager."""

    allocation_id: str | None = None
    status: Literal["approved", "partial"] = "approved"
    agents: list[str] = Field(default_factory=list)


class QueueInfo(_Model):
    """Where a queued workflow stands."""

    queue_position: NonNegativeInt | None = None
    estimated_start: str | None = None
    queued_at: Timestamp


class AgentAssignment(_Model):
    """An agent given to the workflow for a role (``assign-agents``)."""

    agent_id: str = Field(min_length=1)
    role: str = Field(min_length=1)
    capabilities: list[str] = Field(default_factory=list)


class ExternalDependencyState(_Model):
    """Whether an external prerequisite has been satisfied."""

    name: str
    satisfied: bool = False
    satisfied_at: Timestamp | None = None
    timed_out: bool = False


class Signal(_Model):
    """One signal between agents."""

    signal_id: str
    sequence: PositiveInt
    sender: str
    recipients: list[str] | None = None
    """None means every agent of the workflow."""
    signal_type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    sent_at: Timestamp


class SharedContext(_Model):
    """Versioned context shared with agents: global data and data per agent or role."""

    version: NonNegativeInt = 0
    data: dict[str, Any] = Field(default_factory=dict)
    scoped: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Agent id or role → data only that agent, or the agents of that role, see."""
    scoped_versions: dict[str, NonNegativeInt] = Field(default_factory=dict)
    """Agent id or role → context version of its last update."""


class WorkflowState(_Model):
    """Everything the hub knows about one workflow."""

    definition: WorkflowDefinition
    status: WorkflowStatus = "CREATED"
    state_version: PositiveInt = 1
    current_phase: NonNegativeInt = 0
    """Index into ``phases``."""
    phases: list[PhaseState]
    tasks: dict[str, TaskState]
    """Task id → state, in phase and definition order."""
    allocation: AllocationInfo | None = None
    queue: QueueInfo | None = None
    agent_roles: dict[str, list[str]] = Field(default_factory=dict)
    """Agent id → roles given by ``assign-agents``."""
    external: dict[str, ExternalDependencyState] = Field(default_factory=dict)
    signals: list[Signal] = Field(default_factory=list)
    signal_count: NonNegativeInt = 0
    context: SharedContext = Field(default_factory=SharedContext)
    assignment_count: NonNegativeInt = 0
    """Assignments made so far; the round-robin cursor."""
    checkpoint_id: str | None = None
    delegate_failures: bool = False
    """Failures no routing rule handles go to workflow-recovery (baton_hub.recovery)."""
    failure_reason: str | None = None
    pause_reason: str | None = None
    trace_context: dict[str, str] = Field(default_factory=dict)
    """W3C trace context (``traceparent``...) of the request that created the workflow: the
    workflow's trace. Events the hub emits outside the handling of this workflow's own
    records (a timeout found by the loop) carry it, so one workflow is one trace."""
    created_at: Timestamp
    updated_at: Timestamp
    scheduled_at: Timestamp | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None

    @property
    def workflow_id(self) -> str:
        """Id of the workflow."""
        return self.definition.workflow_id

    @property
    def phase_name(self) -> str:
        """Name of the current phase (the first before start, the last after the end)."""
        return self.phases[self.current_phase].name

    @property
    def terminal(self) -> bool:
        """True when COMPLETED, FAILED or CANCELLED."""
        return self.status in TERMINAL

    def spec(self, task_id: str) -> TaskSpec:
        """The definition of a task the state holds."""
        spec = self.definition.task(task_id)
        if spec is None:
            raise KeyError(task_id)
        return spec

    def phase_tasks(self, index: int | None = None) -> list[TaskState]:
        """States of the tasks of phase ``index`` (default: the current phase)."""
        name = self.phases[self.current_phase if index is None else index].name
        return [self.tasks[t.task_id] for t in self.definition.tasks_in_phase(name)]

    def agents(self) -> list[str]:
        """Agents of the workflow: allocated ones, then ones given only by assign-agents."""
        allocated = self.allocation.agents if self.allocation else []
        return list(dict.fromkeys([*allocated, *self.agent_roles]))

    def load(self, agent_id: str) -> int:
        """Tasks ``agent_id`` holds right now."""
        return sum(1 for t in self.tasks.values() if t.in_flight and t.agent_id == agent_id)

    def roles_of(self, agent_id: str) -> list[str]:
        """Roles of an agent: given by assign-agents, then of the tasks it has held."""
        held = [
            self.spec(t.task_id).role or ""
            for t in self.tasks.values()
            if t.agent_id == agent_id and t.status != "pending"
        ]
        return list(dict.fromkeys([*self.agent_roles.get(agent_id, []), *held]))
