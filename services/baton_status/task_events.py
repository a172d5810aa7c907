"""How task, agent, dependency and resource events change a :class:`WorkflowView`.

Agents publish their own reports (``TASK_STARTED``, ``TASK_COMPLETED``, ``TASK_FAILED``), so
this read model sees reports the hub goes on to reject; it applies the hub's fencing rule to
them: a report counts only while the task is in flight, from the agent holding it, with the
task's current fencing token when the report carries one. Other reports reach the timeline
only (the hub's ``TASK_RESULT_REJECTED`` follows them there).

A task the definition did not list (a ``WORKFLOW_CREATED`` without a definition) is added to
the event's phase when the hub assigns or skips it; other events about a task the view does
not know (a report naming no task of the workflow, which the hub refuses) change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from baton.protocol.event import Event
from baton.protocol.fields import number, seconds, text
from baton_status.plan import add_task, strings
from baton_status.views import (
    IN_FLIGHT,
    AllocationRecord,
    ExternalRecord,
    TaskRecord,
    WorkflowView,
)

__all__ = ["TASK_HANDLERS", "Handler"]

_RETRY = frozenset({"retry", "parallelize"})

Handler = Callable[[WorkflowView, Event, datetime], None]
"""Applies one event to a view (in place) at the event's time."""


def _task(view: WorkflowView, event: Event, *, create: bool = False) -> TaskRecord | None:
    task_id = text(event.data.get("task_id"))
    if task_id is None:
        return None
    if not create:
        return view.tasks.get(task_id)
    return add_task(view, task_id, phase=event.phase, role=event.data.get("role"))


def _release(view: WorkflowView, task: TaskRecord) -> None:
    """The agent that held ``task`` no longer does."""
    if task.agent_id is not None and task.agent_id in view.agents:
        current = view.agents[task.agent_id].current_tasks
        if task.task_id in current:
            current.remove(task.task_id)


def _holds(task: TaskRecord, data: dict[str, Any]) -> bool:
    """True when a report in ``data`` passes the fencing rule (see the module doc)."""
    if task.status not in IN_FLIGHT:
        return False
    agent = text(data.get("agent_id"))
    if agent is not None and agent != task.agent_id:
        return False
    token = data.get("fencing_token")
    return token is None or task.fencing_token is None or token == task.fencing_token


def _assigned(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event, create=True)
    agent_id = text(event.data.get("agent_id"))
    if task is None or agent_id is None:
        return
    if task.agent_id != agent_id:
        _release(view, task)
    token = event.data.get("fencing_token")
    attempt = event.data.get("attempt")
    task.status = "assigned"
    task.agent_id = agent_id
    task.fencing_token = token if isinstance(token, int) else None
    task.attempts = attempt if isinstance(attempt, int) else task.attempts + 1
    task.assigned_at = moment
    task.started_at = task.completed_at = None
    task.duration_s = None
    task.gate_blocked = False
    agent = view.agent(agent_id)
    agent.released = False
    if task.task_id not in agent.current_tasks:
        agent.current_tasks.append(task.task_id)
    if task.role and task.role not in agent.roles:
        agent.roles.append(task.role)


def _reassigned(view: WorkflowView, event: Event, moment: datetime) -> None:
    old = view.agents.get(text(event.data.get("old_agent")) or "")
    task_id = text(event.data.get("task_id"))
    if old is not None and task_id in old.current_tasks:
        old.current_tasks.remove(task_id)


def _started(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event)
    if task is not None and _holds(task, event.data) and task.status != "running":
        task.status = "running"
        task.started_at = moment


def _completed(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event)
    if task is None or not _holds(task, event.data):
        return
    began = task.started_at or task.assigned_at or moment
    reported = seconds(event.data.get("duration"))
    score = number(event.data.get("quality_score"))
    task.status = "completed"
    task.completed_at = moment
    # Clamped: an event stamped before the assignment (clock skew) is no negative duration.
    measured = max(0.0, (moment - began).total_seconds())
    task.duration_s = reported if reported is not None else measured
    if score is not None:
        task.quality_score = score
    task.gate_blocked = task.gate is not None and (
        task.quality_score is None or task.quality_score < task.gate
    )
    _release(view, task)
    if task.agent_id is not None:
        view.agent(task.agent_id).tasks_done += 1


def _failure(view: WorkflowView, task: TaskRecord, data: dict[str, Any], reason: str) -> None:
    """A failure of ``task`` while in flight: counted for the task and its agent.

    The hub's announcement carries its routing ``decision``: a retry makes the task wait
    for an agent again (``ready``); an agent's own report leaves it ``failed`` until the
    hub reassigns or skips it, or fails the workflow.
    """
    task.status = "ready" if data.get("decision") in _RETRY else "failed"
    task.failures += 1
    task.failure_reason = reason
    _release(view, task)
    if task.agent_id is not None:
        view.agent(task.agent_id).tasks_failed += 1


def _failed(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event)
    if task is not None and _holds(task, event.data):
        data = event.data
        reason = text(data.get("failure_reason")) or text(data.get("reason")) or ""
        _failure(view, task, data, reason)


def _timeout(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event)
    if task is not None and task.status in IN_FLIGHT:
        limit = text(event.data.get("timeout_duration")) or "its timeout"
        _failure(view, task, event.data, f"no result within {limit}")


def _skipped(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event, create=True)
    if task is not None:
        _release(view, task)
        task.status = "skipped"
        task.gate_blocked = False


def _gate_blocked(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event)
    if task is not None:
        task.gate_blocked = True
        score = number(event.data.get("score"))
        task.quality_score = score if score is not None else task.quality_score


def _score(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event)
    score = number(event.data.get("score"))
    if task is not None and score is not None:
        task.quality_score = score
        task.gate_blocked = (
            task.status == "completed" and task.gate is not None and score < task.gate
        )


def _dependency_timeout(view: WorkflowView, event: Event, moment: datetime) -> None:
    dependency = text(event.data.get("dependency")) or "?"
    if dependency in view.external and event.data.get("kind") in (None, "external"):
        view.external[dependency].timed_out = True
    task = _task(view, event)
    if task is None:
        return
    task.failures += 1
    task.failure_reason = f"dependency {dependency} not satisfied in time"


def _resolved(view: WorkflowView, event: Event, moment: datetime) -> None:
    # The hub's EXTERNAL_DEPENDENCY_RESOLVED only: a DEPENDENCY_SATISFIED is what the hub
    # is told, and it refuses one for a dependency the workflow does not declare.
    name = text(event.data.get("dependency"))
    if name is None:
        return
    record = view.external.get(name)
    if record is None:
        record = view.external[name] = ExternalRecord()
    record.satisfied = True
    record.satisfied_at = record.satisfied_at or moment
    if name in view.waiting_for:
        view.waiting_for.remove(name)


def _escalated(view: WorkflowView, event: Event, moment: datetime) -> None:
    task = _task(view, event)
    if task is not None:
        _release(view, task)
        task.status = "failed"
        task.failure_reason = text(event.data.get("reason")) or task.failure_reason


def _agent_allocated(view: WorkflowView, event: Event, moment: datetime) -> None:
    agent_id = text(event.data.get("agent_id"))
    if agent_id is None:
        return
    agent = view.agent(agent_id)
    agent.released = False
    role = text(event.data.get("role"))
    if role is not None and role not in agent.roles:
        agent.roles.append(role)


def _agent_deallocated(view: WorkflowView, event: Event, moment: datetime) -> None:
    agent_id = text(event.data.get("agent_id"))
    if agent_id is None:
        return
    view.agent(agent_id).released = True
    view.agent(agent_id).current_tasks.clear()
    for task in view.tasks.values():
        if task.agent_id == agent_id and task.status in IN_FLIGHT:
            task.status = "ready"
            task.agent_id = None


def _resource_allocated(view: WorkflowView, event: Event, moment: datetime) -> None:
    data = event.data
    agents = strings(data.get("agent_ids"))
    details = data.get("resource_details")
    view.allocation = AllocationRecord(
        allocation_id=text(data.get("allocation_id")),
        status=text(data.get("status")),
        agents=agents or (view.allocation.agents if view.allocation else []),
        resource_details=dict(details) if isinstance(details, dict) else {},
    )
    for agent_id in agents:
        view.agent(agent_id).released = False


def _resource_deallocated(view: WorkflowView, event: Event, moment: datetime) -> None:
    held = view.allocation
    allocation_id = text(event.data.get("allocation_id"))
    if held is None or (held.allocation_id not in (None, allocation_id)):
        return
    held.released = True
    held.release_reason = text(event.data.get("release_reason"))
    for agent_id in held.agents:
        if agent_id in view.agents and not view.agents[agent_id].current_tasks:
            view.agents[agent_id].released = True


TASK_HANDLERS: dict[str, Handler] = {
    "TASK_ASSIGNED": _assigned,
    "TASK_REASSIGNED": _reassigned,
    "TASK_STARTED": _started,
    "TASK_COMPLETED": _completed,
    "TASK_FAILED": _failed,
    "TASK_TIMEOUT": _timeout,
    "TASK_SKIPPED": _skipped,
    "QUALITY_GATE_BLOCKED": _gate_blocked,
    "QUALITY_SCORE_UPDATED": _score,
    "DEPENDENCY_TIMEOUT": _dependency_timeout,
    "EXTERNAL_DEPENDENCY_RESOLVED": _resolved,
    "ESCALATION_REQUIRED": _escalated,
    "AGENT_ALLOCATED": _agent_allocated,
    "AGENT_DEALLOCATED": _agent_deallocated,
    "RESOURCE_ALLOCATED": _resource_allocated,
    "RESOURCE_DEALLOCATED": _resource_deallocated,
}
"""Event type → handler, for the types of this module."""
