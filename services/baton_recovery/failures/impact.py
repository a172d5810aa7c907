"""Impact of a failed task on its workflow, from the task dependency graph.

The graph is neutral data, ``{task_id: {...}}``, each task with ``depends_on`` (or
``dependencies``), ``status`` (the hub's: pending, ready, assigned, running, completed,
failed, skipped), ``expected_duration`` (or ``duration``/``estimated_duration``: seconds or a
duration string such as ``"10m"``), ``phase`` and ``agent_id`` (or ``agent``), all optional.
Dependencies on tasks outside the graph are ignored (they are external).

- Affected tasks: the failed task, then every task that depends on it, directly or not, and
  is not done (completed or skipped), in dependency order.
- Blocked tasks: those of them that wait on the failed task directly.
- Estimated delay: how much later the remaining work ends. The failed task must run again
  after the recovery, so it takes ``recovery_seconds + lost_seconds`` longer than planned
  (``lost_seconds`` defaults to its whole expected duration: the work done is lost); the
  delay is the growth of the longest path through the tasks not done, so a task with slack
  delays the workflow less than that, or not at all.
- Workflow risk (``critical|high|medium|low``): ``critical`` when the delay is at least
  the planned remaining time, ``high`` when it is at least half of it or at least half of
  the other remaining tasks depend on the failed one, ``medium`` when it delays the workflow
  at all or blocks a task, else ``low``.
- Data-loss risk: ``high`` when completed tasks depend on the failed one (a rollback redoes
  them, and their inputs may be bad), ``medium`` when work in progress is lost (the failed
  task or another affected task was running or had failed), else ``low``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from baton.protocol.duration import format_duration, parse_duration
from baton.protocol.messages.base import Priority
from baton_recovery.errors import InvalidStateError, UnknownTaskError

__all__ = [
    "DONE",
    "IN_FLIGHT",
    "DataLossRisk",
    "Impact",
    "TaskNode",
    "assess_impact",
    "read_graph",
]

DONE: Final = frozenset({"completed", "skipped"})
"""Task statuses that need no more work."""
IN_FLIGHT: Final = frozenset({"assigned", "running"})
"""Task statuses of work held by an agent."""

DataLossRisk = Literal["high", "medium", "low"]
"""How much finished or partial work a failure puts at risk."""


@dataclass(frozen=True, slots=True)
class TaskNode:
    """One task of the neutral graph."""

    task_id: str
    depends_on: tuple[str, ...] = ()
    status: str = "pending"
    duration: float = 0.0
    """Expected duration in seconds."""
    phase: str | None = None
    agent: str | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_graph(tasks: Mapping[str, Mapping[str, Any]]) -> dict[str, TaskNode]:
    """The neutral graph as :class:`TaskNode` by id (module doc for the fields).

    Raises:
        ProtocolError: a duration is not a duration (names the task's field).
    """
    out: dict[str, TaskNode] = {}
    for task_id, task in tasks.items():
        deps = task.get("depends_on", task.get("dependencies")) or []
        raw = next(
            (task[k] for k in ("expected_duration", "duration", "estimated_duration") if k in task),
            None,
        )
        seconds = 0.0 if raw is None else parse_duration(raw, part=f"tasks.{task_id}.duration")
        out[task_id] = TaskNode(
            task_id=task_id,
            depends_on=tuple(str(d) for d in deps),
            status=_text(task.get("status")) or "pending",
            duration=seconds,
            phase=_text(task.get("phase")),
            agent=_text(task.get("agent_id")) or _text(task.get("agent")),
        )
    return out


@dataclass(frozen=True, slots=True)
class Impact:
    """What a failed task blocks (module doc)."""

    failed_task: str
    affected_tasks: tuple[str, ...]
    """The failed task, then its dependants not done, in dependency order."""
    blocked_tasks: tuple[str, ...]
    """Dependants not done that wait on the failed task directly."""
    affected_agents: tuple[str, ...]
    affected_phases: tuple[str, ...]
    estimated_delay: float
    """Seconds the remaining work ends later."""
    remaining: float
    """Seconds of the longest path through the remaining work, as planned."""
    on_critical_path: bool
    """The failed task has no slack: any delay of it delays the workflow."""
    workflow_risk: Priority
    data_loss_risk: DataLossRisk
    completed_downstream: tuple[str, ...]
    """Completed tasks that depend on the failed one."""

    def to_dict(self) -> dict[str, Any]:
        """The protocol's ``impact_assessment`` object."""
        return {
            "affected_tasks": list(self.affected_tasks),
            "affected_agents": list(self.affected_agents),
            "blocking_dependencies": list(self.blocked_tasks),
            "estimated_delay": format_duration(round(self.estimated_delay)),
            "workflow_risk": self.workflow_risk,
        }


def _dependants(graph: Mapping[str, TaskNode]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {t: [] for t in graph}
    for node in graph.values():
        for dep in node.depends_on:
            if dep in out and node.task_id not in out[dep]:
                out[dep].append(node.task_id)
    return out


def _order(
    graph: Mapping[str, TaskNode], dependants: Mapping[str, list[str]], active: set[str]
) -> list[str]:
    """The active tasks, each after the active tasks it depends on (Kahn's algorithm)."""
    waiting = {t: {d for d in graph[t].depends_on if d in active} for t in active}
    order = [t for t in graph if t in active and not waiting[t]]
    index = 0
    while index < len(order):
        done = order[index]
        index += 1
        for child in dependants[done]:
            if child in active and done in waiting[child]:
                waiting[child].discard(done)
                if not waiting[child]:
                    order.append(child)
    if len(order) < len(active):
        stuck = sorted(active - set(order))
        raise InvalidStateError(f"dependency cycle among {', '.join(stuck)}", path=["tasks"])
    return order


def _longest(
    graph: Mapping[str, TaskNode],
    dependants: Mapping[str, list[str]],
    order: list[str],
    weight: Mapping[str, float],
) -> tuple[dict[str, float], dict[str, float]]:
    """Earliest finish of each task, and the longest path from its start to the end."""
    finish: dict[str, float] = {}
    for t in order:
        before = [finish[d] for d in graph[t].depends_on if d in finish]
        finish[t] = max(before, default=0.0) + weight[t]
    tail: dict[str, float] = {}
    for t in reversed(order):
        after = [tail[c] for c in dependants[t] if c in tail]
        tail[t] = weight[t] + max(after, default=0.0)
    return finish, tail


def _risk(*, delay: float, remaining: float, share: float, blocked: bool) -> Priority:
    ratio = delay / remaining if remaining > 0 else (1.0 if delay > 0 else 0.0)
    if ratio >= 1.0:
        return "critical"
    if ratio >= 0.5 or share >= 0.5:
        return "high"
    if delay > 0 or blocked:
        return "medium"
    return "low"


def assess_impact(
    *,
    tasks: Mapping[str, Mapping[str, Any]],
    failed_task: str,
    recovery_seconds: float = 0.0,
    lost_seconds: float | None = None,
    agent: str | None = None,
) -> Impact:
    """The impact of ``failed_task`` failing (module doc).

    Args:
        tasks: The neutral graph, ``{task_id: {...}}``.
        failed_task: The task that failed.
        recovery_seconds: Expected time before the task can run again.
        lost_seconds: Work lost with the failure, in seconds; default the task's duration.
        agent: Agent that ran it, when the graph does not say.

    Raises:
        UnknownTaskError: ``failed_task`` is not in the graph.
        InvalidStateError: the remaining tasks have a dependency cycle.
        ProtocolError: a duration in the graph is not a duration.
    """
    graph = read_graph(tasks)
    failed = graph.get(failed_task)
    if failed is None:
        raise UnknownTaskError(f"task {failed_task!r} is not in the graph", task_id=failed_task)
    dependants = _dependants(graph)
    reached: list[str] = []
    completed: list[str] = []
    seen = {failed_task}
    queue = deque([failed_task])
    while queue:
        for child in dependants[queue.popleft()]:
            if child in seen:
                continue
            seen.add(child)
            if graph[child].status in DONE:
                if graph[child].status == "completed":
                    completed.append(child)
                continue
            reached.append(child)
            queue.append(child)
    active = {t for t, n in graph.items() if n.status not in DONE} | {failed_task}
    order = _order(graph, dependants, active)
    weight = {t: graph[t].duration for t in active}
    finish, tail = _longest(graph, dependants, order, weight)
    remaining = max(finish.values(), default=0.0)
    lost = failed.duration if lost_seconds is None else max(0.0, lost_seconds)
    weight[failed_task] += max(0.0, recovery_seconds) + lost
    later, _ = _longest(graph, dependants, order, weight)
    delay = max(later.values(), default=0.0) - remaining
    start = finish[failed_task] - graph[failed_task].duration
    on_path = abs(start + tail[failed_task] - remaining) <= 1e-9 * max(1.0, remaining)

    reached_set = set(reached)
    affected = [failed_task, *(t for t in order if t in reached_set)]
    blocked = tuple(t for t in affected[1:] if failed_task in graph[t].depends_on)
    agents = [a for a in (failed.agent, agent) if a is not None]
    agents += sorted({a for t in reached if graph[t].status in IN_FLIGHT and (a := graph[t].agent)})
    phases = sorted({p for t in affected if (p := graph[t].phase) is not None})
    held = IN_FLIGHT | {"failed"}
    lost_work = failed.status in held or any(graph[t].status in held for t in reached)
    others = len(active) - 1
    return Impact(
        failed_task=failed_task,
        affected_tasks=tuple(affected),
        blocked_tasks=blocked,
        affected_agents=tuple(dict.fromkeys(agents)),
        affected_phases=tuple(phases),
        estimated_delay=max(0.0, delay),
        remaining=remaining,
        on_critical_path=on_path,
        workflow_risk=_risk(
            delay=max(0.0, delay),
            remaining=remaining,
            share=len(reached) / others if others else 0.0,
            blocked=bool(blocked),
        ),
        data_loss_risk="high" if completed else "medium" if lost_work else "low",
        completed_downstream=tuple(completed),
    )
