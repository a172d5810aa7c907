"""How long each phase and task of a workflow is expected to take, and how far along it is.

Expected duration of a phase, first that applies:

1. ``history``: the median of past durations of that phase for the workflow's type;
2. ``type_total``: the median of past whole runs of the type, times the phase's share of the
   planned duration;
3. ``plan``: the definition's planned duration of the phase (an equal share of the
   workflow's, or the longest chain of the tasks' ``estimated_duration`` when every task of
   the phase gives one).

Expected duration of a task: its definition estimate scaled so that the longest chain of
tasks inside its phase takes the phase's expected duration (history knows phases, not tasks;
the definition's estimates keep the tasks' relative sizes).

Progress (0-1) weighs each phase by its expected duration: done phases (completed or
skipped) count fully, the current phase by the share of its tasks done, the others not at
all. A completed workflow is at 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from baton_status.history import (
    History,
    median,
    phase_durations,
    relative_spread,
    workflow_durations,
)
from baton_status.views import DONE_TASK, TaskRecord, WorkflowView

__all__ = [
    "DONE_PHASE",
    "PhaseExpectation",
    "expect_phases",
    "expect_tasks",
    "longest_chain",
    "phase_fraction",
    "planned_seconds",
    "progress_fraction",
]

DONE_PHASE: Final = frozenset({"completed", "skipped"})
"""Phase statuses that count as done."""
_TINY: Final = 1e-9


@dataclass(frozen=True, slots=True)
class PhaseExpectation:
    """The expected duration of one phase and what it rests on.

    Attributes:
        name: The phase.
        seconds: Expected duration of the whole phase.
        source: ``history``, ``type_total`` or ``plan`` (see the module doc).
        samples: Past runs behind it (0 for the plan).
        spread: Relative spread of those runs (:func:`~baton_status.history.relative_spread`),
            None when fewer than two.
    """

    name: str
    seconds: float
    source: Literal["history", "type_total", "plan"]
    samples: int
    spread: float | None


def longest_chain(tasks: list[TaskRecord], *, seconds: dict[str, float]) -> float:
    """Length of the longest dependency chain among ``tasks`` (edges inside the list only)."""
    ids = {t.task_id: t for t in tasks}
    finish: dict[str, float] = {}

    def end(task_id: str, trail: frozenset[str]) -> float:
        if task_id in finish:
            return finish[task_id]
        task = ids[task_id]
        # ``trail`` guards against a cycle in a definition the hub did not check.
        before = [end(d, trail | {d}) for d in task.dependencies if d in ids and d not in trail]
        finish[task_id] = max(before, default=0.0) + seconds.get(task_id, 0.0)
        return finish[task_id]

    return max((end(t, frozenset({t})) for t in ids), default=0.0)


def planned_seconds(view: WorkflowView, index: int) -> float:
    """The definition's expected duration of phase ``index`` (rule 3 of the module doc)."""
    phase = view.phases[index]
    tasks = view.phase_tasks(index)
    if tasks and all(t.explicit_estimate for t in tasks):
        return longest_chain(tasks, seconds={t.task_id: t.estimated_s for t in tasks})
    return phase.planned_s or view.planned_s / len(view.phases)


def expect_phases(view: WorkflowView, *, history: History) -> list[PhaseExpectation]:
    """The expected duration of every phase of ``view``, in order (see the module doc)."""
    planned = [planned_seconds(view, i) for i in range(len(view.phases))]
    total_planned = sum(planned) or 1.0
    totals = workflow_durations(history, workflow_type=view.workflow_type)
    out: list[PhaseExpectation] = []
    for index, phase in enumerate(view.phases):
        past = phase_durations(history, workflow_type=view.workflow_type, phase=phase.name)
        if past:
            out.append(
                PhaseExpectation(
                    phase.name, median(past), "history", len(past), relative_spread(past)
                )
            )
        elif totals:
            share = planned[index] / total_planned
            out.append(
                PhaseExpectation(
                    phase.name,
                    median(totals) * share,
                    "type_total",
                    len(totals),
                    relative_spread(totals),
                )
            )
        else:
            out.append(PhaseExpectation(phase.name, planned[index], "plan", 0, None))
    return out


def expect_tasks(view: WorkflowView, *, phases: list[PhaseExpectation]) -> dict[str, float]:
    """Task id → expected duration, each phase's longest chain scaled to its expectation."""
    out: dict[str, float] = {}
    for index, expected in enumerate(phases):
        tasks = view.phase_tasks(index)
        base = {t.task_id: t.estimated_s for t in tasks}
        chain = longest_chain(tasks, seconds=base)
        factor = expected.seconds / chain if chain > _TINY else 0.0
        for task in tasks:
            out[task.task_id] = base[task.task_id] * factor
    return out


def phase_fraction(view: WorkflowView, index: int) -> float:
    """Share (0-1) of phase ``index`` done: 1 when done, else the share of its tasks done."""
    phase = view.phases[index]
    if phase.status in DONE_PHASE:
        return 1.0
    if phase.status == "pending":
        return 0.0
    tasks = view.phase_tasks(index)
    if not tasks:
        return 0.0
    return sum(1 for t in tasks if t.status in DONE_TASK) / len(tasks)


def progress_fraction(view: WorkflowView, *, phases: list[PhaseExpectation]) -> float:
    """Progress 0-1, each phase weighted by its expected duration (see the module doc)."""
    if view.status == "COMPLETED":
        return 1.0
    weights = [max(p.seconds, _TINY) for p in phases]
    total = sum(weights)
    if total <= 0:
        return 0.0
    done = sum(w * phase_fraction(view, i) for i, w in enumerate(weights))
    return min(1.0, done / total)
