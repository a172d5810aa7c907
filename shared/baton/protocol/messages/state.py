"""Workflow state synchronisation (the protocol's "Workflow State Message", docs/protocol.md).

The state topic is compacted and keyed by workflow_id; ``state_version`` grows by one per
change, so a consumer detects a gap or a stale message by comparing versions.

Choices the protocol leaves open:

- ``current_phase.phase_id`` is an integer (the protocol's ``3``) or a string id.
- ``agent_states`` maps agent id → state; an agent's ``status`` is free text (the protocol shows
  ``active``) since agents report their own vocabulary.
- ``resource_usage`` units follow the protocol's example: memory and storage in GB, CPU in %.
- ``metadata`` is open: the protocol's three fields are typed, others are kept.
- A minimal message needs only ``workflow_id`` (version 0, no phase yet).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt

from baton.protocol.messages.base import (
    Identifier,
    Message,
    OpenMessage,
    Percent,
    Probability,
    Timestamp,
    utc_now,
)

__all__ = [
    "AgentState",
    "CurrentPhase",
    "ResourceUsage",
    "StateMetadata",
    "WorkflowState",
    "WorkflowStateMessage",
]


class CurrentPhase(Message):
    """The phase a workflow is in."""

    phase_id: int | Identifier
    """Number or id of the phase."""
    name: str
    """Name of the phase, e.g. implementation."""
    progress: Percent = 0
    """Progress of the phase in %."""
    started_at: Timestamp | None = None
    """When the phase started."""
    estimated_completion: Timestamp | None = None
    """When the phase is expected to finish."""


class AgentState(Message):
    """What one agent of the workflow is doing."""

    status: str = "active"
    """Agent status, e.g. active, idle, failed."""
    current_task: str | None = None
    """Task the agent works on."""
    progress: Percent = 0
    """Progress of the current task in %."""
    performance_score: Percent | None = None
    """Performance score, 0..100."""


class ResourceUsage(Message):
    """Resources the workflow uses right now."""

    memory_current: NonNegativeFloat = 0
    """Memory in use (GB)."""
    cpu_utilization: Percent = 0
    """CPU utilisation in %."""
    storage_used: NonNegativeFloat = 0
    """Storage in use (GB)."""


class StateMetadata(OpenMessage):
    """Where the state came from and how much to trust it (extra fields kept)."""

    last_update_source: str | None = None
    """Component that made the last change."""
    synchronization_confidence: Probability = 1.0
    """Confidence that the state is in sync, 0..1."""
    conflict_detected: bool = False
    """Whether a version conflict was detected."""


class WorkflowState(Message):
    """A versioned snapshot of one workflow's state."""

    message_type: Literal["state_sync"] = "state_sync"
    """Always ``state_sync``."""
    workflow_id: Identifier
    """The workflow."""
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When this state was produced."""
    state_version: NonNegativeInt = 0
    """Version of the state; grows by one per change."""
    checkpoint_id: Identifier | None = None
    """Latest checkpoint of the workflow."""
    current_phase: CurrentPhase | None = None
    """The phase the workflow is in."""
    agent_states: dict[str, AgentState] = Field(default_factory=dict)
    """Agent id → its state."""
    resource_usage: ResourceUsage = Field(default_factory=ResourceUsage)
    """Resources in use."""
    validation_required: list[str] = Field(default_factory=list)
    """Checks a receiver must run, e.g. state_integrity."""
    metadata: StateMetadata = Field(default_factory=StateMetadata)
    """Provenance of the state."""


class WorkflowStateMessage(Message):
    """Envelope ``{"workflow_state": {...}}``."""

    workflow_state: WorkflowState
    """The workflow state."""
