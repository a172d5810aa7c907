"""Error reports (the protocol's "Error Reporting Standards", docs/protocol.md).

Choices the protocol leaves open:

- The classification enums are the protocol's lists; ``category`` and ``type`` are required
  (the protocol says a report MUST be classified), ``severity`` defaults to ``medium``,
  ``scope`` to ``workflow``.
- ``workflow_id`` defaults to ``global``, the protocol's marker of a system-wide event.
- ``details.error_message`` is required; everything else is optional.
- ``recovery_suggestions`` keep the sender's order (best first); ``strategy`` is free text
  (``agent_reallocation``, ``checkpoint_rollback``, ``retry``...).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from baton.protocol.messages.base import (
    Duration,
    Identifier,
    Message,
    Priority,
    Probability,
    Timestamp,
    new_id,
    utc_now,
)

__all__ = [
    "ErrorCategory",
    "ErrorClassification",
    "ErrorContext",
    "ErrorDetails",
    "ErrorReport",
    "ErrorReportMessage",
    "ErrorScope",
    "ErrorSeverity",
    "ErrorType",
    "ImpactAssessment",
    "RecoverySuggestion",
]

ErrorCategory = Literal["execution", "resource", "dependency", "state", "system"]
ErrorSeverity = Literal["critical", "high", "medium", "low", "info"]
ErrorType = Literal["timeout", "conflict", "corruption", "unavailable", "limit_exceeded"]
ErrorScope = Literal["workflow", "phase", "task", "agent", "system"]


class ErrorClassification(Message):
    """The standard classification of an error."""

    category: ErrorCategory
    """execution, resource, dependency, state or system."""
    severity: ErrorSeverity = "medium"
    """critical, high, medium, low or info."""
    type: ErrorType
    """timeout, conflict, corruption, unavailable or limit_exceeded."""
    scope: ErrorScope = "workflow"
    """What the error affects: workflow, phase, task, agent or system."""
    recoverable: bool = True
    """Whether recovery may succeed."""


class ErrorContext(Message):
    """Where the error happened."""

    component: str | None = None
    """Component or agent that saw it."""
    operation: str | None = None
    """Operation under way, e.g. task_execution."""
    phase: str | None = None
    """Phase of the workflow."""
    task: str | None = None
    """Task concerned."""
    agent: str | None = None
    """Agent concerned."""


class ErrorDetails(Message):
    """What went wrong."""

    error_message: str
    """One-line human-readable message."""
    technical_details: str | None = None
    """Longer explanation."""
    stack_trace: str | None = None
    """Stack trace, when there is one."""
    related_events: list[str] = Field(default_factory=list)
    """Ids of related events."""


class ImpactAssessment(Message):
    """What the error blocks."""

    affected_tasks: list[str] = Field(default_factory=list)
    """Tasks that failed or must be redone."""
    affected_agents: list[str] = Field(default_factory=list)
    """Agents involved."""
    blocking_dependencies: list[str] = Field(default_factory=list)
    """Tasks blocked until this is resolved."""
    estimated_delay: Duration | None = None
    """Expected delay of the workflow."""
    workflow_risk: Priority = "low"
    """Risk to the workflow: critical, high, medium or low."""


class RecoverySuggestion(Message):
    """One way to recover."""

    strategy: str
    """Strategy name, e.g. agent_reallocation."""
    description: str = ""
    """What it does."""
    estimated_time: Duration | None = None
    """How long it takes."""
    success_probability: Probability | None = None
    """Chance of success, 0..1."""


class ErrorReport(Message):
    """A classified error with its impact and ranked recovery suggestions."""

    error_id: Identifier = Field(default_factory=lambda: new_id("err"))
    """Unique id of the report (``err_<uuid>``)."""
    workflow_id: Identifier = "global"
    """Workflow concerned, or ``global``."""
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When the error happened."""
    classification: ErrorClassification
    """Standard classification."""
    context: ErrorContext = Field(default_factory=ErrorContext)
    """Where it happened."""
    details: ErrorDetails
    """What went wrong."""
    impact_assessment: ImpactAssessment = Field(default_factory=ImpactAssessment)
    """What it blocks."""
    recovery_suggestions: list[RecoverySuggestion] = Field(default_factory=list)
    """Ways to recover, best first."""


class ErrorReportMessage(Message):
    """Envelope ``{"error_report": {...}}``."""

    error_report: ErrorReport
    """The error report."""
