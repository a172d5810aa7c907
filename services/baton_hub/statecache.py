"""The states a hub replica last saw committed, so that a batch can skip reading them.

A batch of events is applied in two round trips (:mod:`baton_hub.recording`): the ledger
and the states read, then one statement that writes everything only if the ledger has none
of the events yet and every workflow is still at the version it was read at. That check
does not care where the states came from: taken from here instead of read, a batch costs
one round trip, and a state that is no longer the stored one (another replica or a command
changed it, a rebalance moved the partition away and back) makes the write fail as a
conflict, after which the batch is read and applied again as before.

What makes that safe is that a workflow's version is committed once with one content (the
write only ever moves a row from the version it read to the next). So only committed
states enter, and an entry is trusted for a short time only and never for a finished
workflow: retention deletes finished rows, and a workflow created again under the same id
could reach a cached version with other content.

Bounded: at most ``capacity`` entries, the least recently stored go first. It holds the
workflows this replica is working on, not its history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final

from baton.expiring import ExpiringCache
from baton_hub.state import TERMINAL, WorkflowState

__all__ = ["StateCache"]

DEFAULT_CAPACITY: Final = 1024
"""Entries kept: well above the workflows in flight of one replica."""
DEFAULT_MAX_AGE_S: Final = 30.0
"""Seconds an entry is trusted after it was stored."""


class StateCache:
    """Committed workflow states by id (an :class:`~baton.expiring.ExpiringCache`), taken
    all or none for a batch.

    Args:
        capacity: Most entries kept.
        max_age: Seconds an entry is trusted.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_age: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or max_age <= 0:
            raise ValueError("a state cache needs capacity >= 1 and max_age > 0")
        self._entries: ExpiringCache[WorkflowState] = ExpiringCache(
            size=capacity, ttl=max_age, clock=clock
        )
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, workflow_ids: Iterable[str]) -> dict[str, WorkflowState] | None:
        """The states of all of ``workflow_ids`` (a new dict), or None when any is missing
        or too old: then the batch reads them all."""
        found: dict[str, WorkflowState] = {}
        for workflow_id in workflow_ids:
            state = self._entries.get(workflow_id)
            if state is None:
                self.misses += 1
                return None
            found[workflow_id] = state
        self.hits += 1
        return found

    def get(self, workflow_id: str) -> WorkflowState | None:
        """The committed state of ``workflow_id`` if it is kept and fresh (not counted as a
        batch)."""
        return self._entries.get(workflow_id)

    def keep(self, states: Iterable[WorkflowState]) -> None:
        """Store states just read or written (committed); a finished one is dropped."""
        for state in states:
            if state.status in TERMINAL:
                self._entries.pop(state.workflow_id)
            else:
                self._entries.put(state.workflow_id, state)

    def forget(self, workflow_ids: Iterable[str]) -> None:
        """Drop the entries of ``workflow_ids`` (changed elsewhere, or in doubt)."""
        for workflow_id in workflow_ids:
            self._entries.pop(workflow_id)
