"""Which events take a running task away from an agent (so its handler stops, unreported).

The hub fences reports with a token that grows with each assignment; a report with an older
token is rejected. A worker need not wait for that rejection: these events already say the
assignment it works on is over.

A report (``TASK_COMPLETED`` / ``TASK_FAILED``) settles only the assignment it reports on
and the ones before it: a superseded assignment's late report — an agent paused past its
task's timeout that wakes up and reports — never takes the task from its current holder.
So a report from another agent ends this agent's run only when its token is newer than the
run's (then the task was assigned again since); one without a token cannot say which
assignment it is about and takes nothing (the hub accepts it only from the holder).
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
_REPORTS = frozenset({"TASK_COMPLETED", "TASK_FAILED"})


@dataclass(frozen=True, slots=True)
class Takeaway:
    """Tasks of one workflow that ``agent_id`` must stop working on.

    Attributes:
        workflow_id: The workflow.
        task_id: The task; None means every task of the workflow.
        before_token: Only assignments with an older fencing token (None: any); an
            assignment without a token is taken away whatever this says.
        reason: Why, for the log.
    """

    workflow_id: str
    task_id: str | None
    before_token: int | None
    reason: str

    def ends(self, *, workflow_id: str, task_id: str, token: int | None) -> bool:
        """Whether this ends the assignment of ``task_id`` with fencing ``token``."""
        if workflow_id != self.workflow_id or self.task_id not in (None, task_id):
            return False
        return self.before_token is None or token is None or token < self.before_token


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
    if kind in _REPORTS:
        return _settled_by_report(wid, task, kind, reporter=holder, token=newer, me=agent_id)
    # TASK_SKIPPED: the task is settled, whoever held it.
    return Takeaway(wid, task, None, kind.lower())


def _settled_by_report(
    wid: str, task: str, kind: str, *, reporter: object, token: int | None, me: str
) -> Takeaway | None:
    """What a report on ``task`` settles for agent ``me`` (module doc).

    The worker's own reports arrive after it let go of the run; one from an earlier run of
    this agent (another process, or before a restart) settles that assignment and older ones.
    """
    reason = f"{kind.lower()} by {reporter}"
    if reporter == me:
        return Takeaway(wid, task, None if token is None else token + 1, reason)
    if token is None:
        return None
    return Takeaway(wid, task, token, reason)
