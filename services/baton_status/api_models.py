"""The status API's response shapes (they generate its OpenAPI document).

Times are ISO-8601 strings (UTC); durations are seconds; progress is 0-100.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AgentView",
    "Alert",
    "Bottleneck",
    "CriticalPath",
    "Estimate",
    "Overview",
    "PhaseView",
    "PoolUse",
    "QueueEntry",
    "TaskView",
    "TimelineEntry",
    "WorkflowDetail",
    "WorkflowList",
    "WorkflowSummary",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Estimate(_Model):
    """When the workflow will probably finish, and how sure that is."""

    remaining_s: float | None = None
    completion_at: str | None = None
    method: str = ""
    """How it was computed, e.g. ``median of 12 past runs of feature_dev per phase``."""
    confidence: float = 0.0
    """0-1: grows with the number of past runs behind the estimate and the progress made."""
    error_bound: float | None = None
    """Expected relative error of ``remaining_s`` (0.15 = ±15 %)."""
    samples: int = 0


class WorkflowSummary(_Model):
    """One line of the workflow list."""

    workflow_id: str
    name: str = ""
    workflow_type: str = ""
    status: str
    priority: str = "medium"
    progress: float = 0.0
    current_phase: str | None = None
    phases_total: int = 0
    phases_done: int = 0
    queue_position: int | None = None
    estimated_start: str | None = None
    estimate: Estimate = Field(default_factory=Estimate)
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    failure_reason: str | None = None


class WorkflowList(_Model):
    """One page of the workflow list."""

    workflows: list[WorkflowSummary]
    total: int
    """Workflows that match the filters (on every page)."""
    next_cursor: str | None = None
    """Pass as ``cursor`` for the next page; None on the last one."""


class TaskView(_Model):
    task_id: str
    phase: str
    role: str | None = None
    status: str = "pending"
    agent_id: str | None = None
    attempts: int = 0
    dependencies: list[str] = Field(default_factory=list)
    quality_score: float | None = None
    started_at: str | None = None
    completed_at: str | None = None
    duration_s: float | None = None


class PhaseView(_Model):
    name: str
    number: int
    status: str = "pending"
    progress: float = 0.0
    started_at: str | None = None
    completed_at: str | None = None
    duration_s: float | None = None
    tasks: list[str] = Field(default_factory=list)


class AgentView(_Model):
    agent_id: str
    status: Literal["active", "idle"] = "idle"
    current_task: str | None = None
    tasks_done: int = 0


class TimelineEntry(_Model):
    at: str
    event_type: str
    phase: str
    summary: str = ""
    event_id: str = ""


class CriticalPath(_Model):
    """The longest chain of remaining work (by expected duration)."""

    tasks: list[str] = Field(default_factory=list)
    remaining_s: float = 0.0


class WorkflowDetail(WorkflowSummary):
    """One workflow with its phases, tasks, agents, dependencies and timeline."""

    phases: list[PhaseView] = Field(default_factory=list)
    tasks: list[TaskView] = Field(default_factory=list)
    agents: list[AgentView] = Field(default_factory=list)
    dependencies: dict[str, Any] = Field(default_factory=dict)
    """``external``: name → satisfied; ``tasks``: task → the tasks it waits for."""
    timeline: list[TimelineEntry] = Field(default_factory=list)
    critical_path: CriticalPath = Field(default_factory=CriticalPath)
    allocation: dict[str, Any] | None = None


class QueueEntry(_Model):
    workflow_id: str
    priority: str
    position: int | None = None
    estimated_start: str | None = None


class PoolUse(_Model):
    capacity: float
    used: float
    utilisation: float


class Alert(_Model):
    at: str
    event_type: str
    workflow_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Bottleneck(_Model):
    """What holds most workflows back."""

    kind: Literal["phase", "agent", "resource", "dependency"]
    name: str
    workflows: list[str] = Field(default_factory=list)
    detail: str = ""


class Overview(_Model):
    """The whole system at a glance (``system-overview``)."""

    at: str
    counts: dict[str, int] = Field(default_factory=dict)
    """Workflows per status."""
    active: list[WorkflowSummary] = Field(default_factory=list)
    queue: list[QueueEntry] = Field(default_factory=list)
    conflicts: list[dict[str, Any]] = Field(default_factory=list)
    resources: dict[str, PoolUse] = Field(default_factory=dict)
    bottlenecks: list[Bottleneck] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
