"""Test support for the status service: real hub events, replayed onto the read model.

Events come from the hub's pure state machine (:mod:`baton_hub.workflow`), so their data is
exactly what the hub publishes; each becomes an :class:`~baton.protocol.event.Event` stamped
with the simulated time it was emitted at.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.protocol.event import Event
from baton_hub import workflow as wf
from baton_hub.events import HubEvent
from baton_hub.state import WorkflowState
from baton_status.history import History, observe
from baton_status.projection import apply
from baton_status.views import WorkflowView

__all__ = [
    "FEATURE_DEV",
    "MIXED",
    "T0",
    "Sim",
    "event",
    "project",
    "simulate",
]

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

FEATURE_DEV: dict[str, Any] = {
    "workflow_id": "feature_dev_001",
    "name": "User Authentication Feature",
    "priority": "high",
    "phases": ["research", "planning", "implementation", "testing"],
    "resource_requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
    "dependencies": ["database_migration", "security_review"],
    "tasks": [
        {"task_id": "research", "phase": "research", "estimated_duration": "30m"},
        {"task_id": "plan", "phase": "planning", "estimated_duration": "20m"},
        {"task_id": "backend", "phase": "implementation", "estimated_duration": "90m"},
        {"task_id": "frontend", "phase": "implementation", "estimated_duration": "80m"},
        {"task_id": "api", "phase": "implementation", "estimated_duration": "60m"},
        {
            "task_id": "unit_tests",
            "phase": "testing",
            "estimated_duration": "30m",
            "quality_gate": {"min_score": 0.8},
        },
        {
            "task_id": "integration_tests",
            "phase": "testing",
            "estimated_duration": "20m",
            "dependencies": ["unit_tests"],
        },
    ],
}
"""Seed 002's feature workflow with a task DAG (parallel implementation, gated tests)."""

MIXED: dict[str, Any] = {
    "workflow_id": "codegen_001",
    "name": "Parse contracts, then generate a unified schema",
    "phases": ["generation"],
    "tasks": [
        {"task_id": "parser_0", "role": "parser"},
        {"task_id": "parser_1", "role": "parser"},
        {"task_id": "parser_2", "role": "parser"},
        {
            "task_id": "schema_gen",
            "role": "schema_generator",
            "dependencies": ["parser_0", "parser_1", "parser_2"],
        },
    ],
}
"""Seed 003's mixed pattern: three parsers fan out, the schema generator fans in."""


def event(
    event_type: str,
    workflow_id: str,
    data: Mapping[str, Any] | None = None,
    *,
    phase: str = "global",
    at: datetime = T0,
    event_id: str | None = None,
) -> Event:
    """An event built by hand (a fresh id unless given)."""
    built = Event(
        event_type=event_type,
        workflow_id=workflow_id,
        phase=phase,
        data=dict(data or {}),
        timestamp=at,
    )
    return built if event_id is None else built.replace(event_id=event_id)


class Sim:
    """One workflow driven through the hub's state machine, with a clock."""

    def __init__(self, definition: Mapping[str, Any], *, start: datetime = T0) -> None:
        self.now = start
        self.events: list[Event] = []
        self.state: WorkflowState
        self.state, created = wf.create(definition, now=start)
        self._keep(created)

    def _keep(self, events: Iterable[HubEvent]) -> list[Event]:
        out = [
            Event(
                event_type=e.event_type,
                workflow_id=e.workflow_id,
                phase=e.phase,
                data=dict(e.data),
                timestamp=self.now,
                source="coordination-hub",
            )
            for e in events
        ]
        self.events.extend(out)
        return out

    def do(self, operation: Any, **kwargs: Any) -> list[Event]:
        """Apply a state-machine operation now; its events, as bus events."""
        self.state, events = operation(self.state, now=self.now, **kwargs)
        return self._keep(events)

    def tick(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)

    def start(self, *agents: str) -> list[Event]:
        """Approve the allocation with ``agents``."""
        return self.do(
            wf.on_allocation, status="approved", allocation_id="alloc_1", agents=list(agents)
        )

    def complete(self, task_id: str, *, score: float | None = None) -> list[Event]:
        """The holder of ``task_id`` reports it completed."""
        task = self.state.tasks[task_id]
        assert task.agent_id is not None, f"{task_id} is {task.status}"
        return self.do(
            wf.on_task_completed,
            task_id=task_id,
            agent_id=task.agent_id,
            fencing_token=task.fencing_token,
            results={"ok": True},
            quality_score=score,
        )

    def in_flight(self) -> list[str]:
        """Tasks an agent holds now."""
        return [t.task_id for t in self.state.tasks.values() if t.in_flight]


def simulate(
    definition: Mapping[str, Any],
    durations: Mapping[str, float],
    *,
    agents: Iterable[str] = ("agent_1", "agent_2", "agent_3"),
    start: datetime = T0,
    scores: Mapping[str, float] | None = None,
) -> Sim:
    """Run a workflow to its end: each task completes ``durations[task]`` s after assignment."""
    sim = Sim(definition, start=start)
    due: list[tuple[datetime, int, str]] = []
    order = 0

    def schedule(events: list[Event]) -> None:
        nonlocal order
        for e in events:
            if e.event_type == "TASK_ASSIGNED":
                task_id = e.data["task_id"]
                heapq.heappush(
                    due, (sim.now + timedelta(seconds=durations[task_id]), order, task_id)
                )
                order += 1

    schedule(sim.start(*agents))
    while due and sim.state.status == "STARTED":
        at, _, task_id = heapq.heappop(due)
        sim.now = at
        schedule(sim.complete(task_id, score=(scores or {}).get(task_id, 1.0)))
    assert sim.state.status == "COMPLETED", sim.state.status
    return sim


def project(
    events: Iterable[Event], *, history: History | None = None, until: datetime | None = None
) -> WorkflowView:
    """The view after ``events`` (those up to ``until``), learning into ``history`` if given."""
    view: WorkflowView | None = None
    for e in events:
        if until is not None and e.timestamp > until:
            break
        view = apply(view, e)
        if history is not None and view is not None:
            observe(history, view=view, event=e)
    assert view is not None
    return view
