"""The status service's read model: one :class:`WorkflowView` per workflow, one :class:`SystemView`.

Both are plain pydantic data that round-trip through JSON (``model_dump_json`` /
``model_validate_json``) unchanged, so a store can keep them as JSON. Times are
timezone-aware UTC datetimes; durations are seconds. Bounded lists keep the newest items:
the timeline (:data:`TIMELINE_LIMIT`), remembered event ids (:data:`SEEN_LIMIT`),
conflicts and alerts (:data:`SYSTEM_LIST_LIMIT`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from baton.protocol.fields import TERMINAL_STATUSES
from baton_status.api_models import Alert, TimelineEntry

__all__ = [
    "DONE_TASK",
    "IN_FLIGHT",
    "OPEN_STATUSES",
    "SEEN_LIMIT",
    "SYSTEM_LIST_LIMIT",
    "TERMINAL",
    "TIMELINE_LIMIT",
    "AgentRecord",
    "AllocationRecord",
    "ExternalRecord",
    "PhaseRecord",
    "PoolRecord",
    "SystemView",
    "TaskRecord",
    "Utc",
    "WorkflowView",
    "iso",
    "keep_last",
    "remember",
    "utc",
]

TIMELINE_LIMIT: Final = 500
"""Timeline entries kept per workflow (the newest)."""
SEEN_LIMIT: Final = 1000
"""Event ids remembered per view to apply a repeated event once."""
SYSTEM_LIST_LIMIT: Final = 100
"""Conflicts and alerts kept by the system view (the newest)."""

TERMINAL: Final = TERMINAL_STATUSES
"""Workflow statuses that never change again."""
OPEN_STATUSES: Final = frozenset({"CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED"})
DONE_TASK: Final = frozenset({"completed", "skipped"})
"""Task statuses that count as done for progress."""
IN_FLIGHT: Final = frozenset({"assigned", "running"})
"""Task statuses in which an agent holds the task."""


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive time is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC text ending in ``Z``, or None."""
    if moment is None:
        return None
    return utc(moment).isoformat().replace("+00:00", "Z")


Utc = Annotated[datetime, AfterValidator(utc)]
"""A datetime normalised to UTC (naive means UTC)."""


def keep_last(items: list[Any], limit: int) -> None:
    """Drop the oldest items of ``items`` (in place) beyond ``limit``."""
    if len(items) > limit:
        del items[: len(items) - limit]


def remember(seen: list[str], event_id: str) -> bool:
    """Add ``event_id`` to ``seen`` (bounded); False when it was already there."""
    if event_id in seen:
        return False
    seen.append(event_id)
    keep_last(seen, SEEN_LIMIT)
    return True


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRecord(_Model):
    """One task: its definition and what happened to it."""

    task_id: str
    phase: str
    role: str | None = None
    dependencies: list[str] = Field(default_factory=list)
    """Task ids and external dependency names it waits for."""
    min_scores: dict[str, float] = Field(default_factory=dict)
    """Dependency → score it must reach for this task (its own gate, or this task's ask)."""
    gate: float | None = None
    """The task's own quality gate (lowest passing score)."""
    estimated_s: float = 0.0
    """Expected duration by the definition (its ``estimated_duration`` or the phase share)."""
    explicit_estimate: bool = False
    """True when the definition gave ``estimated_duration`` for this task."""
    status: str = "pending"
    agent_id: str | None = None
    fencing_token: int | None = None
    attempts: int = 0
    failures: int = 0
    quality_score: float | None = None
    gate_blocked: bool = False
    failure_reason: str | None = None
    assigned_at: Utc | None = None
    started_at: Utc | None = None
    completed_at: Utc | None = None
    duration_s: float | None = None


class PhaseRecord(_Model):
    """One phase, in order."""

    name: str
    number: int
    status: str = "pending"
    planned_s: float = 0.0
    """The definition's expected duration of the phase."""
    started_at: Utc | None = None
    completed_at: Utc | None = None
    duration_s: float | None = None
    """Actual duration, once completed."""
    tasks: list[str] = Field(default_factory=list)


class AgentRecord(_Model):
    """An agent of the workflow: from the allocation, ``assign-agents`` or an assignment."""

    agent_id: str
    roles: list[str] = Field(default_factory=list)
    current_tasks: list[str] = Field(default_factory=list)
    tasks_done: int = 0
    tasks_failed: int = 0
    released: bool = False


class ExternalRecord(_Model):
    """An external prerequisite of the workflow."""

    satisfied: bool = False
    satisfied_at: Utc | None = None
    timed_out: bool = False


class AllocationRecord(_Model):
    """Resources granted to the workflow."""

    allocation_id: str | None = None
    status: str | None = None
    agents: list[str] = Field(default_factory=list)
    resource_details: dict[str, Any] = Field(default_factory=dict)
    released: bool = False
    release_reason: str | None = None


class WorkflowView(_Model):
    """Everything the status service knows about one workflow."""

    workflow_id: str
    name: str = ""
    workflow_type: str = ""
    priority: str = "medium"
    status: str = "CREATED"
    planned_s: float = 3600.0
    """Planned duration of the whole workflow (the definition's resource duration)."""
    resources: dict[str, Any] = Field(default_factory=dict)
    """What the workflow asked the resource manager for (``agents``, ``memory_gb``...)."""
    phases: list[PhaseRecord] = Field(default_factory=list)
    current_phase: int = 0
    """Index into ``phases``: the running phase, else the next to run (the last at the end)."""
    tasks: dict[str, TaskRecord] = Field(default_factory=dict)
    """Task id → record, in phase and definition order."""
    agents: dict[str, AgentRecord] = Field(default_factory=dict)
    external: dict[str, ExternalRecord] = Field(default_factory=dict)
    waiting_for: list[str] = Field(default_factory=list)
    """External dependencies that hold the start back (SCHEDULED, not yet started)."""
    allocation: AllocationRecord | None = None
    queue_position: int | None = None
    estimated_start: str | None = None
    estimated_completion: str | None = None
    """The hub's own estimate when it scheduled the workflow (planned duration)."""
    failure_reason: str | None = None
    pause_reason: str | None = None
    created_at: Utc | None = None
    queued_at: Utc | None = None
    scheduled_at: Utc | None = None
    started_at: Utc | None = None
    finished_at: Utc | None = None
    updated_at: Utc | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    """The newest :data:`TIMELINE_LIMIT` events, oldest first."""
    seen: list[str] = Field(default_factory=list)
    """The newest :data:`SEEN_LIMIT` event ids applied."""
    events_applied: int = 0

    @property
    def terminal(self) -> bool:
        """True when COMPLETED, FAILED or CANCELLED."""
        return self.status in TERMINAL

    @property
    def phase(self) -> PhaseRecord | None:
        """The current phase, or None when the definition named none."""
        return self.phases[self.current_phase] if self.phases else None

    def phase_index(self, name: str) -> int | None:
        """Index of the phase called ``name``, or None."""
        return next((i for i, p in enumerate(self.phases) if p.name == name), None)

    def phase_tasks(self, index: int) -> list[TaskRecord]:
        """Records of the tasks of phase ``index``, in definition order."""
        return [self.tasks[t] for t in self.phases[index].tasks if t in self.tasks]

    def agent(self, agent_id: str) -> AgentRecord:
        """The record of ``agent_id``, added when new."""
        record = self.agents.get(agent_id)
        if record is None:
            record = self.agents[agent_id] = AgentRecord(agent_id=agent_id)
        return record

    def blockers(self, task: TaskRecord) -> list[str]:
        """The dependencies of ``task`` not satisfied yet (the hub's rule, as seen here).

        A task dependency is satisfied when skipped, or completed with the score it must
        reach; an external one when resolved. A name the view does not know never blocks.
        """
        out: list[str] = []
        for dep in task.dependencies:
            ext = self.external.get(dep)
            if ext is not None:
                if not ext.satisfied:
                    out.append(dep)
                continue
            target = self.tasks.get(dep)
            if target is None or target.status == "skipped":
                continue
            threshold = task.min_scores.get(dep)
            score = target.quality_score
            passed = threshold is None or (score is not None and score >= threshold)
            if target.status != "completed" or not passed:
                out.append(dep)
        return out


class PoolRecord(_Model):
    """One pool as the resource manager last said it holds it."""

    capacity: float
    used: float
    free: float
    utilisation: float
    """Used over capacity in %."""


class SystemView(_Model):
    """What is system-wide: the pools, conflicts, alerts.

    The pools are the resource manager's own figures (its state sync,
    :mod:`baton.protocol.messages.resource_state`), never a sum the status service keeps:
    one source of truth for what is used.
    """

    # Ignore, not forbid: rows written before the pools came from the resource manager
    # hold ``allocations`` and ``capacities``, which the next write drops.
    model_config = ConfigDict(extra="ignore")

    pools: dict[str, PoolRecord] = Field(default_factory=dict)
    """Pool name → figures, as of ``resource_version`` (empty until the first state sync)."""
    resource_version: int | None = None
    """Version of the resource manager's state the pools are from."""
    resource_at: Utc | None = None
    """When the resource manager published that state."""
    conflicts: list[dict[str, Any]] = Field(default_factory=list)
    """The newest :data:`SYSTEM_LIST_LIMIT` conflicts: event data plus ``at``, ``workflow_id``."""
    alerts: list[Alert] = Field(default_factory=list)
    """The newest :data:`SYSTEM_LIST_LIMIT` alerts, oldest first."""
    seen: list[str] = Field(default_factory=list)
    updated_at: Utc | None = None
