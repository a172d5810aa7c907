"""Helpers shared by the resource manager's unit tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.protocol.event import Event
from baton.protocol.messages import AllocationRequest, Priority
from baton.protocol.registry import EventRegistry
from baton_resource.allocator import Allocator
from baton_resource.pools import ResourcePools
from baton_resource.records import ResourceEvent

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
"""Start of every test's clock."""


def at(minutes: float) -> datetime:
    """``minutes`` after :data:`T0`."""
    return T0 + timedelta(minutes=minutes)


def pools(agents: int = 4, **extra: Any) -> ResourcePools:
    """Pools with ``agents`` agents and roomy memory, CPU and tools unless overridden."""
    values: dict[str, Any] = {
        "agents": agents,
        "memory_gb": 64,
        "cpu_cores": 32,
        "tool_instances": {"bash": 8, "web": 2},
    }
    values.update(extra)
    return ResourcePools.model_validate(values)


def make(
    request_id: str,
    workflow_id: str,
    *,
    agents: int = 1,
    priority: Priority = "medium",
    hours: float = 1.0,
    memory_gb: float = 0,
    cpu_cores: float = 0,
    files: list[str] | None = None,
    tools: dict[str, int] | None = None,
    max_wait: str = "100h",
    reduce_agents: bool = False,
    extend_duration: bool = False,
    shared: bool = False,
    queue: bool = True,
) -> AllocationRequest:
    """An allocation request; ``shared`` sets every flag that lets its files be shared."""
    return AllocationRequest.model_validate(
        {
            "request_id": request_id,
            "workflow_id": workflow_id,
            "requester": "coordination-hub",
            "timestamp": T0,
            "priority": priority,
            "resources": {
                "agents": agents,
                "memory_gb": memory_gb,
                "cpu_cores": cpu_cores,
                "duration_hours": hours,
                "exclusive_files": files or [],
                "tool_instances": tools or {},
            },
            "constraints": {
                "max_wait_time": max_wait,
                "conflict_tolerance": "medium" if shared else "none",
                "isolation_level": "relaxed" if shared else "strict",
            },
            "fallback_options": {
                "reduce_agents": reduce_agents,
                "extend_duration": extend_duration,
                "accept_shared_resources": shared,
                "queue_if_unavailable": queue,
            },
        }
    )


def allocator(agents: int = 4, **options: Any) -> Allocator:
    """An empty allocator over :func:`pools` with ``agents`` agents."""
    return Allocator(pools=pools(agents), **options)


def event_types(events: Any) -> list[str]:
    """The event types of a list of resource events."""
    return [e.event_type for e in events]


_STRICT = EventRegistry(strict=True)


def assert_publishable(events: Iterable[ResourceEvent]) -> None:
    """Every event makes a valid wire line carrying every field the registry requires."""
    for event in events:
        line = Event(
            event_type=event.event_type,
            workflow_id=event.workflow_id,
            phase=event.phase,
            data=event.data,
        ).line
        parsed = Event.parse(line)
        assert parsed.data == event.data
        assert _STRICT.check(parsed.event_type, parsed.data) == ()
