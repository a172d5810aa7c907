"""Test support for the hub: a recorder that checks every step it takes.

Each step checks what every test should hold: every event is registered in seed 001 or a
documented custom type, registered events carry their required fields (strict registry),
the state round-trips through JSON, and the version grows by exactly one per change (and
not at all when the caller's state comes back unchanged).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from baton.protocol.codec import format_line, parse_line
from baton.protocol.registry import EventRegistry
from baton_hub.definition import WorkflowDefinition
from baton_hub.events import CUSTOM_EVENT_TYPES, HubEvent
from baton_hub.state import WorkflowState
from baton_hub.transition import deep_copy
from baton_hub.workflow import create, on_allocation, on_task_completed, on_task_failed

__all__ = ["T0", "Operation", "Run", "check_events", "check_round_trip", "of_type", "types"]

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

_REGISTRY = EventRegistry()
_STRICT = EventRegistry(strict=True)

Operation = Callable[..., tuple[WorkflowState, list[HubEvent]]]


def check_events(events: Sequence[HubEvent]) -> None:
    """Registered or documented custom types; registered ones complete (strict check).

    Data must be plain JSON (the standard encoder refuses datetimes) and each event must
    make a valid protocol line that parses back to the same data.
    """
    for event in events:
        json.dumps(event.data)
        line = format_line(event.event_type, event.workflow_id, event.phase, event.data)
        assert parse_line(line).data == event.data
        registered = _REGISTRY.is_registered(event.event_type)
        assert registered or event.event_type in CUSTOM_EVENT_TYPES, event.event_type
        if registered:
            _STRICT.check(event.event_type, event.data)


def check_round_trip(state: WorkflowState) -> None:
    """The state survives ``model_dump(mode="json")`` → ``model_validate`` unchanged, and
    the transitions' copy of it equals it while sharing nothing mutable."""
    again = WorkflowState.model_validate(state.model_dump(mode="json"))
    assert again == state
    assert again.model_dump(mode="json") == state.model_dump(mode="json")
    copied = deep_copy(state)
    assert copied == state
    assert copied.model_fields_set == state.model_fields_set
    assert not _mutable_ids(copied) & _mutable_ids(state)


def _mutable_ids(value: Any) -> set[int]:
    """Ids of every model, dict and list reachable from ``value``."""
    found: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseModel):
            found.add(id(item))
            stack.extend(item.__dict__.values())
        elif isinstance(item, dict):
            found.add(id(item))
            stack.extend(item.values())
        elif isinstance(item, list):
            found.add(id(item))
            stack.extend(item)
    return found


def types(events: Sequence[HubEvent]) -> list[str]:
    """The event types, in order."""
    return [e.event_type for e in events]


def of_type(events: Sequence[HubEvent], event_type: str) -> list[HubEvent]:
    """The events of one type, in order."""
    return [e for e in events if e.event_type == event_type]


class Run:
    """One workflow driven step by step, with a clock, checking each step."""

    def __init__(self, definition: WorkflowDefinition | Mapping[str, Any]) -> None:
        self.now = T0
        self.state, events = create(definition, now=self.now)
        check_events(events)
        check_round_trip(self.state)
        self.log: list[HubEvent] = list(events)

    def do(self, operation: Operation, **kwargs: Any) -> list[HubEvent]:
        """Apply ``operation`` at the current time; returns its events."""
        before = self.state
        snapshot = before.model_dump(mode="json")
        state, events = operation(before, now=self.now, **kwargs)
        assert before.model_dump(mode="json") == snapshot, "the caller's state was modified"
        check_events(events)
        check_round_trip(state)
        if state is before:
            assert state.state_version == before.state_version
        else:
            assert state.state_version == before.state_version + 1
            assert state.updated_at == self.now
        self.state = state
        self.log.extend(events)
        return events

    def tick(self, **delta: float) -> None:
        """Move the clock forward (``minutes=5``...)."""
        self.now += timedelta(**delta)

    def start(self, *agents: str, allocation_id: str = "alloc_1") -> list[HubEvent]:
        """Approve the allocation with ``agents``."""
        return self.do(
            on_allocation, status="approved", allocation_id=allocation_id, agents=list(agents)
        )

    def holder(self, task_id: str) -> tuple[str, int]:
        """Agent and fencing token of an in-flight task."""
        task = self.state.tasks[task_id]
        assert task.agent_id is not None, f"{task_id} is {task.status}"
        return task.agent_id, task.fencing_token

    @property
    def workflow_status(self) -> str:
        """Status of the workflow (a plain str, so checks after each step type-check)."""
        return self.state.status

    def status(self, task_id: str) -> str:
        """Status of a task."""
        return self.state.tasks[task_id].status

    def complete(
        self, task_id: str, *, score: float | None = None, results: dict[str, Any] | None = None
    ) -> list[HubEvent]:
        """The holder of ``task_id`` reports it completed."""
        agent, token = self.holder(task_id)
        return self.do(
            on_task_completed,
            task_id=task_id,
            agent_id=agent,
            fencing_token=token,
            results=results if results is not None else {"done": task_id},
            quality_score=score,
        )

    def fail(self, task_id: str, reason: str = "tool crashed") -> list[HubEvent]:
        """The holder of ``task_id`` reports it failed."""
        agent, token = self.holder(task_id)
        return self.do(
            on_task_failed, task_id=task_id, agent_id=agent, fencing_token=token, reason=reason
        )
