"""What a batch of events tells the watchdog, gathered into a few statements' worth of rows.

The watchdog reads, in each partition's order: heartbeats, assignments, progress (a task
started, a phase's progress), agents' reports of their tasks (the hub's own announcements
of a task's end are not reports) and workflows' ends. :func:`read_signs` turns a batch of
them into:

- agents: each sender's sign of life, each agent given a task (tracked from now unless
  known), and each reporting agent's outcomes in order (for its circuit breaker). Signs of
  life commute — the latest time wins — so one statement records them all, first, whatever
  their places in the batch, and locks the agents' rows in id order.
- rounds of watch changes. A round is applied kind by kind — watches started, then progress
  on watched tasks, then watches ended by reports, then workflows ended — which gives what
  the events' own order gives as long as no task has an event of an earlier kind after one
  of a later kind (a task reassigned after its report, in one batch); such an event opens
  the next round. Most batches are one round: four statements at most, however many events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from baton.bus.tracecontext import trace_of
from baton.protocol.event import Event

__all__ = [
    "ASSIGNED",
    "ENDED",
    "HEARTBEAT",
    "PROGRESS",
    "REPORTS",
    "WATCHED",
    "Assignment",
    "Round",
    "Signs",
    "TaskSign",
    "read_signs",
]

HEARTBEAT: Final = "AGENT_HEARTBEAT"
ASSIGNED: Final = "TASK_ASSIGNED"
PROGRESS: Final = frozenset({"TASK_STARTED", "PHASE_PROGRESS"})
"""Progress on a task: a sign of life of its sender and of the agent holding the task."""
REPORTS: Final = frozenset({"TASK_COMPLETED", "TASK_FAILED"})
"""An agent's report of a task's end (its breaker counts the outcome)."""
FAILED: Final = "TASK_FAILED"
ENDED: Final = frozenset({"WORKFLOW_COMPLETED", "WORKFLOW_CANCELLED"})
"""A workflow's end (a failed one is a failure report first: the handlers end it)."""
WATCHED: Final = frozenset({HEARTBEAT, ASSIGNED, *PROGRESS, *REPORTS, *ENDED})
"""Every event type the watchdog reads."""

# Kinds of watch change, in the order a round applies them.
_WATCH, _PROGRESS, _UNWATCH, _END = range(4)


def _is_hubs(event: Event) -> bool:
    """The hub's announcements of a task's end; agents' reports are what count."""
    return event.source == "baton-hub" or event.source.endswith("-hub")


@dataclass(frozen=True, slots=True)
class Assignment:
    """A task given to an agent: watched from now (its event id names the assignment)."""

    workflow_id: str
    task_id: str
    agent_id: str
    assignment_id: str
    trace_context: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TaskSign:
    """Progress on a task, or a report of its end, and who sent it (None: nobody named)."""

    workflow_id: str
    task_id: str
    agent_id: str | None


@dataclass(slots=True)
class Round:
    """Watch changes that may be applied kind by kind (module doc)."""

    watches: list[Assignment] = field(default_factory=list)
    progress: list[TaskSign] = field(default_factory=list)
    reports: list[TaskSign] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    _kinds: dict[tuple[str, str], int] = field(default_factory=dict)
    _ended: set[str] = field(default_factory=set)

    def admits(self, workflow_id: str, task_id: str | None, kind: int) -> bool:
        """Whether a change of ``kind`` to a task (None: the whole workflow) may join."""
        if kind == _END:
            return True
        if workflow_id in self._ended:
            return False
        last = self._kinds.get((workflow_id, task_id or ""))
        # Two assignments of one task in one statement would collide: one per round.
        return last is None or last < kind or (last == kind and kind != _WATCH)

    def note(self, workflow_id: str, task_id: str | None, kind: int) -> None:
        """A change of ``kind`` to a task (None: the whole workflow) joined."""
        if task_id is None:
            self._ended.add(workflow_id)
        else:
            self._kinds[(workflow_id, task_id)] = kind


@dataclass(slots=True)
class Signs:
    """What a batch tells the watchdog (module doc)."""

    alive: dict[str, None] = field(default_factory=dict)
    """Agents that gave a sign of life (in order of first appearance)."""
    tracked: dict[str, None] = field(default_factory=dict)
    """Agents given a task."""
    outcomes: dict[str, list[bool]] = field(default_factory=dict)
    """Per reporting agent, its tasks' outcomes in order (True: completed)."""
    rounds: list[Round] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.alive or self.tracked or self.rounds)

    def _round(self, workflow_id: str, task_id: str | None, kind: int) -> Round:
        current = self.rounds[-1] if self.rounds else None
        if current is None or not current.admits(workflow_id, task_id, kind):
            current = Round()
            self.rounds.append(current)
        current.note(workflow_id, task_id, kind)
        return current

    def read(self, event: Event) -> None:
        """Take in one event (of any type: those the watchdog does not read change nothing)."""
        kind, data, wf = event.event_type, event.data, event.workflow_id
        if kind == HEARTBEAT:
            agent = data.get("agent_id") or event.phase
            if isinstance(agent, str) and agent:
                self.alive[agent] = None
        elif kind == ASSIGNED:
            agent, task = data.get("agent_id"), data.get("task_id")
            if isinstance(agent, str) and isinstance(task, str):
                self.tracked[agent] = None
                assignment = Assignment(wf, task, agent, event.event_id, trace_of(event))
                self._round(wf, task, _WATCH).watches.append(assignment)
        elif kind in PROGRESS:
            task, agent = data.get("task_id"), data.get("agent_id")
            sender = agent if isinstance(agent, str) and agent else None
            if sender is not None:
                self.alive[sender] = None
            if isinstance(task, str):
                self._round(wf, task, _PROGRESS).progress.append(TaskSign(wf, task, sender))
        elif kind in REPORTS:
            if _is_hubs(event):
                return
            task, agent = data.get("task_id"), data.get("agent_id")
            holder = agent if isinstance(agent, str) else None
            if holder:
                self.alive[holder] = None
                self.outcomes.setdefault(holder, []).append(kind != FAILED)
            if isinstance(task, str):
                self._round(wf, task, _UNWATCH).reports.append(TaskSign(wf, task, holder))
        elif kind in ENDED:
            self._round(wf, None, _END).ended.append(wf)


def read_signs(events: Iterable[Event]) -> Signs:
    """What ``events`` (in their order) tell the watchdog."""
    signs = Signs()
    for event in events:
        signs.read(event)
    return signs
