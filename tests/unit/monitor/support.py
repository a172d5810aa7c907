"""Test support for the monitor: a fixed clock and events stamped at chosen times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from baton.protocol.event import Event
from baton.protocol.registry import EventRegistry

__all__ = ["STRICT", "T0", "at", "event", "publishable"]

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
"""A minute boundary, so windows of 60 s and 300 s start on it."""

STRICT = EventRegistry(strict=True)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def event(
    event_type: str,
    workflow_id: str = "global",
    phase: str = "global",
    *,
    sent: float = 0.0,
    source: str = "",
    **data: Any,
) -> Event:
    """An event published at ``at(sent)``."""
    return Event(
        event_type=event_type,
        workflow_id=workflow_id,
        phase=phase,
        data=data,
        timestamp=at(sent),
        source=source,
    )


def publishable(event_type: str, workflow_id: str, phase: str, data: dict[str, Any]) -> bool:
    """True when the event makes a valid wire line carrying every registered field."""
    line = Event(event_type=event_type, workflow_id=workflow_id, phase=phase, data=data).line
    parsed = Event.parse(line)
    return parsed.data == data and STRICT.check(parsed.event_type, parsed.data) == ()
