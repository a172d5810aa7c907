"""The scheduling engine: phases, readiness, assignment, and completion.

:func:`advance` runs after every change. While the workflow is STARTED it starts the
current phase (unless ``auto_advance`` is off), marks tasks whose dependencies are
satisfied ``ready``, assigns ready tasks to free agents and, when the phase is complete,
completes it and moves on, until the last phase completes the workflow. Nothing is
assigned while the workflow is not STARTED (paused, for instance).

Assignment: tasks in definition order; the candidates are the agents given the task's role
by ``assign-agents``, or every agent of the workflow when none has that role; round-robin
over the candidates (the cursor is the number of assignments made), one task per agent at
a time (``max_tasks_per_agent``). A retried task prefers an agent other than the one that
failed. A task that finds no free agent stays ``ready``, unless a ``parallelize`` rule
matches (or a parallelize decision marked it): then it goes to the least-loaded candidate.

Agents workflow-recovery asked to avoid (``avoid_agents``, for the task's next assignment)
are no candidates while the workflow has any other agent: the task waits for one of those
to be free — of its role if one has it, else any — rather than go back to an avoided agent
that happens to be free. Only a workflow whose every agent is avoided gives the task to an
avoided one, and its ``TASK_ASSIGNED`` says so (``avoided_agent_used``).
"""

from __future__ import annotations

from typing import Any

from baton_hub.context import context_for
from baton_hub.dependencies import blockers, phase_complete
from baton_hub.lifecycle import allocation_summary
from baton_hub.rules import evaluate_rules
from baton_hub.state import TaskState, WorkflowState
from baton_hub.transition import Transition
from baton_hub.units import format_seconds, iso

__all__ = ["advance", "assign", "start_phase_at", "task_context"]


def task_context(state: WorkflowState, task: TaskState) -> dict[str, Any]:
    """Rule context of a task (see :mod:`baton_hub.rules` for the keys)."""
    spec = state.spec(task.task_id)
    return {
        "workflow_id": state.workflow_id,
        "task_id": task.task_id,
        "phase": spec.phase,
        "phase_number": state.current_phase + 1,
        "role": spec.role,
        "agent_id": task.agent_id,
        "attempts": task.attempts,
        "error_count": task.error_count,
        "retry_count": max(0, task.attempts - 1),
        "failure_type": "none",
        "failure_reason": task.failure_reason,
        "quality_score": task.quality_score,
        "priority": state.definition.priority,
    }


def start_phase_at(tx: Transition, index: int) -> None:
    """Make phase ``index`` current and running; its pending tasks start waiting now."""
    st = tx.state
    st.current_phase = index
    phase = st.phases[index]
    phase.status = "running"
    phase.started_at = tx.now
    for task in st.phase_tasks(index):
        if task.status == "pending":
            task.waiting_since = tx.now
    tx.emit(
        "PHASE_STARTED",
        {
            "phase_id": phase.name,
            "phase_number": index + 1,
            "estimated_duration": format_seconds(st.definition.phase_seconds()),
            "resource_allocation": allocation_summary(st),
            "tasks": [t.task_id for t in st.phase_tasks(index)],
        },
    )


def advance(tx: Transition) -> None:
    """Move the workflow forward as far as it can go now (see the module doc)."""
    st = tx.state
    while st.status == "STARTED":
        phase = st.phases[st.current_phase]
        if phase.status == "pending":
            if not st.definition.auto_advance:
                return
            start_phase_at(tx, st.current_phase)
        for task in st.phase_tasks():
            if task.status == "pending" and not blockers(st, task.task_id):
                task.status = "ready"
        _assign_ready(tx)
        if not phase_complete(st, st.current_phase):
            return
        _complete_phase(tx)


def _assign_ready(tx: Transition) -> None:
    st = tx.state
    pool = st.agents()
    if not pool:
        return
    cap = st.definition.max_tasks_per_agent
    for task in st.phase_tasks():
        if task.status != "ready":
            continue
        candidates = _candidates(st, task, pool)
        shift = st.assignment_count % len(candidates)
        rotated = candidates[shift:] + candidates[:shift]
        free = [a for a in rotated if st.load(a) < cap]
        preferred = [a for a in free if a != task.previous_agent] or free
        if preferred:
            assign(tx, task, preferred[0])
        elif task.share_agent or _parallelize(st, task, pool, cap):
            assign(tx, task, min(rotated, key=st.load))


def _candidates(st: WorkflowState, task: TaskState, pool: list[str]) -> list[str]:
    """Agents that may take ``task``: not avoided unless all are, then of its role if any."""
    others = [a for a in pool if a not in task.avoid_agents] or pool
    role = st.spec(task.task_id).role
    return [a for a in others if role in st.agent_roles.get(a, [])] or others


def _parallelize(st: WorkflowState, task: TaskState, pool: list[str], cap: int) -> bool:
    if not st.definition.rules:
        return False
    ready = sum(1 for t in st.phase_tasks() if t.status == "ready")
    busy = sum(1 for a in pool if st.load(a) >= cap)
    context = {
        **task_context(st, task),
        "ready_tasks": ready,
        "free_agents": len(pool) - busy,
        "busy_agents": busy,
    }
    rule = evaluate_rules(st.definition.rules, context=context, decisions={"parallelize"})
    return rule is not None


def assign(tx: Transition, task: TaskState, agent_id: str) -> None:
    """Give ``task`` to ``agent_id`` with a new fencing token and announce it."""
    st = tx.state
    spec = st.spec(task.task_id)
    task.status = "assigned"
    task.agent_id = agent_id
    task.attempts += 1
    task.fencing_token += 1
    task.assigned_at = tx.now
    task.started_at = None
    task.completed_at = None
    st.assignment_count += 1
    if task.previous_agent is not None and task.previous_agent != agent_id:
        tx.emit(
            "TASK_REASSIGNED",
            {
                "task_id": task.task_id,
                "old_agent": task.previous_agent,
                "new_agent": agent_id,
                "reason": task.failure_reason or "reassigned",
            },
        )
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "agent_id": agent_id,
        "estimated_duration": format_seconds(st.definition.task_seconds(spec)),
        "fencing_token": task.fencing_token,
        "role": spec.role,
        "attempt": task.attempts,
        "phase_number": st.current_phase + 1,
        "dependencies": spec.dependency_ids(),
        "description": spec.description,
        "inputs": spec.inputs,
        "context_version": st.context.version,
    }
    if st.context.version:
        data["context"] = context_for(st, target=agent_id)
    if agent_id in task.avoid_agents:
        data["avoided_agent_used"] = (
            f"{agent_id} was to be avoided, but no other agent of the workflow can take the task"
        )
    task.avoid_agents = []  # an instruction for this assignment only
    tx.emit("TASK_ASSIGNED", data)


def _complete_phase(tx: Transition) -> None:
    st = tx.state
    index = st.current_phase
    phase = st.phases[index]
    phase.status = "completed"
    phase.completed_at = tx.now
    tasks = st.phase_tasks(index)
    metrics = _metrics(tasks)
    started = phase.started_at or tx.now
    tx.emit(
        "PHASE_COMPLETED",
        {
            "phase_id": phase.name,
            "phase_number": index + 1,
            "actual_duration": format_seconds((tx.now - started).total_seconds()),
            "success_metrics": metrics,
        },
    )
    if index + 1 < len(st.phases):
        st.current_phase = index + 1
        return
    st.status = "COMPLETED"
    st.finished_at = tx.now
    began = st.started_at or st.created_at
    tx.emit(
        "WORKFLOW_COMPLETED",
        {
            "completion_time": iso(tx.now),
            "final_metrics": {
                **_metrics(list(st.tasks.values())),
                "phases_completed": len(st.phases),
                "total_duration": format_seconds((tx.now - began).total_seconds()),
            },
        },
    )


def _metrics(tasks: list[TaskState]) -> dict[str, Any]:
    completed = [t for t in tasks if t.status == "completed"]
    scores = [t.quality_score for t in completed if t.quality_score is not None]
    return {
        "tasks_total": len(tasks),
        "tasks_completed": len(completed),
        "tasks_skipped": sum(1 for t in tasks if t.status == "skipped"),
        "success_rate": round(100 * len(completed) / len(tasks), 1) if tasks else 100.0,
        "retries": sum(max(0, t.attempts - 1) for t in tasks),
        "average_quality": round(sum(scores) / len(scores), 4) if scores else None,
    }
