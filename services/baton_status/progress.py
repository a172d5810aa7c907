"""Progress, critical path, completion estimate and bottlenecks of workflows.

- :func:`progress`: percent done, each phase weighted by its *planned* duration (done
  phases fully, the current one by the share of its tasks done). The plan, not the learned
  history, so that a progress bar never moves backwards when the history learns something
  mid-run (the estimate uses the history).
- :func:`critical_path`: the longest chain of remaining work over the task DAG.
- :func:`estimate` (from :mod:`baton_status.estimate`): when the workflow will finish.
- :func:`bottlenecks` (from :mod:`baton_status.bottlenecks`): what holds most workflows back.

Critical path: the remaining tasks (not completed or skipped) of a workflow that can still
finish, with edges from each task's dependencies and from the phase order (a phase starts
when the one before it has completed, so every remaining task of a phase follows every
remaining task of the phases before it). A task's length is its expected duration (history
of its phase, else the definition's estimate; :func:`~baton_status.expectation.expect_tasks`);
given ``now``, a task in progress counts only what it has left: expected minus elapsed, at
least :data:`~baton_status.estimate.FLOOR` of the expected. Ties go to the task listed first.
"""

from __future__ import annotations

from datetime import datetime

from baton_status.api_models import CriticalPath
from baton_status.bottlenecks import bottlenecks
from baton_status.estimate import FLOOR, estimate
from baton_status.expectation import expect_phases, expect_tasks, phase_fraction, progress_fraction
from baton_status.history import History
from baton_status.views import DONE_TASK, TERMINAL, TaskRecord, WorkflowView

__all__ = ["bottlenecks", "critical_path", "estimate", "phase_progress", "progress"]

_NO_HISTORY = History()


def progress(view: WorkflowView, *, history: History) -> float:
    """Percent done (0-100, one decimal); see the module doc."""
    plan = expect_phases(view, history=_NO_HISTORY)  # ``history`` steers estimates only
    return round(100.0 * progress_fraction(view, phases=plan), 1)


def phase_progress(view: WorkflowView) -> list[float]:
    """Percent done of each phase (0-100, one decimal), in order."""
    return [round(100.0 * phase_fraction(view, i), 1) for i in range(len(view.phases))]


def _left(task: TaskRecord, expected: float, now: datetime | None) -> float:
    """What a task has left: all of it, unless it is in progress and ``now`` is known."""
    began = task.started_at or task.assigned_at
    if now is None or began is None or task.status not in {"assigned", "running"}:
        return expected
    elapsed = max(0.0, (now - began).total_seconds())
    return max(expected - elapsed, FLOOR * expected)


def critical_path(
    view: WorkflowView, *, history: History, now: datetime | None = None
) -> CriticalPath:
    """The longest chain of remaining tasks and its length in seconds (see the module doc)."""
    if view.status in TERMINAL:
        return CriticalPath()
    expected = expect_tasks(view, phases=expect_phases(view, history=history))
    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    barrier: tuple[float, str | None] = (0.0, None)
    for index in range(len(view.phases)):
        remaining = [t for t in view.phase_tasks(index) if t.status not in DONE_TASK]
        ids = {t.task_id for t in remaining}
        for task in _ordered(remaining):
            start, before = barrier
            for dep in task.dependencies:
                if dep in ids and finish.get(dep, 0.0) > start:
                    start, before = finish[dep], dep
            finish[task.task_id] = start + _left(task, expected.get(task.task_id, 0.0), now)
            previous[task.task_id] = before
        for task in remaining:
            if finish[task.task_id] > barrier[0]:
                barrier = (finish[task.task_id], task.task_id)
    length, last = barrier
    chain: list[str] = []
    while last is not None:
        chain.append(last)
        last = previous[last]
    return CriticalPath(tasks=chain[::-1], remaining_s=round(length, 3))


def _ordered(tasks: list[TaskRecord]) -> list[TaskRecord]:
    """``tasks`` with every task after its dependencies among them, else in list order."""
    ids = {t.task_id: t for t in tasks}
    done: dict[str, TaskRecord] = {}

    def visit(task: TaskRecord, trail: frozenset[str]) -> None:
        if task.task_id in done:
            return
        for dep in task.dependencies:
            if dep in ids and dep not in trail:
                visit(ids[dep], trail | {dep})
        done[task.task_id] = task

    for task in tasks:
        visit(task, frozenset({task.task_id}))
    return list(done.values())
