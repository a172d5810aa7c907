"""Projecting events onto the read model: :func:`apply` per workflow, :func:`apply_system`.

``apply(view, event)`` is a reducer: no I/O, no clock (the event's timestamp is the time),
so the same events in the same order always give the same view.

- ``WORKFLOW_CREATED`` makes the view (:func:`baton_status.plan.new_view`); any other event
  of a workflow without a view returns None (the caller ignores it).
- The view is updated **in place** and returned, since a timeline of hundreds of entries
  would cost more to copy than the event costs to apply; copy it first
  (``view.model_copy(deep=True)``) to keep the old one.
- A repeated event (same ``event_id``, among the last :data:`~baton_status.views.SEEN_LIMIT`
  applied) changes nothing: applying an event twice is applying it once. An event of
  another workflow changes nothing either.
- Once the workflow is COMPLETED, FAILED or CANCELLED, later events only join the timeline,
  except ``RESOURCE_DEALLOCATED`` (the release of its resources normally follows the end)
  and, for a FAILED one, ``WORKFLOW_RESTORED``: the hub restores a failed workflow from a
  checkpoint and runs it again (:mod:`baton_status.restore`), and so does the view.
- Every event, applied or not, joins the timeline (the newest
  :data:`~baton_status.views.TIMELINE_LIMIT` are kept).

Lifecycle and phase events are handled here, the others in
:mod:`baton_status.task_events`; the system-wide events in :mod:`baton_status.system`. The
rendering functions (:func:`summary`, :func:`detail`, :func:`overview`) are re-exported from
:mod:`baton_status.render`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from baton.protocol.event import Event
from baton.protocol.fields import seconds, text
from baton_status.api_models import TimelineEntry
from baton_status.plan import add_phase, add_task, new_view, strings
from baton_status.render import detail, overview, summary
from baton_status.restore import RESTORED, restored
from baton_status.system import apply_system
from baton_status.task_events import TASK_HANDLERS, Handler
from baton_status.views import (
    IN_FLIGHT,
    TIMELINE_LIMIT,
    AllocationRecord,
    SystemView,
    WorkflowView,
    iso,
    keep_last,
    remember,
    utc,
)

__all__ = [
    "SystemView",
    "WorkflowView",
    "apply",
    "apply_system",
    "describe",
    "detail",
    "overview",
    "summary",
]

_AFTER_END: Final = frozenset({"RESOURCE_DEALLOCATED"})
_REVIVED_FROM: Final = frozenset({"FAILED"})
"""Ended statuses a ``WORKFLOW_RESTORED`` brings back (the hub's ``restore`` allows FAILED)."""
_SUMMARY_KEYS: Final = (
    "phase_id",
    "task_id",
    "agent_id",
    "old_agent",
    "new_agent",
    "attempt",
    "duration",
    "actual_duration",
    "quality_score",
    "score",
    "queue_position",
    "estimated_start",
    "dependency",
    "allocation_id",
    "failure_reason",
    "reason",
    "pause_reason",
    "cancellation_reason",
    "release_reason",
)
_SUMMARY_CHARS: Final = 200


def describe(event: Event) -> str:
    """A one-line summary of an event's data for the timeline (``task_id=t1, agent_id=a1``)."""
    parts = [
        f"{key}={event.data[key]}"
        for key in _SUMMARY_KEYS
        if isinstance(event.data.get(key), str | int | float) and event.data[key] != ""
    ]
    line = ", ".join(parts)
    return line if len(line) <= _SUMMARY_CHARS else line[: _SUMMARY_CHARS - 1] + "…"


def apply(view: WorkflowView | None, event: Event) -> WorkflowView | None:
    """``view`` with ``event`` applied (see the module doc); None for an unknown workflow."""
    moment = utc(event.timestamp)
    if view is None:
        if event.event_type != "WORKFLOW_CREATED" or event.workflow_id == "global":
            return None
        view = new_view(event)
    elif event.workflow_id != view.workflow_id or event.event_id in view.seen:
        return view
    elif _applies(view, event.event_type):
        handler = _HANDLERS.get(event.event_type)
        if handler is not None:
            handler(view, event, moment)
    remember(view.seen, event.event_id)
    view.events_applied += 1
    if view.updated_at is None or moment > view.updated_at:
        view.updated_at = moment
    view.timeline.append(
        TimelineEntry(
            at=iso(moment) or "",
            event_type=event.event_type,
            phase=event.phase,
            summary=describe(event),
            event_id=event.event_id,
        )
    )
    keep_last(view.timeline, TIMELINE_LIMIT)
    return view


def _applies(view: WorkflowView, event_type: str) -> bool:
    """Whether an event of ``event_type`` changes ``view`` beyond its timeline (module doc)."""
    if not view.terminal or event_type in _AFTER_END:
        return True
    return event_type == RESTORED and view.status in _REVIVED_FROM


def _allocation(view: WorkflowView, data: Any) -> None:
    """Agents and allocation id from a ``resource_allocation`` summary of the hub."""
    if not isinstance(data, dict):
        return
    agents = strings(data.get("agents"))
    held = view.allocation or AllocationRecord()
    held.allocation_id = text(data.get("allocation_id")) or held.allocation_id
    held.status = text(data.get("status")) or held.status
    held.agents = agents or held.agents
    view.allocation = held
    for agent_id in held.agents:
        view.agent(agent_id)


def _start_text(value: Any, moment: datetime) -> str | None:
    """An estimated start as ISO time: a duration counts from ``moment``."""
    wait = seconds(value)
    if wait is not None:
        return iso(moment + timedelta(seconds=wait))
    return text(value)


def _scheduled(view: WorkflowView, event: Event, moment: datetime) -> None:
    if view.status in {"CREATED", "QUEUED", "SCHEDULED"}:
        view.status = "SCHEDULED"
    view.scheduled_at = view.scheduled_at or moment
    view.queue_position = None
    data = event.data
    view.estimated_completion = _start_text(data.get("estimated_completion"), moment)
    view.waiting_for = strings(data.get("waiting_for"))
    _allocation(view, data.get("resource_allocation"))


def _queued(view: WorkflowView, event: Event, moment: datetime) -> None:
    if view.status not in {"CREATED", "QUEUED"}:
        return
    view.status = "QUEUED"
    view.queued_at = view.queued_at or moment
    position = event.data.get("queue_position")
    view.queue_position = position if isinstance(position, int) else None
    view.estimated_start = _start_text(event.data.get("estimated_start"), moment)


def _started(view: WorkflowView, event: Event, moment: datetime) -> None:
    view.status = "STARTED"
    view.started_at = view.started_at or moment
    view.queue_position = None
    view.waiting_for = []
    _allocation(view, event.data.get("resource_allocation"))


def _paused(view: WorkflowView, event: Event, moment: datetime) -> None:
    view.status = "PAUSED"
    view.pause_reason = text(event.data.get("pause_reason")) or "paused"


def _resumed(view: WorkflowView, event: Event, moment: datetime) -> None:
    view.status = "STARTED"
    view.pause_reason = None
    validation = event.data.get("state_validation")
    retried = validation.get("tasks_retried") if isinstance(validation, dict) else None
    for task_id in strings(retried):
        task = view.tasks.get(task_id)
        if task is not None and task.status == "failed":
            task.status = "ready"


def _ended(status: str, reason_key: str | None) -> Handler:
    def handler(view: WorkflowView, event: Event, moment: datetime) -> None:
        view.status = status
        view.finished_at = moment
        view.queue_position = None
        if reason_key is not None:
            reason = text(event.data.get(reason_key)) or "no reason given"
            view.failure_reason = reason if status == "FAILED" else f"cancelled: {reason}"
        for task in view.tasks.values():
            if task.status in IN_FLIGHT and status != "COMPLETED":
                task.status = "abandoned"
        for agent in view.agents.values():
            agent.current_tasks.clear()
        phase = view.phase
        if phase is not None and phase.status == "running" and status != "COMPLETED":
            phase.status = "failed" if status == "FAILED" else "cancelled"
            phase.completed_at = moment

    return handler


def _phase_of(view: WorkflowView, event: Event) -> int:
    name = text(event.data.get("phase_id")) or event.phase
    add_phase(view, name)
    index = view.phase_index(name)
    return index if index is not None else 0


def _phase_started(view: WorkflowView, event: Event, moment: datetime) -> None:
    index = _phase_of(view, event)
    phase = view.phases[index]
    phase.status = "running"
    phase.started_at = phase.started_at or moment
    view.current_phase = index
    for task_id in strings(event.data.get("tasks")):
        add_task(view, task_id, phase=phase.name)


def _phase_ended(status: str) -> Handler:
    def handler(view: WorkflowView, event: Event, moment: datetime) -> None:
        index = _phase_of(view, event)
        phase = view.phases[index]
        phase.status = status
        phase.completed_at = moment
        if status == "completed":
            reported = seconds(event.data.get("actual_duration"))
            if reported is None:
                # The protocol's example lines write ``duration`` instead.
                reported = seconds(event.data.get("duration"))
            began = phase.started_at or moment
            measured = max(0.0, (moment - began).total_seconds())
            phase.duration_s = reported if reported is not None else measured
        if status != "failed" and index == view.current_phase and index + 1 < len(view.phases):
            view.current_phase = index + 1

    return handler


_HANDLERS: Final[dict[str, Handler]] = {
    "WORKFLOW_SCHEDULED": _scheduled,
    "WORKFLOW_QUEUED": _queued,
    "WORKFLOW_STARTED": _started,
    "WORKFLOW_PAUSED": _paused,
    "WORKFLOW_RESUMED": _resumed,
    "WORKFLOW_COMPLETED": _ended("COMPLETED", None),
    "WORKFLOW_FAILED": _ended("FAILED", "failure_reason"),
    "WORKFLOW_CANCELLED": _ended("CANCELLED", "cancellation_reason"),
    RESTORED: restored,
    "PHASE_STARTED": _phase_started,
    "PHASE_COMPLETED": _phase_ended("completed"),
    "PHASE_SKIPPED": _phase_ended("skipped"),
    "PHASE_FAILED": _phase_ended("failed"),
    **TASK_HANDLERS,
}
