"""One transition in the making: a private copy of the state, the events, the time.

Every public operation opens a :class:`Transition`, changes ``tx.state`` (a deep copy, so
the caller's state is never touched), emits events and commits: the version grows by
exactly one and ``updated_at`` becomes ``now``. An operation that ends up changing nothing
returns the caller's state and no events instead.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from baton_hub.errors import InvalidTransition
from baton_hub.events import HubEvent
from baton_hub.state import WorkflowState

__all__ = ["Outcome", "Transition", "deep_copy", "utc"]

M = TypeVar("M", bound=BaseModel)
_IMMUTABLE = frozenset({str, int, float, bool, type(None), datetime, date, time, timedelta})

Outcome = tuple[WorkflowState, list[HubEvent]]
"""What every operation returns: the new state and the events to publish, in order."""


def deep_copy(model: M) -> M:
    """``model.model_copy(deep=True)``, ~3x faster for the hub's JSON-like models.

    ``copy.deepcopy`` keeps a memo of every object and copies immutable leaves through
    ``__deepcopy__`` lookups: half a millisecond per state, on every transition. This walks
    models, dicts and lists, shares immutable leaves, and falls back to ``copy.deepcopy``
    for any other value. Shared references inside one state are not preserved (the hub's
    states have none: they round-trip through JSON).
    """
    return _copy_model(model)


def _copy_model(model: M) -> M:
    cls = type(model)
    new = cls.__new__(cls)
    fields = {k: v if type(v) in _IMMUTABLE else _copy(v) for k, v in model.__dict__.items()}
    object.__setattr__(new, "__dict__", fields)
    object.__setattr__(new, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))
    for slot in ("__pydantic_extra__", "__pydantic_private__"):  # None unless configured
        value = getattr(model, slot)
        object.__setattr__(new, slot, None if value is None else copy.deepcopy(value))
    return new


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:  # leaves inline: a call per value would double the cost
        return {k: v if type(v) in _IMMUTABLE else _copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else _copy(v) for v in value]
    if isinstance(value, BaseModel):
        return _copy_model(value)
    return copy.deepcopy(value)


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
        self.state = deep_copy(state)
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
