"""The API's answers (:mod:`baton_status.api_models`) rendered from the read model.

- :func:`summary`: one line of the workflow list.
- :func:`detail`: one workflow (``workflow-status ID``). Always its phases, critical path,
  allocation and the newest :data:`BRIEF_TIMELINE` timeline entries; ``detailed`` adds the
  tasks, the agents and the whole kept timeline; ``include_dependencies`` adds
  ``dependencies``: ``external`` (name → satisfied), ``tasks`` (each task not done → the
  dependencies it still waits for, where any), ``graph`` (task → all its dependencies) and
  ``timed_out`` (external dependencies that timed out).
- :func:`overview`: the whole system (``progress-aggregator system-overview``): workflows
  per status, the active ones (neither ended nor queued) by priority, the queue by position,
  conflicts, pool use (the resource manager's own figures, see :mod:`baton_status.system`;
  none before its first state sync), bottlenecks and alerts.

``now`` is passed in: durations of what is running are measured up to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from baton_status.api_models import (
    AgentView,
    Overview,
    PhaseView,
    PoolUse,
    QueueEntry,
    TaskView,
    WorkflowDetail,
    WorkflowSummary,
)
from baton_status.expectation import DONE_PHASE
from baton_status.history import History
from baton_status.progress import bottlenecks, critical_path, estimate, phase_progress, progress
from baton_status.views import (
    DONE_TASK,
    TERMINAL,
    SystemView,
    TaskRecord,
    WorkflowView,
    iso,
    utc,
)

__all__ = ["BRIEF_TIMELINE", "PRIORITY_ORDER", "detail", "overview", "summary"]

BRIEF_TIMELINE: Final = 20
"""Timeline entries in a detail that is not ``detailed``."""
PRIORITY_ORDER: Final = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def summary(view: WorkflowView, *, history: History, now: datetime) -> WorkflowSummary:
    """One line of the workflow list."""
    return WorkflowSummary.model_validate(_summary_fields(view, history=history, now=utc(now)))


def _summary_fields(view: WorkflowView, *, history: History, now: datetime) -> dict[str, Any]:
    phase = view.phase
    return {
        "workflow_id": view.workflow_id,
        "name": view.name,
        "workflow_type": view.workflow_type,
        "status": view.status,
        "priority": view.priority,
        "progress": progress(view, history=history),
        "current_phase": phase.name if phase is not None else None,
        "phases_total": len(view.phases),
        "phases_done": sum(1 for p in view.phases if p.status in DONE_PHASE),
        "queue_position": view.queue_position,
        "estimated_start": view.estimated_start,
        "estimate": estimate(view, history=history, now=now),
        "created_at": iso(view.created_at),
        "started_at": iso(view.started_at),
        "finished_at": iso(view.finished_at),
        "updated_at": iso(view.updated_at),
        "failure_reason": view.failure_reason,
    }


def _phase_views(view: WorkflowView, now: datetime) -> list[PhaseView]:
    shares = phase_progress(view)
    out: list[PhaseView] = []
    for index, phase in enumerate(view.phases):
        duration = phase.duration_s
        if duration is None and phase.started_at is not None:
            end = phase.completed_at or (now if phase.status == "running" else None)
            duration = (end - phase.started_at).total_seconds() if end is not None else None
        out.append(
            PhaseView(
                name=phase.name,
                number=index + 1,
                status=phase.status,
                progress=shares[index],
                started_at=iso(phase.started_at),
                completed_at=iso(phase.completed_at),
                duration_s=duration,
                tasks=list(phase.tasks),
            )
        )
    return out


def _task_status(view: WorkflowView, task: TaskRecord) -> str:
    """The task's status; ``ready`` for a pending task of the running phase that waits for
    nothing but an agent (the hub marks it so without an event)."""
    if task.status != "pending" or view.status not in {"STARTED", "PAUSED"}:
        return task.status
    index = view.phase_index(task.phase)
    running = index is not None and view.phases[index].status == "running"
    return "ready" if running and not view.blockers(task) else task.status


def _task_view(view: WorkflowView, task: TaskRecord) -> TaskView:
    return TaskView(
        task_id=task.task_id,
        phase=task.phase,
        role=task.role,
        status=_task_status(view, task),
        agent_id=task.agent_id,
        attempts=task.attempts,
        dependencies=list(task.dependencies),
        quality_score=task.quality_score,
        started_at=iso(task.started_at or task.assigned_at),
        completed_at=iso(task.completed_at),
        duration_s=task.duration_s,
    )


def _agent_views(view: WorkflowView) -> list[AgentView]:
    return [
        AgentView(
            agent_id=agent.agent_id,
            status="active" if agent.current_tasks else "idle",
            current_task=agent.current_tasks[0] if agent.current_tasks else None,
            tasks_done=agent.tasks_done,
        )
        for agent in view.agents.values()
    ]


def _dependencies(view: WorkflowView) -> dict[str, Any]:
    waits = {
        t.task_id: view.blockers(t)
        for t in view.tasks.values()
        if t.status not in DONE_TASK and view.blockers(t)
    }
    return {
        "external": {name: ext.satisfied for name, ext in view.external.items()},
        "tasks": waits,
        "graph": {t.task_id: list(t.dependencies) for t in view.tasks.values()},
        "timed_out": [name for name, ext in view.external.items() if ext.timed_out],
    }


def detail(
    view: WorkflowView,
    *,
    history: History,
    now: datetime,
    include_dependencies: bool,
    detailed: bool,
) -> WorkflowDetail:
    """One workflow with its phases, tasks, agents, dependencies and timeline."""
    now = utc(now)
    timeline = view.timeline if detailed else view.timeline[-BRIEF_TIMELINE:]
    return WorkflowDetail(
        **_summary_fields(view, history=history, now=now),
        phases=_phase_views(view, now),
        tasks=[_task_view(view, t) for t in view.tasks.values()] if detailed else [],
        agents=_agent_views(view) if detailed else [],
        dependencies=_dependencies(view) if include_dependencies else {},
        timeline=[entry.model_copy() for entry in timeline],
        critical_path=critical_path(view, history=history, now=now),
        allocation=view.allocation.model_dump(mode="json") if view.allocation else None,
    )


def _pools(system: SystemView) -> dict[str, PoolUse]:
    return {
        name: PoolUse(capacity=pool.capacity, used=pool.used, utilisation=pool.utilisation)
        for name, pool in sorted(system.pools.items())
    }


def overview(
    views: Iterable[WorkflowView],
    system: SystemView,
    *,
    history: History,
    now: datetime,
    counts: Mapping[str, int] | None = None,
) -> Overview:
    """The whole system at a glance (see the module doc).

    ``counts`` (workflows per status) when given, else counted over ``views``: the read
    model passes the open workflows only, and counts all in the database.
    """
    now = utc(now)
    every = list(views)
    if counts is None:
        counted: dict[str, int] = {}
        for view in every:
            counted[view.status] = counted.get(view.status, 0) + 1
        counts = counted
    active = sorted(
        (v for v in every if v.status not in TERMINAL and v.status != "QUEUED"),
        key=lambda v: (PRIORITY_ORDER.get(v.priority, 9), iso(v.created_at) or "", v.workflow_id),
    )
    queued = sorted(
        (v for v in every if v.status == "QUEUED"),
        key=lambda v: (
            v.queue_position if v.queue_position is not None else 1 << 30,
            PRIORITY_ORDER.get(v.priority, 9),
            v.workflow_id,
        ),
    )
    return Overview(
        at=iso(now) or "",
        counts=dict(sorted(counts.items())),
        active=[summary(v, history=history, now=now) for v in active],
        queue=[
            QueueEntry(
                workflow_id=v.workflow_id,
                priority=v.priority,
                position=v.queue_position,
                estimated_start=v.estimated_start,
            )
            for v in queued
        ],
        conflicts=[dict(c) for c in system.conflicts],
        resources=_pools(system),
        bottlenecks=bottlenecks(every, system, now=now),
        alerts=[a.model_copy() for a in system.alerts],
    )
