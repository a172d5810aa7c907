"""Resource allocation request and response (the protocol's "Resource Allocation Schema",
docs/protocol.md).

Choices the protocol leaves open:

- ``tool_instances`` is an open map tool name → count (the protocol's bash, file_ops, search and
  web are examples, not a closed list).
- ``requester`` is a component or agent id (the protocol's ``coordination-hub|subagents|other``
  are examples); it defaults to ``other``.
- A minimal request needs only ``workflow_id``: one agent for one hour at medium priority,
  no wait constraint beyond ``10m``, queued when unavailable.
- A response needs ``request_id`` and ``status``; ``allocated_resources`` is absent when
  nothing was allocated (``denied``, ``queued``). ``queue_position`` and
  ``estimated_start`` (not in the protocol's response, but in ``WORKFLOW_QUEUED``)
  tell a queued requester where it stands.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, StringConstraints

from baton.protocol.messages.base import (
    Duration,
    Identifier,
    Message,
    OpenMessage,
    Priority,
    Timestamp,
    new_id,
    utc_now,
)

__all__ = [
    "AllocatedResources",
    "AllocationAlternative",
    "AllocationConstraints",
    "AllocationRequest",
    "AllocationRequestMessage",
    "AllocationResponse",
    "AllocationResponseMessage",
    "AllocationRestrictions",
    "AllocationStatus",
    "FallbackOptions",
    "ResourceRequest",
    "TimeWindow",
]

TimeWindow = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$")]
"""A daily time window ``HH:MM-HH:MM``."""

AllocationStatus = Literal["approved", "denied", "queued", "partial"]
"""Outcome of an allocation request."""


class ResourceRequest(Message):
    """Resources asked for."""

    agents: NonNegativeInt = 1
    """Number of agents."""
    memory_gb: NonNegativeFloat = 0
    """Memory in GB."""
    cpu_cores: NonNegativeFloat = 0
    """CPU cores (fractions allowed)."""
    duration_hours: NonNegativeFloat = 1.0
    """How long the resources are needed, in hours."""
    exclusive_files: list[str] = Field(default_factory=list)
    """Files that must not be shared with another workflow."""
    tool_instances: dict[str, NonNegativeInt] = Field(default_factory=dict)
    """Tool name → number of instances (e.g. bash, file_ops, search, web)."""


class AllocationConstraints(Message):
    """Limits the requester puts on how it may be served."""

    max_wait_time: Duration = "10m"
    """Longest acceptable wait in the queue."""
    min_performance: str = "standard"
    """Lowest acceptable performance class."""
    conflict_tolerance: Literal["none", "low", "medium", "high"] = "low"
    """How much sharing with conflicting requests is acceptable."""
    isolation_level: Literal["strict", "moderate", "relaxed"] = "moderate"
    """How strongly the resources must be isolated."""


class FallbackOptions(Message):
    """What the resource manager may do when the request cannot be met in full."""

    reduce_agents: bool = False
    """Accept fewer agents."""
    extend_duration: bool = False
    """Accept a longer duration."""
    accept_shared_resources: bool = False
    """Accept shared instead of exclusive resources."""
    queue_if_unavailable: bool = True
    """Wait in the queue rather than be denied."""


class AllocationRequest(Message):
    """A request for resources on behalf of a workflow."""

    request_id: Identifier = Field(default_factory=lambda: new_id("req"))
    """Unique id of the request (``req_<uuid>``)."""
    workflow_id: Identifier
    """Workflow the resources are for."""
    requester: str = "other"
    """Component or agent asking (e.g. coordination-hub, subagents)."""
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When the request was made."""
    priority: Priority = "medium"
    """Priority of the request."""
    resources: ResourceRequest = Field(default_factory=ResourceRequest)
    """The resources asked for."""
    constraints: AllocationConstraints = Field(default_factory=AllocationConstraints)
    """Limits on how the request may be served."""
    fallback_options: FallbackOptions = Field(default_factory=FallbackOptions)
    """What may be done when it cannot be met in full."""


class AllocationRequestMessage(Message):
    """Envelope ``{"allocation_request": {...}}``."""

    allocation_request: AllocationRequest
    """The allocation request."""


class AllocatedResources(ResourceRequest):
    """Resources granted."""

    allocation_id: Identifier = Field(default_factory=lambda: new_id("alloc"))
    """Id of the allocation, used to release it."""


class AllocationRestrictions(Message):
    """Conditions attached to an allocation."""

    monitoring_required: bool = False
    """Whether usage is monitored."""
    performance_limits: dict[str, str | float] = Field(default_factory=dict)
    """Limit name → value (e.g. memory_per_agent: 2.5GB)."""
    auto_release_timeout: Duration | None = None
    """Released automatically after this long."""
    exclusive_access_windows: list[TimeWindow] = Field(default_factory=list)
    """Time windows ``HH:MM-HH:MM`` of exclusive access."""


class AllocationAlternative(OpenMessage):
    """Another way the request could be served (free-form extras allowed)."""

    option: str
    """Kind of alternative, e.g. delayed_allocation."""
    available_at: Timestamp | None = None
    """When it becomes available."""
    full_resources: bool = False
    """Whether it grants everything requested."""


class AllocationResponse(Message):
    """The resource manager's answer to an allocation request."""

    response_id: Identifier = Field(default_factory=lambda: new_id("resp"))
    """Unique id of the response (``resp_<uuid>``)."""
    request_id: Identifier
    """Id of the request answered."""
    status: AllocationStatus
    """approved, denied, queued or partial."""
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When the response was made."""
    allocated_resources: AllocatedResources | None = None
    """What was granted (absent when nothing was)."""
    restrictions: AllocationRestrictions = Field(default_factory=AllocationRestrictions)
    """Conditions attached to the allocation."""
    alternatives: list[AllocationAlternative] = Field(default_factory=list)
    """Other ways the request could be served."""
    queue_position: NonNegativeInt | None = None
    """Position in the queue when ``queued`` (1 = next)."""
    estimated_start: Duration | None = None
    """Estimated wait before a queued request is served."""


class AllocationResponseMessage(Message):
    """Envelope ``{"allocation_response": {...}}``."""

    allocation_response: AllocationResponse
    """The allocation response."""
