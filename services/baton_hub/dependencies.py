"""Dependency resolution: what a task waits for, and since when it has waited too long.

A dependency of a task is satisfied when it is

- a task that completed (seed 003's ``agent_completion``) and, if it has a quality gate (its
  own ``quality_gate`` or the dependant's ``min_score``), whose score reached the threshold;
  a task that was skipped also counts, so that dependants continue;
- an external dependency that a ``DEPENDENCY_SATISFIED`` event has satisfied.

A phase is complete when each of its tasks is skipped, or completed with its own quality
gate passed: a gate holds its phase back even when nothing depends on the task.
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
]


@dataclass(frozen=True, slots=True)
class Blocker:
    """One unsatisfied dependency of a task.

    Attributes:
        dependency: Task id or external dependency name.
        kind: ``agent_completion``, ``quality_gate`` or ``external``.
        detail: Why it is not satisfied, e.g. ``score 0.5 < 0.8``.
        timeout_seconds: How long the task waits for it.
    """

    dependency: str
    kind: Literal["agent_completion", "quality_gate", "external"]
    detail: str
    timeout_seconds: float

    def describe(self) -> str:
        """``dependency 'x' (quality_gate: score 0.5 < 0.8)``."""
        return f"dependency {self.dependency!r} ({self.kind}: {self.detail})"


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
                found.append(Blocker(name, "external", "not satisfied yet", wait))
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
    """The first dependency ``task`` has waited for longer than its timeout, or None."""
    if task.status != "pending" or task.waiting_since is None:
        return None
    for blocker in blockers(state, task.task_id):
        if now >= after(task.waiting_since, blocker.timeout_seconds):
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
