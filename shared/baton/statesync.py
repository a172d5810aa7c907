"""Versioned state sync: detect stale and gapped versions, resolve by rule.

Each workflow's state travels on the compacted state topic as full snapshots whose
``state_version`` grows by exactly one per change (the hub is the single writer of a
workflow). A consumer compares each incoming version with the one it holds:

- ``ok``: the next version — apply it.
- ``stale``: not newer (a redelivery, or an older copy) — ignore it, count a conflict.
- ``gap``: versions were skipped (the consumer missed messages) — apply it anyway, since a
  snapshot is complete, count a conflict, and report which versions are missing so the
  caller can re-read the events between.

A consumer that holds nothing yet (0) accepts any version as ``ok``: compaction keeps only
the latest snapshot of each workflow, so a newcomer's first version is rarely 1.
Nothing is ever silently overwritten: every stale or gap is recorded in ``conflicts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Conflict", "ConflictKind", "StateTracker", "detect_conflict"]

ConflictKind = Literal["ok", "stale", "gap"]


def detect_conflict(*, current_version: int, incoming_version: int) -> ConflictKind:
    """Classify ``incoming_version`` against ``current_version`` (0: nothing held)."""
    if current_version and incoming_version <= current_version:
        return "stale"
    if current_version and incoming_version > current_version + 1:
        return "gap"
    return "ok"


@dataclass(frozen=True, slots=True)
class Conflict:
    """One detected conflict."""

    workflow_id: str
    kind: ConflictKind
    held: int
    incoming: int

    @property
    def missing(self) -> range:
        """Versions never seen (for a gap)."""
        return range(self.held + 1, self.incoming) if self.kind == "gap" else range(0)


@dataclass
class StateTracker:
    """The latest snapshot of each workflow, kept by the rule above."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    def apply(self, *, workflow_id: str, version: int, state: dict[str, Any]) -> ConflictKind:
        """Offer one snapshot; returns how it was classified."""
        held = self.versions.get(workflow_id, 0)
        kind = detect_conflict(current_version=held, incoming_version=version)
        if kind != "ok":
            self.conflicts.append(Conflict(workflow_id, kind, held, version))
        if kind != "stale":
            self.versions[workflow_id] = version
            self.states[workflow_id] = state
        return kind
