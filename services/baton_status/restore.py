"""A checkpoint restore (``WORKFLOW_RESTORED``) applied to a :class:`WorkflowView`.

The hub rolls a STARTED, PAUSED or FAILED workflow back to a checkpoint keeping completed
work (:func:`baton_hub.recovery.restore`), and the view follows the same rule, from the
event's data alone:

- the workflow is STARTED again: a FAILED one is no longer ended, so the events of the
  restored run apply (:func:`baton_status.projection.apply`);
- ``kept_tasks`` are done: as the view has them, else completed (the hub kept the
  checkpoint's result, and a task once done stays done in the hub, so the view normally
  has it done already);
- ``reset_tasks`` start again: pending, no agent holds them, no score, no timing; their
  attempts and failures stay, as the hub keeps them;
- phases are re-derived around ``current_phase`` (the first with unfinished work): those
  before it completed, those after it pending, and it stays running only if it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from baton.protocol.event import Event
from baton.protocol.fields import text
from baton_status.plan import strings
from baton_status.views import DONE_TASK, WorkflowView

__all__ = ["RESTORED", "restored"]

RESTORED: Final = "WORKFLOW_RESTORED"
"""The hub's event for a checkpoint restore."""


def restored(view: WorkflowView, event: Event, moment: datetime) -> None:
    """Apply a ``WORKFLOW_RESTORED`` to ``view`` (in place; see the module doc)."""
    data = event.data
    view.status = "STARTED"
    view.failure_reason = None
    view.pause_reason = None
    view.finished_at = None
    view.queue_position = None
    for task_id in strings(data.get("kept_tasks")):
        task = view.tasks.get(task_id)
        if task is not None and task.status not in DONE_TASK:
            task.status = "completed"
            task.completed_at = task.completed_at or moment
    reset = set(strings(data.get("reset_tasks")))
    for task_id in reset:
        task = view.tasks.get(task_id)
        if task is None:
            continue
        task.status = "pending"
        task.agent_id = None
        task.quality_score = None
        task.gate_blocked = False
        task.assigned_at = task.started_at = task.completed_at = None
        task.duration_s = None
    for agent in view.agents.values():
        agent.current_tasks[:] = [t for t in agent.current_tasks if t not in reset]
    _phases(view, current=_current(view, text(data.get("current_phase"))), moment=moment)


def _current(view: WorkflowView, name: str | None) -> int:
    """The phase the hub made current: the one named, else the first with unfinished work."""
    index = view.phase_index(name) if name is not None else None
    if index is not None:
        return index
    unfinished = (
        i
        for i in range(len(view.phases))
        if any(t.status not in DONE_TASK for t in view.phase_tasks(i))
    )
    return next(unfinished, max(0, len(view.phases) - 1))


def _phases(view: WorkflowView, *, current: int, moment: datetime) -> None:
    for index, phase in enumerate(view.phases):
        if index < current:
            if phase.status != "completed":
                phase.status = "completed"
                phase.completed_at = phase.completed_at or moment
        elif index > current or phase.status != "running":
            phase.status = "pending"
            phase.started_at = phase.completed_at = None
            phase.duration_s = None
    view.current_phase = current
