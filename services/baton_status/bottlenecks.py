"""What holds most workflows back: phases, agents, resources, dependencies.

Candidates, over the workflows that have not ended:

- **phase**: a phase that running (or paused) workflows are in, when two or more are in it,
  or one has been in it longer than the phase's planned duration
  (:func:`~baton_status.expectation.planned_seconds`).
- **agent**: an agent holding tasks of a workflow while other tasks of that workflow are
  ready and wait for an agent; or an agent with tasks failed or timed out (two or more in
  all), or with a performance alert.
- **resource**: a pool a queued workflow waits for: one whose free capacity (as the
  resource manager last said) is below what the workflow asked for; files of a conflict
  that names the workflow; else, pools unknown, the resource queue.
- **dependency**: an external dependency not satisfied that holds a workflow's start back
  or that a task of its current phase waits for; a quality gate that holds a phase back.

Ranking: most workflows held back first; then longest held (the longest wait, in seconds,
among them); then kind (resource, dependency, agent, phase: the more specific cause first)
and name, so the order is deterministic. The top ``limit`` are returned, each with the
workflows it holds back and a sentence saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from baton.protocol.duration import format_duration
from baton_status.api_models import Bottleneck
from baton_status.expectation import planned_seconds
from baton_status.plan import strings
from baton_status.system import amounts
from baton_status.views import IN_FLIGHT, TERMINAL, SystemView, WorkflowView, utc

__all__ = ["bottlenecks"]

Kind = Literal["phase", "agent", "resource", "dependency"]
_KIND_ORDER: Final[dict[str, int]] = {"resource": 0, "dependency": 1, "agent": 2, "phase": 3}
_MIN_FAILURES: Final = 2


@dataclass(slots=True)
class _Candidate:
    kind: Kind
    name: str
    workflows: dict[str, float] = field(default_factory=dict)
    """Workflow id → seconds it has been held."""
    notes: list[str] = field(default_factory=list)

    def hold(self, workflow_id: str, seconds: float) -> None:
        self.workflows[workflow_id] = max(seconds, self.workflows.get(workflow_id, 0.0))


class _Board:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], _Candidate] = {}

    def get(self, kind: Kind, name: str) -> _Candidate:
        key = (kind, name)
        if key not in self.items:
            self.items[key] = _Candidate(kind, name)
        return self.items[key]


def _since(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment is not None else 0.0


def _wait(seconds: float) -> str:
    return format_duration(round(seconds))


def _phases(board: _Board, view: WorkflowView, now: datetime) -> None:
    phase = view.phase
    if view.status not in {"STARTED", "PAUSED"} or phase is None or phase.status != "running":
        return
    spent = _since(phase.started_at, now)
    planned = planned_seconds(view, view.current_phase)
    item = board.get("phase", phase.name)
    item.hold(view.workflow_id, spent)
    if planned and spent > planned:
        item.notes.append(f"{view.workflow_id} past its planned {_wait(planned)}")


def _agents(board: _Board, view: WorkflowView, now: datetime) -> None:
    # Not while paused: then tasks wait for the resume, not for an agent.
    if view.status != "STARTED" or not view.phases:
        return
    current = view.phase_tasks(view.current_phase)
    waiting = [
        t
        for t in current
        if t.status == "ready" or (t.status == "pending" and not view.blockers(t))
    ]
    if not waiting:
        return
    for agent in view.agents.values():
        held = [
            view.tasks[t]
            for t in agent.current_tasks
            if t in view.tasks and view.tasks[t].status in IN_FLIGHT
        ]
        if held:
            since = min((t.assigned_at for t in held if t.assigned_at), default=None)
            item = board.get("agent", agent.agent_id)
            item.hold(view.workflow_id, _since(since, now))
            item.notes.append(
                f"holds {', '.join(t.task_id for t in held)} of {view.workflow_id} while "
                f"{len(waiting)} ready task(s) wait"
            )


def _agent_failures(board: _Board, views: list[WorkflowView], system: SystemView) -> None:
    failures: dict[str, dict[str, int]] = {}
    for view in views:
        for agent in view.agents.values():
            if agent.tasks_failed:
                failures.setdefault(agent.agent_id, {})[view.workflow_id] = agent.tasks_failed
    for agent_id, where in failures.items():
        total = sum(where.values())
        if total >= _MIN_FAILURES:
            item = board.get("agent", agent_id)
            for workflow_id in where:
                item.hold(workflow_id, 0.0)
            item.notes.append(f"{total} task failure(s)")
    alerted: dict[str, int] = {}
    for alert in system.alerts:
        named = alert.detail.get("agent_id")
        if alert.event_type == "AGENT_PERFORMANCE_ALERT" and isinstance(named, str):
            alerted[named] = alerted.get(named, 0) + 1
    for named, count in alerted.items():
        board.get("agent", named).notes.append(f"{count} performance alert(s)")


def _resources(board: _Board, view: WorkflowView, system: SystemView, now: datetime) -> None:
    if view.status != "QUEUED":
        return
    waited = _since(view.queued_at, now)
    short: list[str] = []
    for name, need in amounts(view.resources).items():
        pool = system.pools.get(name)
        if pool is not None and pool.free < need:
            short.append(name)
            item = board.get("resource", name)
            item.notes.append(
                f"{view.workflow_id} needs {need:g}, {pool.free:g} of {pool.capacity:g} free"
            )
    for conflict in system.conflicts:
        if conflict.get("workflow_id") == view.workflow_id:
            for path in strings(conflict.get("files")):
                short.append(f"file:{path}")
                board.get("resource", f"file:{path}").notes.append(f"held for {view.workflow_id}")
    for name in short or ["resource queue"]:
        board.get("resource", name).hold(view.workflow_id, waited)
    if not short:
        board.get("resource", "resource queue").notes.append(
            f"{view.workflow_id} queued (position {view.queue_position}), pool capacities unknown"
        )


def _dependencies(board: _Board, view: WorkflowView, now: datetime) -> None:
    names = set(view.waiting_for)
    if view.status in {"STARTED", "PAUSED"} and view.phases:
        for task in view.phase_tasks(view.current_phase):
            if task.status == "pending":
                names.update(d for d in view.blockers(task) if d in view.external)
            if task.gate_blocked:
                item = board.get("dependency", f"quality_gate:{task.task_id}")
                item.hold(view.workflow_id, _since(task.completed_at, now))
                item.notes.append(f"{view.workflow_id}: score {task.quality_score} < {task.gate}")
    phase = view.phase
    held_since = phase.started_at if phase and phase.started_at else view.scheduled_at
    for name in sorted(names):
        ext = view.external.get(name)
        if ext is not None and ext.satisfied:
            continue
        item = board.get("dependency", name)
        item.hold(view.workflow_id, _since(held_since or view.created_at, now))
        if ext is not None and ext.timed_out:
            item.notes.append(f"timed out for {view.workflow_id}")


_LEADS: Final[dict[str, str]] = {
    "phase": "{n} running workflow(s) in this phase",
    "agent": "{n} workflow(s) held back by this agent",
    "resource": "{n} queued workflow(s) wait for it",
    "dependency": "{n} workflow(s) wait for it",
}


def _explain(item: _Candidate) -> str:
    longest = max(item.workflows.values(), default=0.0)
    head = _LEADS[item.kind].format(n=len(item.workflows))
    if longest > 0:
        head += f", the longest for {_wait(longest)}"
    notes = list(dict.fromkeys(item.notes))
    return head + (": " + "; ".join(notes[:5]) if notes else "")


def bottlenecks(
    views: Iterable[WorkflowView], system: SystemView, *, now: datetime, limit: int = 5
) -> list[Bottleneck]:
    """The top ``limit`` causes that hold most workflows back (see the module doc)."""
    now = utc(now)
    open_views = [v for v in views if v.status not in TERMINAL]
    board = _Board()
    for view in open_views:
        _phases(board, view, now)
        _agents(board, view, now)
        _resources(board, view, system, now)
        _dependencies(board, view, now)
    _agent_failures(board, open_views, system)
    found = [
        item
        for item in board.items.values()
        if item.workflows and (item.kind != "phase" or len(item.workflows) >= 2 or item.notes)
    ]
    found.sort(
        key=lambda i: (
            -len(i.workflows),
            -max(i.workflows.values(), default=0.0),
            _KIND_ORDER[i.kind],
            i.name,
        )
    )
    return [
        Bottleneck(kind=i.kind, name=i.name, workflows=sorted(i.workflows), detail=_explain(i))
        for i in found[:limit]
    ]
