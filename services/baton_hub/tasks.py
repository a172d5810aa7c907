"""Reports about tasks: started, completed, failed, scored.

A report comes from the agent that holds the task. It is rejected, with no change to the
state and a ``TASK_RESULT_REJECTED`` event saying why, when the workflow has ended, the task
is not in flight (never assigned, already completed, skipped), the agent is not the one
holding it, or the fencing token is older than the task's current one (the task was
reassigned since). A report without a token is checked by agent only. Reports are still
recorded while the workflow is PAUSED; only new assignments wait for ``resume``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from baton_hub.dependencies import gate_passed
from baton_hub.errors import UnknownItemError
from baton_hub.events import HubEvent
from baton_hub.failures import handle_failure
from baton_hub.scheduling import advance
from baton_hub.state import TaskState, WorkflowState
from baton_hub.transition import Outcome, Transition
from baton_hub.units import format_seconds, iso

__all__ = [
    "on_quality_score",
    "on_task_completed",
    "on_task_failed",
    "on_task_started",
]


def _task(tx: Transition, task_id: str) -> TaskState:
    task = tx.state.tasks.get(task_id)
    if task is None:
        raise UnknownItemError(
            f"workflow {tx.state.workflow_id} has no task {task_id!r}",
            workflow_id=tx.state.workflow_id,
            kind="task",
            name=task_id,
        )
    return task


def _rejection(
    tx: Transition, *, report: str, task_id: str, agent_id: str, fencing_token: int | None
) -> HubEvent | None:
    st = tx.state
    task = _task(tx, task_id)
    if st.terminal:
        reason = f"workflow is {st.status}"
    elif not task.in_flight:
        reason = f"task is {task.status}, not assigned to any agent"
    elif task.agent_id != agent_id:
        reason = f"agent {agent_id} does not hold the task (held by {task.agent_id})"
    elif fencing_token is not None and fencing_token != task.fencing_token:
        reason = f"stale fencing token {fencing_token} (current {task.fencing_token})"
    else:
        return None
    return _rejected(
        tx,
        report=report,
        task_id=task_id,
        agent_id=agent_id,
        fencing_token=fencing_token,
        reason=reason,
    )


def _rejected(
    tx: Transition,
    *,
    report: str,
    task_id: str,
    agent_id: str | None,
    fencing_token: int | None,
    reason: str,
) -> HubEvent:
    st = tx.state
    data = {
        "task_id": task_id,
        "agent_id": agent_id,
        "report": report,
        "reason": reason,
        "fencing_token": fencing_token,
    }
    return HubEvent(
        event_type="TASK_RESULT_REJECTED",
        workflow_id=st.workflow_id,
        phase=st.phase_name,
        data=data,
    )


def on_task_started(
    state: WorkflowState,
    *,
    task_id: str,
    agent_id: str,
    fencing_token: int | None = None,
    now: datetime,
) -> Outcome:
    """An agent began work on its task: ``assigned`` → ``running``, ``TASK_STARTED``.

    A repeated start report for a running task changes nothing.
    """
    tx = Transition(state, now=now, operation="start task")
    rejected = _rejection(
        tx, report="started", task_id=task_id, agent_id=agent_id, fencing_token=fencing_token
    )
    if rejected is not None:
        return tx.unchanged(rejected)
    task = tx.state.tasks[task_id]
    if task.status == "running":
        return tx.unchanged()
    task.status = "running"
    task.started_at = tx.now
    tx.emit(
        "TASK_STARTED",
        {
            "task_id": task_id,
            "agent_id": agent_id,
            "start_time": iso(tx.now),
            "fencing_token": task.fencing_token,
        },
    )
    return tx.commit()


def on_task_completed(
    state: WorkflowState,
    *,
    task_id: str,
    agent_id: str,
    fencing_token: int | None = None,
    results: dict[str, Any] | None = None,
    quality_score: float | None = None,
    now: datetime,
) -> Outcome:
    """An agent finished its task: record the result and move the workflow on.

    A score below the task's quality gate (or no score) holds its dependants and its phase
    back (``QUALITY_GATE_BLOCKED``) until :func:`on_quality_score` raises it.
    """
    tx = Transition(state, now=now, operation="complete task")
    rejected = _rejection(
        tx, report="completed", task_id=task_id, agent_id=agent_id, fencing_token=fencing_token
    )
    if rejected is not None:
        return tx.unchanged(rejected)
    st = tx.state
    task = st.tasks[task_id]
    began = task.started_at or task.assigned_at or tx.now
    task.status = "completed"
    task.completed_at = tx.now
    task.results = dict(results or {})
    if quality_score is not None:
        task.quality_score = quality_score
    tx.emit(
        "TASK_COMPLETED",
        {
            "task_id": task_id,
            "agent_id": agent_id,
            "duration": format_seconds((tx.now - began).total_seconds()),
            "results": task.results,
            "quality_score": task.quality_score,
            "fencing_token": task.fencing_token,
            "attempt": task.attempts,
        },
    )
    gate = st.spec(task_id).quality_gate
    if gate is not None and not gate_passed(st, task_id):
        tx.emit(
            "QUALITY_GATE_BLOCKED",
            {
                "task_id": task_id,
                "score": task.quality_score,
                "min_score": gate.min_score,
                "blocked_tasks": st.definition.dependants(task_id),
            },
        )
    advance(tx)
    return tx.commit()


def on_task_failed(
    state: WorkflowState,
    *,
    task_id: str,
    agent_id: str,
    fencing_token: int | None = None,
    reason: str,
    now: datetime,
) -> Outcome:
    """An agent reports its task failed: ``TASK_FAILED``, then the routing rules decide."""
    tx = Transition(state, now=now, operation="fail task")
    rejected = _rejection(
        tx, report="failed", task_id=task_id, agent_id=agent_id, fencing_token=fencing_token
    )
    if rejected is not None:
        return tx.unchanged(rejected)
    task = tx.state.tasks[task_id]
    data = {
        "task_id": task_id,
        "agent_id": agent_id,
        "failure_reason": reason,
        "retry_count": max(0, task.attempts - 1),
        "fencing_token": task.fencing_token,
    }
    handle_failure(
        tx, task, failure_type="error", reason=reason, event_type="TASK_FAILED", data=data
    )
    advance(tx)
    return tx.commit()


def on_quality_score(state: WorkflowState, *, task_id: str, score: float, now: datetime) -> Outcome:
    """A (new) quality score for a task; a passing one releases what its gate held back.

    After the workflow has ended the score is rejected like a late report.
    """
    tx = Transition(state, now=now, operation="record quality score")
    st = tx.state
    task = _task(tx, task_id)
    if st.terminal:
        # Late like an agent's report after the end: noted, not an error to dead-letter.
        rejected = _rejected(
            tx,
            report="quality_score",
            task_id=task_id,
            agent_id=None,
            fencing_token=None,
            reason=f"workflow is {st.status}",
        )
        return tx.unchanged(rejected)
    previous = task.quality_score
    task.quality_score = score
    gate = st.spec(task_id).quality_gate
    verdict = "none" if gate is None else "passed" if gate_passed(st, task_id) else "blocked"
    tx.emit(
        "QUALITY_SCORE_UPDATED",
        {
            "task_id": task_id,
            "score": score,
            "previous_score": previous,
            "min_score": gate.min_score if gate else None,
            "gate": verdict,
        },
    )
    advance(tx)
    return tx.commit()
