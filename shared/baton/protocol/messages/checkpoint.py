"""Checkpoint synchronisation (the protocol's "Checkpoint Synchronization", docs/protocol.md).

Choices the protocol leaves open:

- Hashes are strings ``<algorithm>:<hex>`` (the protocol writes ``sha256:abc123...``); each one
  is optional, since not every checkpoint covers files or agents.
- Validation results default to ``unknown``; a minimal message needs only ``workflow_id``
  (an ``incremental``, ``automatic`` checkpoint with a fresh ``ckpt_<uuid>`` id).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, StringConstraints

from baton.protocol.messages.base import Identifier, Message, Timestamp, new_id, utc_now

__all__ = [
    "CheckResult",
    "CheckpointSync",
    "CheckpointSyncMessage",
    "CheckpointType",
    "Hash",
    "StateSnapshot",
    "StorageMetadata",
    "ValidationResults",
]

CheckpointType = Literal["phase_complete", "incremental", "emergency", "manual"]
"""Why a checkpoint was taken."""

CheckResult = Literal["passed", "failed", "unknown"]
"""Result of one validation of a checkpoint."""

Hash = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+:\S+$", max_length=256)]
"""A content hash ``<algorithm>:<digest>``, e.g. ``sha256:9f86d0…``."""


class StateSnapshot(Message):
    """Hashes of the parts of the state the checkpoint covers."""

    workflow_state_hash: Hash | None = None
    """Hash of the workflow state."""
    file_system_hash: Hash | None = None
    """Hash of the files."""
    agent_state_hash: Hash | None = None
    """Hash of the agents' state."""
    resource_state_hash: Hash | None = None
    """Hash of the resource state."""


class ValidationResults(Message):
    """Checks run on the checkpoint."""

    integrity_check: CheckResult = "unknown"
    """Hashes match the stored state."""
    dependency_validation: CheckResult = "unknown"
    """Dependencies are consistent."""
    resource_consistency: CheckResult = "unknown"
    """Resources are consistent."""


class StorageMetadata(Message):
    """Where and how the checkpoint is stored."""

    size_bytes: NonNegativeInt = 0
    """Stored size in bytes."""
    compression_ratio: NonNegativeFloat = 1.0
    """Stored size / original size."""
    storage_location: str | None = None
    """Where the checkpoint is stored."""
    backup_locations: list[str] = Field(default_factory=list)
    """Other copies."""


class CheckpointSync(Message):
    """Announces a checkpoint of a workflow."""

    message_type: Literal["checkpoint_update"] = "checkpoint_update"
    """Always ``checkpoint_update``."""
    workflow_id: Identifier
    """The workflow."""
    checkpoint_id: Identifier = Field(default_factory=lambda: new_id("ckpt"))
    """Id of the checkpoint (``ckpt_<uuid>``)."""
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When the checkpoint was taken."""
    checkpoint_type: CheckpointType = "incremental"
    """phase_complete, incremental, emergency or manual."""
    trigger: Literal["automatic", "manual", "failure_prevention"] = "automatic"
    """What caused the checkpoint."""
    state_snapshot: StateSnapshot = Field(default_factory=StateSnapshot)
    """Hashes of the covered state."""
    validation_results: ValidationResults = Field(default_factory=ValidationResults)
    """Checks run on it."""
    storage_metadata: StorageMetadata = Field(default_factory=StorageMetadata)
    """Where and how it is stored."""


class CheckpointSyncMessage(Message):
    """Envelope ``{"checkpoint_sync": {...}}``."""

    checkpoint_sync: CheckpointSync
    """The checkpoint announcement."""
