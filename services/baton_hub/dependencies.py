"""Dependency resolution: what a task waits for, and since when it has waited too long.

A dependency of a task is satisfied when it is

- a task that completed (``agent_completion``) and, if it has a quality gate (its
  own ``quality_gate`` or the dependant's ``min_score``), whose score reached the threshold;
  a task that was skipped also counts, so that dependants continue;
- an external dependency that a ``DEPENDENCY_SATISFIED`` event has satisfied.

A phase is complete when each of its tasks is skipped, or completed with its own quality
gate passed: a gate holds its phase back even when nothing depends on the task.

A dependency that is not satisfied is never treated as satisfied: a task with a blocker
stays ``pending`` (:func:`reopen` puts a retried task back to waiting, never to ``ready``).
A wait ends at the task's timeout for that dependency; an external dependency's own
timeout (counted from the workflow's creation) ends every wait under way when it passes,
while a wait that begins after it (a later phase, or a longer wait a rule granted) runs
its own clock. What happens then is for the routing rules (:mod:`baton_hub.failures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from baton_hub.state import TaskState, WorkflowState
from baton_hub.units import after, format_seconds, parse_seconds

__all__ = [
    "Blocker",
    "blockers",
    "due_blocker",
    "gate_deadline_passed",
    "gate_passed",
    "phase_complete",
    "reopen",
]


@dataclass(frozen=True, slots=True)
class Blocker:
    """One unsatisfied dependency of a task.

    Attributes:
        dependency: Task id or external dependency name.
        kind: ``agent_completion``, ``quality_gate`` or ``external``.
        detail: Why it is not satisfied, e.g. ``score 0.5 < 0.8``.
        timeout_seconds: How long the task waits for it.
        deadline: When an external dependency's own timeout passes, if it has one.
    """

    dependency: str
    kind: Literal["agent_completion", "quality_gate", "external"]
    detail: str
    timeout_seconds: float
    deadline: datetime | None = None

    def describe(self) -> str:
        """``dependency 'x' (quality_gate: score 0.5 < 0.8)``."""
        return f"dependency {self.dependency!r} ({self.kind}: {self.detail})"

    def cut_short(self, waiting_since: datetime) -> bool:
        """True when the dependency's own deadline falls within a wait begun then."""
        end = after(waiting_since, self.timeout_seconds)
        return self.deadline is not None and waiting_since < self.deadline < end

    def due(self, waiting_since: datetime) -> datetime:
        """When a wait for it begun at ``waiting_since`` times out."""
        if self.deadline is not None and self.cut_short(waiting_since):
            return self.deadline
        return after(waiting_since, self.timeout_seconds)

    def timeout_reason(self, waiting_since: datetime) -> str:
        """Why a wait begun at ``waiting_since`` ended, for the failure it becomes."""
        if self.cut_short(waiting_since):
            return f"stopped waiting for {self.describe()}"
        limit = format_seconds(self.timeout_seconds)
        return f"waited longer than {limit} for {self.describe()}"


def blockers(state: WorkflowState, task_id: str) -> list[Blocker]:
    """The unsatisfied dependencies of ``task_id``, in definition order."""
    definition = state.definition
    spec = state.spec(task_id)
    found: list[Blocker] = []
    for dep in spec.dependencies:
        wait = definition.wait_seconds(spec, dep)
        name = dep.task_id
        if name in state.external:
            if not state.external[name].satisfied:
                found.append(_external_blocker(state, name, wait))
            continue
        target = state.tasks[name]
        if target.status == "skipped":
            continue
        if target.status != "completed":
            found.append(Blocker(name, "agent_completion", f"task is {target.status}", wait))
            continue
        threshold = definition.gate_threshold(dep)
        score = target.quality_score
        if threshold is not None and (score is None or score < threshold):
            shown = "no score" if score is None else f"score {score:g}"
            found.append(Blocker(name, "quality_gate", f"{shown} < {threshold:g}", wait))
    return found


def _external_blocker(state: WorkflowState, name: str, wait: float) -> Blocker:
    spec = state.definition.external(name)
    own = spec.timeout if spec is not None else None
    if own is None:
        return Blocker(name, "external", "not satisfied yet", wait)
    deadline = after(state.created_at, parse_seconds(own))
    if state.external[name].timed_out:
        return Blocker(name, "external", f"not satisfied within {own}", wait, deadline)
    return Blocker(name, "external", "not satisfied yet", wait, deadline)


def reopen(state: WorkflowState, task: TaskState, *, now: datetime) -> None:
    """Give ``task`` another go: ``ready`` when nothing blocks it, else ``pending``, its
    wait starting over at ``now`` — a retry never runs a task whose dependencies are not
    satisfied."""
    if blockers(state, task.task_id):
        task.status = "pending"
        task.waiting_since = now
    else:
        task.status = "ready"


def gate_passed(state: WorkflowState, task_id: str) -> bool:
    """True when ``task_id`` has no quality gate of its own, or its score reached it."""
    gate = state.spec(task_id).quality_gate
    score = state.tasks[task_id].quality_score
    return gate is None or (score is not None and score >= gate.min_score)


def phase_complete(state: WorkflowState, index: int) -> bool:
    """True when every task of phase ``index`` is skipped, or completed past its gate."""
    return all(
        t.status == "skipped" or (t.status == "completed" and gate_passed(state, t.task_id))
        for t in state.phase_tasks(index)
    )


def due_blocker(state: WorkflowState, task: TaskState, *, now: datetime) -> Blocker | None:
    """The first dependency whose wait has ended (see the module doc), or None."""
    if task.status != "pending" or task.waiting_since is None:
        return None
    for blocker in blockers(state, task.task_id):
        if now >= blocker.due(task.waiting_since):
            return blocker
    return None


def gate_deadline_passed(state: WorkflowState, task: TaskState, *, now: datetime) -> str | None:
    """Why a completed task's own gate has timed out, or None (not due, or passed).

    Only for gates nobody is waiting on: when a pending task of the current phase depends
    on ``task``, that task's dependency timeout governs instead.
    """
    spec = state.spec(task.task_id)
    gate = spec.quality_gate
    if gate is None or task.status != "completed" or task.completed_at is None:
        return None
    if gate_passed(state, task.task_id):
        return None
    waiting = [
        t
        for t in state.phase_tasks()
        if t.status == "pending" and task.task_id in state.spec(t.task_id).dependency_ids()
    ]
    if waiting:
        return None
    definition = state.definition
    if gate.timeout is not None:
        limit = parse_seconds(gate.timeout)
    elif definition.dependency_timeout is not None:
        limit = parse_seconds(definition.dependency_timeout)
    else:
        limit = definition.planned_seconds()
    if now < after(task.completed_at, limit):
        return None
    score = "no score" if task.quality_score is None else f"score {task.quality_score:g}"
    return (
        f"quality gate of task {task.task_id!r} not met within {format_seconds(limit)} "
        f"({score} < {gate.min_score:g})"
    )
