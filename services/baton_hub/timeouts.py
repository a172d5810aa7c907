"""Timeouts: dependencies waited on too long, tasks running too long, gates never met.

:func:`check_timeouts` is called periodically by the runner with the current time; each
timeout it finds is a task failure for the routing rules (:mod:`baton_hub.failures`). An
external dependency's own timeout fails the workflow while ``block_on_dependencies`` holds
its start back; otherwise it ends the wait of every task waiting on it at that moment (each
a ``dependency_timeout`` failure for the rules, in the same check), and tasks that start
waiting for it later wait their own timeout. A task whose dependency timed out never runs
as if it were satisfied: the rules wait longer, skip it, escalate or fail it (the default).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from baton_hub.dependencies import due_blocker, gate_deadline_passed
from baton_hub.failures import handle_failure
from baton_hub.lifecycle import fail_workflow
from baton_hub.scheduling import advance
from baton_hub.state import TaskState, WorkflowState
from baton_hub.transition import Outcome, Transition
from baton_hub.units import after, format_seconds, parse_seconds

__all__ = ["check_timeouts"]


def check_timeouts(state: WorkflowState, *, now: datetime) -> Outcome:
    """Fail what has waited too long; the state unchanged and no events when nothing is due.

    Checks, in order: external dependencies with a timeout (counted from creation; they fail
    the workflow only when ``block_on_dependencies`` holds its start back); then, while the
    workflow runs, each task of the current phase: a dependency waited on past its timeout,
    or past the external dependency's own (``DEPENDENCY_TIMEOUT``), an ``execution_timeout``
    exceeded (``TASK_TIMEOUT``), a quality gate nobody waits on not met in time. Each is a
    task failure for the rules.
    """
    tx = Transition(state, now=now, operation="check timeouts")
    st = tx.state
    if st.terminal:
        return tx.unchanged()
    _external_timeouts(tx)
    if st.status == "STARTED" and st.phases[st.current_phase].status == "running":
        for task in st.phase_tasks():
            if st.status != "STARTED":
                break
            _task_timeouts(tx, task)
        advance(tx)
    return tx.commit() if tx.events else tx.unchanged()


def _external_timeouts(tx: Transition) -> None:
    st = tx.state
    for name, ext in st.external.items():
        spec = st.definition.external(name)
        if ext.satisfied or ext.timed_out or spec is None or spec.timeout is None:
            continue
        if tx.now < after(st.created_at, parse_seconds(spec.timeout)):
            continue
        ext.timed_out = True
        blocking = st.definition.block_on_dependencies and st.status in {
            "CREATED",
            "SCHEDULED",
            "QUEUED",
        }
        tx.emit(
            "DEPENDENCY_TIMEOUT",
            {"dependency": name, "kind": "external", "timeout": spec.timeout, "blocking": blocking},
        )
        if blocking:
            fail_workflow(tx, f"external dependency {name!r} not satisfied within {spec.timeout}")
            return


def _task_timeouts(tx: Transition, task: TaskState) -> None:
    st = tx.state
    spec = st.spec(task.task_id)
    blocker = due_blocker(st, task, now=tx.now)
    if blocker is not None and task.waiting_since is not None:
        limit = format_seconds(blocker.timeout_seconds)
        reason = blocker.timeout_reason(task.waiting_since)
        data: dict[str, Any] = {
            "task_id": task.task_id,
            "dependency": blocker.dependency,
            "kind": blocker.kind,
            "timeout": limit,
            "detail": blocker.detail,
        }
        handle_failure(
            tx,
            task,
            failure_type="dependency_timeout",
            reason=reason,
            event_type="DEPENDENCY_TIMEOUT",
            data=data,
            dependency=blocker.dependency,
        )
        return
    if task.in_flight and spec.execution_timeout is not None and task.assigned_at is not None:
        limit_s = parse_seconds(spec.execution_timeout)
        if tx.now >= after(task.assigned_at, limit_s):
            data = {
                "task_id": task.task_id,
                "agent_id": task.agent_id,
                "timeout_duration": spec.execution_timeout,
            }
            reason = f"no result within {spec.execution_timeout} (agent {task.agent_id})"
            handle_failure(
                tx,
                task,
                failure_type="execution_timeout",
                reason=reason,
                event_type="TASK_TIMEOUT",
                data=data,
            )
        return
    gate_reason = gate_deadline_passed(st, task, now=tx.now)
    if gate_reason is not None:
        data = {
            "task_id": task.task_id,
            "dependency": task.task_id,
            "kind": "quality_gate",
            "timeout": None,
            "detail": gate_reason,
        }
        handle_failure(
            tx,
            task,
            failure_type="quality_gate",
            reason=gate_reason,
            event_type="DEPENDENCY_TIMEOUT",
            data=data,
        )
