"""Events the hub emits, and the custom event types it adds to the protocol's event registry.

A :class:`HubEvent` becomes one line ``EVENT_TYPE:workflow_id:phase:data``; ``phase`` is the
workflow's current phase (the first before the start, the last after the end). Registered
types carry every field the protocol's event registry requires, plus extras (``fencing_token``,
``role``, ``phase_number``...). Data holds JSON values only (times as ISO strings).

Custom types (:data:`CUSTOM_EVENT_TYPES`), each with the fields it always carries:

- ``WORKFLOW_SCHEDULED`` {start_time, estimated_completion} and ``WORKFLOW_QUEUED``
  {queue_position, estimated_start}: the helper's scheduling outcome.
- ``TASK_SKIPPED`` {task_id, reason, rule_id}: a skip decision or a phase jumped over.
- ``TASK_RESULT_REJECTED`` {task_id, agent_id, report, reason, fencing_token}: a report from
  an agent that no longer holds the task, or for a task not in flight.
- ``ESCALATION_REQUIRED`` {task_id, rule_id, reason, context}: a human must decide.
- ``DEPENDENCY_TIMEOUT`` {dependency, kind, timeout}: a dependency not satisfied in time.
- ``EXTERNAL_DEPENDENCY_RESOLVED`` {dependency, satisfied_at}: an external prerequisite met.
- ``QUALITY_GATE_BLOCKED`` {task_id, score, min_score, blocked_tasks} and
  ``QUALITY_SCORE_UPDATED`` {task_id, score, previous_score, gate}.
- ``AGENT_SIGNAL`` {signal_id, sender, recipients, broadcast, signal_type, payload, sent_at}.
- ``CONTEXT_UPDATED`` {target, version, context, updated_keys}.
- ``CHECKPOINT_REQUESTED`` {checkpoint_id, checkpoint_type, trigger, state_version}; on the
  bus also ``snapshot``, the whole state of that version (:mod:`baton_hub.recovery`).
- ``RECOVERY_REQUESTED`` {task_id, agent_id, failure_type, failure_reason, error_count,
  attempts, fencing_token}: a failure left to workflow-recovery.
- ``TASK_RETRY`` {task_id, action, reason, avoid_agents}: workflow-recovery's retry or
  reassignment (its ``TASK_ASSIGNED`` adds ``avoided_agent_used`` when only an avoided
  agent could take the task).
- ``WORKFLOW_RESTORED`` {checkpoint_id, checkpoint_version, kept_tasks, reset_tasks,
  current_phase}: rolled back to a checkpoint, completed work kept.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CUSTOM_EVENT_TYPES", "HubEvent"]

CUSTOM_EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        "WORKFLOW_SCHEDULED",
        "WORKFLOW_QUEUED",
        "TASK_SKIPPED",
        "TASK_RESULT_REJECTED",
        "ESCALATION_REQUIRED",
        "DEPENDENCY_TIMEOUT",
        "EXTERNAL_DEPENDENCY_RESOLVED",
        "QUALITY_GATE_BLOCKED",
        "QUALITY_SCORE_UPDATED",
        "AGENT_SIGNAL",
        "CONTEXT_UPDATED",
        "CHECKPOINT_REQUESTED",
        "RECOVERY_REQUESTED",
        "TASK_RETRY",
        "WORKFLOW_RESTORED",
    }
)
"""Event types the hub emits that are not in the protocol's event registry."""


class HubEvent(BaseModel):
    """One event to publish.

    Attributes:
        event_type: ``[A-Z][A-Z0-9_]*``.
        workflow_id: The workflow.
        phase: Phase name for the line's phase segment.
        data: JSON object of the line.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: str
    workflow_id: str
    phase: str
    data: dict[str, Any] = Field(default_factory=dict)
