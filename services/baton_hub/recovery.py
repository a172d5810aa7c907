"""The hub's side of recovery: delegated failures, recovery actions, checkpoint restore.

- Delegation: a workflow created while ``BATON_HUB_FAILURE_POLICY=recovery`` has
  ``delegate_failures`` set. A task failure no routing rule matches then does not fail the
  workflow: the task is ``failed`` and ``RECOVERY_REQUESTED`` asks workflow-recovery to
  decide (its rules, backoff and circuit breakers). Without it (``fail``, the default for a
  hub running alone) the workflow fails, as before.
- :func:`recover_task` applies workflow-recovery's decision, sent when its backoff has
  ended: ``retry`` / ``reassign`` (the task goes back to ``ready`` and is assigned again
  with a new fencing token, never to an avoided agent while the workflow has another — it
  waits for that one to be free, see :mod:`baton_hub.scheduling`; a task still in flight on
  a timed-out agent is taken from it, so that agent's late report is rejected), ``skip`` or
  ``fail``.
- :func:`restore` rolls a workflow back to a checkpoint keeping completed work: a task done
  now or at the checkpoint is done; every other task starts again (pending, new fencing
  token on its next assignment; its error count stays, so a task that keeps failing still
  runs out of attempts); phases are re-derived (the
  first phase with unfinished work is current); the shared context, signals and version
  history stay current (they record what happened). A FAILED workflow comes back STARTED.
- :func:`checkpoint_requests`: which ``CHECKPOINT_REQUESTED`` events a change asks for —
  ``phase_complete`` after each completed phase, ``emergency`` on a failure left to
  recovery or a failed workflow, ``incremental`` every ``every`` versions; the handler adds
  the full state (``snapshot``) to each, so workflow-recovery stores exactly that version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from baton_hub.errors import InvalidTransition
from baton_hub.events import HubEvent
from baton_hub.failures import requeue
from baton_hub.lifecycle import fail_workflow
from baton_hub.scheduling import advance
from baton_hub.state import WorkflowState
from baton_hub.transition import Outcome, Transition

__all__ = ["RecoveryAction", "checkpoint_requests", "recover_task", "restore"]

RecoveryAction = Literal["retry", "reassign", "skip", "fail"]


def recover_task(
    state: WorkflowState,
    *,
    task_id: str,
    action: RecoveryAction,
    reason: str,
    avoid_agents: Sequence[str] = (),
    now: datetime,
) -> Outcome:
    """Apply workflow-recovery's decision for one task (module doc).

    Raises:
        InvalidTransition: the workflow has ended, or the task is done or unknown.
    """
    tx = Transition(state, now=now, operation=f"{action} task")
    tx.require({"STARTED", "PAUSED"})
    st = tx.state
    task = st.tasks.get(task_id)
    if task is None or task.done:
        raise InvalidTransition(
            f"cannot {action} task {task_id!r} of {st.workflow_id}: "
            f"{'no such task' if task is None else f'it is {task.status}'}",
            workflow_id=st.workflow_id,
            status=st.status,
            operation=f"{action} task",
        )
    task.failure_reason = reason
    if action in ("retry", "reassign"):
        requeue(tx, task, failure_type="error", share=False)
        task.avoid_agents = sorted(set(avoid_agents))
        tx.emit(
            "TASK_RETRY",
            {
                "task_id": task_id,
                "action": action,
                "reason": reason,
                "avoid_agents": list(task.avoid_agents),
            },
        )
    elif action == "skip":
        task.status = "skipped"
        tx.emit("TASK_SKIPPED", {"task_id": task_id, "reason": reason, "rule_id": None})
    else:
        task.status = "failed"
        fail_workflow(tx, f"task {task_id!r} failed: {reason} (workflow-recovery)", task_id=task_id)
    advance(tx)
    return tx.commit()


def restore(
    state: WorkflowState, *, snapshot: dict[str, Any], checkpoint_id: str, now: datetime
) -> Outcome:
    """Roll back to a checkpoint's state, keeping completed work (module doc).

    Raises:
        InvalidTransition: the workflow is cancelled or completed, or the snapshot is of
            another workflow.
        pydantic.ValidationError: the snapshot is not a hub workflow state.
    """
    saved = WorkflowState.model_validate(snapshot)
    tx = Transition(state, now=now, operation="restore checkpoint")
    tx.require({"STARTED", "PAUSED", "FAILED"})
    st = tx.state
    if saved.workflow_id != st.workflow_id:
        raise InvalidTransition(
            f"checkpoint {checkpoint_id} is of workflow {saved.workflow_id}, not {st.workflow_id}",
            workflow_id=st.workflow_id,
            status=st.status,
            operation="restore checkpoint",
        )
    kept: list[str] = []
    reset: list[str] = []
    for task_id, task in st.tasks.items():
        old = saved.tasks.get(task_id)
        if task.done:
            kept.append(task_id)
        elif old is not None and old.done:
            st.tasks[task_id] = old.model_copy(update={"fencing_token": task.fencing_token})
            kept.append(task_id)
        else:
            if task.in_flight and task.agent_id is not None:
                task.previous_agent = task.agent_id
            task.status = "pending"
            task.agent_id = None
            task.results = None
            task.quality_score = None
            task.escalated = False
            task.avoid_agents = []
            # error_count stays: a task that keeps failing must still run out of attempts.
            task.waiting_since = now
            reset.append(task_id)
    current = next(
        (i for i in range(len(st.phases)) if any(not t.done for t in st.phase_tasks(i))),
        len(st.phases) - 1,
    )
    for index, phase in enumerate(st.phases):
        if index < current:
            phase.status = "completed"
        elif index > current or phase.status != "running":
            phase.status = "pending"
    st.current_phase = current
    st.status = "STARTED"
    st.failure_reason = None
    st.pause_reason = None
    st.finished_at = None
    st.checkpoint_id = checkpoint_id
    tx.emit(
        "WORKFLOW_RESTORED",
        {
            "checkpoint_id": checkpoint_id,
            "checkpoint_version": saved.state_version,
            "kept_tasks": kept,
            "reset_tasks": reset,
            "current_phase": st.phases[current].name,
        },
    )
    advance(tx)
    return tx.commit()


def checkpoint_requests(
    state: WorkflowState, events: Sequence[HubEvent], *, every: int
) -> list[dict[str, Any]]:
    """Data of the automatic ``CHECKPOINT_REQUESTED`` events a change asks for (module doc)."""
    kinds = {e.event_type for e in events}
    out: list[dict[str, Any]] = []

    def ask(kind: str, trigger: str) -> None:
        out.append(
            {
                "checkpoint_id": f"ckpt_{state.workflow_id}_v{state.state_version}_{kind}",
                "checkpoint_type": kind,
                "trigger": trigger,
                "state_version": state.state_version,
            }
        )

    if "CHECKPOINT_REQUESTED" in kinds:
        return out  # a manual one already covers this version
    completed = [e.data.get("phase_id") for e in events if e.event_type == "PHASE_COMPLETED"]
    if completed:
        ask("phase_complete", f"phase {completed[-1]} completed")
    elif kinds & {"RECOVERY_REQUESTED", "WORKFLOW_FAILED"}:
        ask("emergency", "failure")
    elif every > 0 and state.state_version % every == 0 and state.status == "STARTED":
        ask("incremental", f"every {every} versions")
    return out
