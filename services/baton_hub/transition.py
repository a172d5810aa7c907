"""One transition in the making: a private copy of the state, the events, the time.

Every public operation opens a :class:`Transition`, changes ``tx.state`` (a deep copy, so
the caller's state is never touched), emits events and commits: the version grows by
exactly one and ``updated_at`` becomes ``now``. An operation that ends up changing nothing
returns the caller's state and no events instead.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from baton_hub.errors import InvalidTransition
from baton_hub.events import HubEvent
from baton_hub.state import WorkflowState

__all__ = ["Outcome", "Transition", "utc"]

Outcome = tuple[WorkflowState, list[HubEvent]]
"""What every operation returns: the new state and the events to publish, in order."""


def utc(now: datetime) -> datetime:
    """``now`` in UTC (a naive time is taken as UTC)."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


class Transition:
    """A state change under construction.

    Args:
        state: The current state (left untouched).
        now: The time of the change.
        operation: Name of the operation, for errors.
    """

    __slots__ = ("events", "now", "operation", "original", "state")

    def __init__(self, state: WorkflowState, *, now: datetime, operation: str) -> None:
        self.original = state
        self.state = state.model_copy(deep=True)
        self.now = utc(now)
        self.operation = operation
        self.events: list[HubEvent] = []

    def require(self, allowed: Collection[str], *, detail: str = "") -> None:
        """Raise :class:`InvalidTransition` unless the status is one of ``allowed``."""
        status = self.state.status
        if status not in allowed:
            why = detail or f"allowed from {', '.join(sorted(allowed))}"
            raise InvalidTransition(
                f"cannot {self.operation} workflow {self.state.workflow_id}: "
                f"it is {status} ({why})",
                workflow_id=self.state.workflow_id,
                status=status,
                operation=self.operation,
            )

    def emit(self, event_type: str, data: dict[str, Any], *, phase: str | None = None) -> None:
        """Append an event; ``phase`` defaults to the current phase's name."""
        self.events.append(
            HubEvent(
                event_type=event_type,
                workflow_id=self.state.workflow_id,
                phase=phase or self.state.phase_name,
                data=data,
            )
        )

    def commit(self) -> Outcome:
        """The new state (version + 1) and the events."""
        self.state.state_version += 1
        self.state.updated_at = self.now
        return self.state, self.events

    def unchanged(self, *events: HubEvent) -> Outcome:
        """The caller's state as it was, with ``events`` (e.g. a rejection notice)."""
        return self.original, list(events)
