"""What the allocator remembers and what it hands back.

:class:`AllocatorState` is everything the allocator knows; it round-trips exactly through
``model_dump(mode="json")`` and ``model_validate``, so the service can keep it in PostgreSQL
(JSONB) and recover it after a restart. Outcomes and events are plain values the service
turns into replies and bus events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.protocol.messages import (
    AllocatedResources,
    AllocationRequest,
    AllocationResponse,
    Identifier,
    Priority,
    Timestamp,
)

__all__ = [
    "STATE_VERSION",
    "Allocation",
    "AllocatorState",
    "Decision",
    "Outcome",
    "QueuedRequest",
    "ReleaseOutcome",
    "ResourceEvent",
    "SaturationHold",
]

STATE_VERSION = 1
"""Version of the persisted state layout."""


class _Record(BaseModel):
    # Records are values: a change makes a new one, so copies of the state can share them.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Allocation(_Record):
    """Resources held by a workflow."""

    allocation_id: Identifier
    """Id of the allocation (``alloc_…``)."""
    request_id: Identifier
    """Request it was granted for."""
    workflow_id: Identifier
    """Workflow holding it."""
    requester: str
    """Who asked for it."""
    priority: Priority
    """Priority of the request."""
    status: Literal["approved", "partial"]
    """Granted in full or in part."""
    resources: AllocatedResources
    """What is held."""
    shared_files: list[str] = Field(default_factory=list)
    """Exclusive files held together with another workflow (both accepted sharing)."""
    sharing: bool = False
    """Whether its files may be shared with another workflow that also accepts sharing."""
    allocated_at: Timestamp
    """When it was granted."""
    expected_end: Timestamp
    """When the holder expects to be done (allocated_at + duration, moved by renewals)."""
    lease_deadline: Timestamp
    """When it is released automatically unless renewed."""


class QueuedRequest(_Record):
    """A request waiting for resources."""

    request: AllocationRequest
    """The request as received."""
    queued_at: Timestamp
    """When it joined the queue (waiting time counts from here)."""
    seq: int = Field(ge=0)
    """Arrival number, breaks ties between equal effective priorities."""


class Decision(_Record):
    """The latest answer to a request, kept to answer a repeated request the same way."""

    response: AllocationResponse
    """The answer."""
    updated_at: Timestamp
    """When the request was last answered, granted, released or cancelled."""


class SaturationHold(_Record):
    """The monitor says the system is saturated: held priorities wait (module allocator)."""

    reason: str
    """Why, as the monitor's ``SYSTEM_SATURATION`` said."""
    since: Timestamp
    """When the resource manager learned of it."""


class AllocatorState(_Record):
    """Everything the allocator knows; persisted as JSON.

    The allocator changes its own copy (:meth:`copied`) in place; the records in it are
    shared between copies and never changed.
    """

    model_config = ConfigDict(frozen=False)

    version: int = STATE_VERSION
    """Layout version."""
    allocations: list[Allocation] = Field(default_factory=list)
    """Allocations held, oldest first."""
    queue: list[QueuedRequest] = Field(default_factory=list)
    """Requests waiting, in arrival order."""
    decisions: dict[str, Decision] = Field(default_factory=dict)
    """Request id → latest answer."""
    breached: list[str] = Field(default_factory=list)
    """Pools whose utilisation is at or above their threshold (already reported)."""
    next_seq: int = Field(default=0, ge=0)
    """Arrival number of the next queued request."""
    saturation: SaturationHold | None = None
    """Set while the system is saturated (admission of held priorities waits)."""

    def copied(self) -> AllocatorState:
        """A copy with lists and maps of its own, sharing the records (which never change):
        what the allocator changes, the original does not see, at the cost of the lists
        alone rather than of every request and answer in them."""
        return self.model_copy(
            update={
                "allocations": list(self.allocations),
                "queue": list(self.queue),
                "decisions": dict(self.decisions),
                "breached": list(self.breached),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceEvent:
    """A RESOURCE_* event to publish, as ``event_type:workflow_id:phase:data``."""

    event_type: str
    workflow_id: str
    phase: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """Result of a request.

    Attributes:
        response: The answer to the request.
        events: Events to publish, in order.
        granted: Other queued requests granted as a side effect (rare: only when the new
            request takes over the queue's reservation).
        reason: Why the request was denied or queued, for logs and error replies.
        repeated: True when the request id had been answered before (nothing changed).
    """

    response: AllocationResponse
    events: list[ResourceEvent] = field(default_factory=list)
    granted: list[AllocationResponse] = field(default_factory=list)
    reason: str | None = None
    repeated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseOutcome:
    """Result of a release, a cancellation or a lease expiry.

    Attributes:
        released: Allocation ids released.
        cancelled: Queued request ids removed.
        granted: Queued requests granted with the capacity that freed up.
        events: Events to publish, in order.
        saturation_changed: The saturation verdict held changed.
    """

    released: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    granted: list[AllocationResponse] = field(default_factory=list)
    events: list[ResourceEvent] = field(default_factory=list)
    saturation_changed: bool = False

    @property
    def changed(self) -> bool:
        """True when anything changed (the state needs saving)."""
        return bool(self.released or self.cancelled or self.granted or self.saturation_changed)

    @classmethod
    def joined(cls, outcomes: Sequence[ReleaseOutcome]) -> ReleaseOutcome:
        """Several outcomes, made one after another, as one (lists in their order)."""
        return cls(
            released=[a for o in outcomes for a in o.released],
            cancelled=[r for o in outcomes for r in o.cancelled],
            granted=[g for o in outcomes for g in o.granted],
            events=[e for o in outcomes for e in o.events],
            saturation_changed=any(o.saturation_changed for o in outcomes),
        )
