"""Workflow-level moments shared by several operations: start, failure, pause.

Each changes ``tx.state`` and emits the protocol's event for it; the operations in
:mod:`baton_hub.workflow`, :mod:`baton_hub.tasks` and :mod:`baton_hub.failures` decide when.
"""

from __future__ import annotations

from typing import Any

from baton_hub.state import WorkflowState
from baton_hub.transition import Transition
from baton_hub.units import iso

__all__ = [
    "allocation_summary",
    "fail_workflow",
    "pause_workflow",
    "start_workflow",
    "state_summary",
]


def allocation_summary(state: WorkflowState) -> dict[str, Any]:
    """The allocation as event data."""
    alloc = state.allocation
    return {
        "allocation_id": alloc.allocation_id if alloc else None,
        "status": alloc.status if alloc else None,
        "agents": state.agents(),
    }


def state_summary(state: WorkflowState) -> dict[str, Any]:
    """A short description of where the workflow stands, for pause and failure events."""
    counts: dict[str, int] = {}
    for task in state.tasks.values():
        counts[task.status] = counts.get(task.status, 0) + 1
    return {
        "status": state.status,
        "phase": state.phase_name,
        "phase_number": state.current_phase + 1,
        "state_version": state.state_version,
        "tasks": counts,
        "in_flight": [t.task_id for t in state.tasks.values() if t.in_flight],
    }


def start_workflow(tx: Transition) -> None:
    """Mark the workflow STARTED and announce it."""
    st = tx.state
    st.status = "STARTED"
    st.started_at = tx.now
    tx.emit(
        "WORKFLOW_STARTED",
        {
            "start_time": iso(tx.now),
            "resource_allocation": allocation_summary(st),
            "priority": st.definition.priority,
        },
    )


def fail_workflow(tx: Transition, reason: str, *, task_id: str | None = None) -> None:
    """End the workflow FAILED (and its running phase), announcing both."""
    st = tx.state
    phase = st.phases[st.current_phase]
    if phase.status == "running":
        phase.status = "failed"
        phase.completed_at = tx.now
        tasks = st.phase_tasks()
        tx.emit(
            "PHASE_FAILED",
            {
                "phase_id": phase.name,
                "phase_number": st.current_phase + 1,
                "failure_reason": reason,
                "partial_results": {
                    t.task_id: t.results or {} for t in tasks if t.status == "completed"
                },
            },
        )
    st.status = "FAILED"
    st.failure_reason = reason
    st.finished_at = tx.now
    tx.emit(
        "WORKFLOW_FAILED",
        {
            "failure_reason": reason,
            "recovery_options": ["restore_checkpoint", "resubmit_workflow"],
            "failed_task": task_id,
            "abandoned_tasks": [t.task_id for t in st.tasks.values() if t.in_flight],
        },
    )


def pause_workflow(tx: Transition, reason: str) -> None:
    """Pause the workflow: no new assignments until it resumes."""
    st = tx.state
    summary = state_summary(st)
    st.status = "PAUSED"
    st.pause_reason = reason
    tx.emit("WORKFLOW_PAUSED", {"pause_reason": reason, "current_state": summary})
