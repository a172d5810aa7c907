"""The resource manager's state sync: what its pools hold, versioned (Baton's own message).

The resource manager keeps one state (a single row, locked by every change), whose version
grows by one per change. After each change, in the same transaction, and when it starts, it
publishes that state's pool figures as the event
``RESOURCE_STATE:global:global:{"resource_state": {...}}`` (workflow ``global``, so one
partition, in version order). It is the one source of pool figures for other services: the
status service's system overview shows exactly these, the newest version winning, so a
repeated, late or replayed one changes nothing.

Only pool figures and counts travel (a few numbers per pool), never the allocation list or
the queue, so the event stays small however busy the pools are.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt

from baton.protocol.messages.base import Message, Timestamp, utc_now

__all__ = [
    "RESOURCE_STATE_EVENT",
    "RESOURCE_STATE_KEY",
    "PoolFigures",
    "ResourceState",
    "ResourceStateMessage",
]

RESOURCE_STATE_EVENT: Final = "RESOURCE_STATE"
"""Event type of the resource manager's state-sync line."""
RESOURCE_STATE_KEY: Final = "global"
"""Its workflow_id (so its record key) and its phase: system-wide, one partition."""


class PoolFigures(Message):
    """One pool as the resource manager holds it."""

    capacity: NonNegativeFloat
    """Size of the pool (agents, GB, cores, tool instances)."""
    used: NonNegativeFloat
    """Held by live allocations."""
    free: NonNegativeFloat
    """Capacity minus used, never below 0."""
    utilisation: NonNegativeFloat
    """Used over capacity in % (0 for an empty pool)."""


class ResourceState(Message):
    """A versioned snapshot of the resource manager's pools."""

    message_type: Literal["resource_state"] = "resource_state"
    """Always ``resource_state``."""
    state_version: NonNegativeInt
    """Version of the resource manager's state; grows by one per change."""
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When this state was published."""
    pools: dict[str, PoolFigures] = Field(default_factory=dict)
    """Pool name (``agents``, ``memory_gb``, ``cpu_cores``, ``tool_instances.<tool>``) →
    figures."""
    allocations: NonNegativeInt = 0
    """Live allocations."""
    queued: NonNegativeInt = 0
    """Requests waiting in the queue."""


class ResourceStateMessage(Message):
    """Envelope ``{"resource_state": {...}}``."""

    resource_state: ResourceState
    """The resource manager's state."""
