"""Which events take a running task away from an agent (so its handler stops, unreported).

The hub fences reports with a token that grows with each assignment; a report with an older
token is rejected. A worker need not wait for that rejection: these events already say the
assignment it works on is over.
"""

from __future__ import annotations

from dataclasses import dataclass

from baton.protocol.event import Event

__all__ = ["WATCHED_PATTERNS", "Takeaway", "takeaway"]

WATCHED_PATTERNS: tuple[str, ...] = (
    "task.*.assigned",
    "task.*.reassigned",
    "task.*.timeout",
    "task.*.skipped",
    "task.*.result_rejected",
    "task.*.completed",
    "task.*.failed",
    "workflow.*.cancelled",
    "workflow.*.failed",
    "workflow.*.completed",
    "agent.*.deallocated",
)
"""Routing keys an agent worker listens to: its assignments and what ends them."""

_WORKFLOW_ENDS = frozenset({"WORKFLOW_CANCELLED", "WORKFLOW_FAILED", "WORKFLOW_COMPLETED"})


@dataclass(frozen=True, slots=True)
class Takeaway:
    """Tasks of one workflow that ``agent_id`` must stop working on.

    Attributes:
        workflow_id: The workflow.
        task_id: The task; None means every task of the workflow.
        before_token: Only assignments with an older fencing token (None: any).
        reason: Why, for the log.
    """

    workflow_id: str
    task_id: str | None
    before_token: int | None
    reason: str


def takeaway(event: Event, *, agent_id: str) -> Takeaway | None:
    """What ``event`` takes away from ``agent_id``, if anything.

    ``TASK_ASSIGNED`` to this agent is not a takeaway (it is new work), except that it ends
    an older assignment of the same task; to another agent it ends this agent's hold on it.
    """
    data, kind, wid = event.data, event.event_type, event.workflow_id
    raw_task = data.get("task_id")
    task = str(raw_task) if raw_task is not None else None
    holder = data.get("agent_id")
    token = data.get("fencing_token")
    newer = token if isinstance(token, int) and not isinstance(token, bool) else None
    if kind in _WORKFLOW_ENDS:
        return Takeaway(wid, None, None, kind.lower())
    if kind == "AGENT_DEALLOCATED":
        return Takeaway(wid, None, None, "agent released") if holder == agent_id else None
    if task is None:
        return None
    if kind == "TASK_ASSIGNED":
        if holder == agent_id:
            return Takeaway(wid, task, newer, "assigned again")
        return Takeaway(wid, task, None, f"assigned to {holder}")
    if kind == "TASK_REASSIGNED":
        return (
            Takeaway(wid, task, None, "reassigned") if data.get("old_agent") == agent_id else None
        )
    if kind == "TASK_TIMEOUT":
        mine = holder in (None, agent_id)
        return Takeaway(wid, task, None, "timed out") if mine else None
    if kind == "TASK_RESULT_REJECTED":
        if holder != agent_id:
            return None
        # A rejection of the current assignment's report: the hub will take no result.
        return Takeaway(wid, task, None if newer is None else newer + 1, "report rejected")
    # TASK_SKIPPED, and TASK_COMPLETED/FAILED from anyone else (or an earlier run of this
    # worker): the task is settled. The worker's own reports arrive after it let go.
    return Takeaway(wid, task, None, kind.lower())
