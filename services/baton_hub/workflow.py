"""The workflow state machine.

Lifecycle: CREATED → SCHEDULED (resources approved) or QUEUED (wait for resources) →
STARTED ⇄ PAUSED → COMPLETED | FAILED | CANCELLED. Every operation is a pure function
``op(state, *, ..., now) -> (new_state, events)``: the caller's state is never modified, the
time is passed in, and the events are what to publish, in order. An operation the current
status does not allow raises :class:`~baton_hub.errors.InvalidTransition` naming both.
Task reports are in :mod:`baton_hub.tasks`, timeouts in :mod:`baton_hub.timeouts`, phase
commands in :mod:`baton_hub.phases`, external dependencies in :mod:`baton_hub.external`,
agents in :mod:`baton_hub.agents`, signals and shared context in :mod:`baton_hub.signals`
and :mod:`baton_hub.context`; this module re-exports them, so it is the one place to import
the state machine from.

Version conflict rule: a new workflow has ``state_version`` 1 and every transition that
changes the state adds exactly one; an operation that changes nothing (a rejected report,
a timeout check with nothing due, a repeated report) returns the same state, same version.
A consumer of the state topic classifies each incoming version with
:func:`baton_hub.sync.detect_conflict`: ``stale`` (not newer than what it has: ignore it),
``gap`` (versions were skipped: apply it, since each message is a full snapshot, but flag
the conflict and re-read the events between), ``ok`` (the next version: apply it). The hub
itself is the single writer of a workflow's state (one partition per workflow_id), so two
different states with the same version cannot be produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from baton.protocol.messages.base import Identifier
from baton_hub.agents import assign_agents, remove_agent
from baton_hub.context import context_for, update_context
from baton_hub.definition import WorkflowDefinition
from baton_hub.dependencies import reopen
from baton_hub.errors import InvalidInputError
from baton_hub.events import HubEvent
from baton_hub.external import on_external_event, waiting_for
from baton_hub.lifecycle import allocation_summary, fail_workflow, pause_workflow, start_workflow
from baton_hub.phases import start_phase, start_phase_reply
from baton_hub.scheduling import advance
from baton_hub.signals import signal, signals
from baton_hub.state import (
    AllocationInfo,
    ExternalDependencyState,
    PhaseState,
    QueueInfo,
    TaskState,
    WorkflowState,
)
from baton_hub.sync import detect_conflict, state_sync
from baton_hub.tasks import (
    on_quality_score,
    on_task_completed,
    on_task_failed,
    on_task_started,
)
from baton_hub.timeouts import check_timeouts
from baton_hub.transition import Outcome, Transition, utc
from baton_hub.units import after, format_seconds, iso

__all__ = [
    "Outcome",
    "assign_agents",
    "cancel",
    "check_timeouts",
    "checkpoint",
    "context_for",
    "create",
    "detect_conflict",
    "on_allocation",
    "on_external_event",
    "on_quality_score",
    "on_task_completed",
    "on_task_failed",
    "on_task_started",
    "pause",
    "remove_agent",
    "resume",
    "signal",
    "signals",
    "start_phase",
    "start_phase_reply",
    "state_sync",
    "update_context",
]

_OPEN = frozenset({"CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED"})
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def create(definition: WorkflowDefinition | Mapping[str, Any], *, now: datetime) -> Outcome:
    """A new workflow, CREATED, version 1, and its ``WORKFLOW_CREATED``.

    Raises:
        pydantic.ValidationError: the definition is invalid (the error names the field).
    """
    if not isinstance(definition, WorkflowDefinition):
        definition = WorkflowDefinition.model_validate(definition)
    moment = utc(now)
    state = WorkflowState(
        definition=definition,
        phases=[PhaseState(name=name) for name in definition.phases],
        tasks={t.task_id: TaskState(task_id=t.task_id) for t in definition.tasks},
        external={
            d.name: ExternalDependencyState(name=d.name) for d in definition.external_dependencies
        },
        created_at=moment,
        updated_at=moment,
    )
    data = {
        "workflow_definition": definition.model_dump(mode="json"),
        "estimated_duration": format_seconds(definition.planned_seconds()),
        "priority": definition.priority,
        "resources": definition.to_allocation_request_fields(),
    }
    event = HubEvent(
        event_type="WORKFLOW_CREATED",
        workflow_id=definition.workflow_id,
        phase=state.phase_name,
        data=data,
    )
    return state, [event]


def on_allocation(
    state: WorkflowState,
    *,
    status: Literal["approved", "partial", "queued", "denied"],
    allocation_id: str | None = None,
    agents: list[str] | None = None,
    queue_position: int | None = None,
    estimated_start: str | None = None,
    reason: str | None = None,
    now: datetime,
) -> Outcome:
    """Apply the resource manager's answer.

    approved/partial: SCHEDULED (``WORKFLOW_SCHEDULED``), then, unless blocking external
    dependencies are unmet, STARTED (``WORKFLOW_STARTED``), phase 1 started and its ready
    tasks assigned over ``agents``. queued: QUEUED (``WORKFLOW_QUEUED``; a later answer may
    update the position). denied: FAILED with ``reason``.
    """
    tx = Transition(state, now=now, operation=f"apply allocation {status}")
    tx.require({"CREATED", "QUEUED"})
    st = tx.state
    if status == "queued":
        st.status = "QUEUED"
        st.queue = QueueInfo(
            queue_position=queue_position, estimated_start=estimated_start, queued_at=tx.now
        )
        tx.emit(
            "WORKFLOW_QUEUED",
            {
                "queue_position": queue_position,
                "estimated_start": estimated_start,
                **({"reason": reason} if reason else {}),
            },
        )
    elif status == "denied":
        fail_workflow(tx, f"resource allocation denied: {reason or 'no reason given'}")
    else:
        st.allocation = AllocationInfo(
            allocation_id=allocation_id, status=status, agents=list(dict.fromkeys(agents or []))
        )
        st.queue = None
        st.status = "SCHEDULED"
        st.scheduled_at = tx.now
        waiting = waiting_for(st)
        planned = st.definition.planned_seconds()
        tx.emit(
            "WORKFLOW_SCHEDULED",
            {
                "start_time": "on_dependencies" if waiting else iso(tx.now),
                "estimated_completion": iso(after(tx.now, planned)),
                "estimated_duration": format_seconds(planned),
                "resource_allocation": allocation_summary(st),
                "waiting_for": waiting,
            },
        )
        if not waiting:
            start_workflow(tx)
            advance(tx)
    return tx.commit()


def pause(state: WorkflowState, *, reason: str, now: datetime) -> Outcome:
    """STARTED → PAUSED: no new assignments; reports of running tasks are still recorded."""
    tx = Transition(state, now=now, operation="pause")
    tx.require({"STARTED"})
    pause_workflow(tx, reason)
    return tx.commit()


def resume(state: WorkflowState, *, now: datetime) -> Outcome:
    """PAUSED → STARTED: assigns what became ready; escalated tasks get another attempt
    (one still blocked by a dependency waits for it again rather than run without it)."""
    tx = Transition(state, now=now, operation="resume")
    tx.require({"PAUSED"})
    st = tx.state
    retried = [t for t in st.tasks.values() if t.escalated and t.status == "failed"]
    for task in retried:
        task.escalated = False
        task.previous_agent = task.agent_id or task.previous_agent
        task.agent_id = None
        reopen(st, task, now=tx.now)
    st.status = "STARTED"
    st.pause_reason = None
    orphaned = [t.task_id for t in st.tasks.values() if t.in_flight and t.agent_id is None]
    tx.emit(
        "WORKFLOW_RESUMED",
        {
            "resume_time": iso(tx.now),
            "state_validation": {
                "valid": not orphaned,
                "state_version": st.state_version + 1,
                "tasks_in_flight": [t.task_id for t in st.tasks.values() if t.in_flight],
                "tasks_retried": [t.task_id for t in retried],
                "problems": [f"task {t} in flight without an agent" for t in orphaned],
            },
        },
    )
    advance(tx)
    return tx.commit()


def cancel(state: WorkflowState, *, reason: str, now: datetime) -> Outcome:
    """Any open status → CANCELLED; the allocation is for the resource manager to release."""
    tx = Transition(state, now=now, operation="cancel")
    tx.require(_OPEN)
    st = tx.state
    abandoned = [t.task_id for t in st.tasks.values() if t.in_flight]
    st.status = "CANCELLED"
    st.finished_at = tx.now
    tx.emit(
        "WORKFLOW_CANCELLED",
        {
            "cancellation_reason": reason,
            "cleanup_status": {
                "allocation_id": st.allocation.allocation_id if st.allocation else None,
                "release_requested": st.allocation is not None,
                "abandoned_tasks": abandoned,
                "agents_to_release": st.agents(),
            },
        },
    )
    return tx.commit()


def checkpoint(state: WorkflowState, *, label: str, now: datetime) -> Outcome:
    """Ask for a manual checkpoint (``checkpoint "pre_migration_validation"``).

    The label becomes the checkpoint id, which workflow-recovery stores and can restore.

    Raises:
        InvalidInputError: the label is not an id (``[A-Za-z0-9_.-]{1,128}``).
    """
    tx = Transition(state, now=now, operation="checkpoint")
    try:
        checkpoint_id = _IDENTIFIER.validate_python(label)
    except ValidationError:
        raise InvalidInputError(
            f"checkpoint label {label!r} is not an id ([A-Za-z0-9_.-]{{1,128}})",
            workflow_id=tx.state.workflow_id,
            field="label",
        ) from None
    tx.state.checkpoint_id = checkpoint_id
    tx.emit(
        "CHECKPOINT_REQUESTED",
        {
            "checkpoint_id": checkpoint_id,
            "checkpoint_type": "manual",
            "trigger": "manual",
            "state_version": tx.state.state_version + 1,
        },
    )
    return tx.commit()
