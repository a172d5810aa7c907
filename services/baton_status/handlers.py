"""Projecting every event into the read model, exactly once in effect.

Each event is one transaction: its id goes into the idempotency ledger and the workflow's
row is locked, in one round trip that reads only the row's version; the view itself is
read only when this replica holds no copy of that version (after a start, or when the
workflow's partition was another replica's). The pure projection updates the view, which
is written back with its list line and summary columns under a new version; then, when the
event concerns them, the history of the workflow's type and the system view, the same way.
A restart, a rebalance or a replay from the beginning therefore never counts an event
twice, and two replicas that both hold a partition for a moment (one handing it over)
write one after the other, each building on the other's row.

Copies live in :class:`~baton_status.memory.Memory`: the writer takes the copy it changes
out of it and puts the result back once committed, so readers never see a change that is
not committed, and a failed transaction leaves nothing behind. Every replica hears the
commit (``NOTIFY``) and sends the change to its live stream (:mod:`baton_status.changes`).

The resource manager's state sync (``RESOURCE_STATE``) replaces the system view's pools
when it is the newest state (:func:`baton_status.system.apply_resource_state`): its version
makes applying it twice, late or out of order harmless, so it needs no ledger entry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from baton.db import Database
from baton.protocol.event import Event
from baton.protocol.messages import RESOURCE_STATE_EVENT, ResourceStateMessage, validate_model
from baton_status.history import History, observe
from baton_status.memory import SYSTEM, Memory, current
from baton_status.projection import apply
from baton_status.render import summary
from baton_status.store import StatusStore
from baton_status.system import SYSTEM_TYPES, apply_resource_state, apply_system
from baton_status.views import SystemView, WorkflowView

__all__ = ["ReadModel", "line"]

_LEARNING: Final = frozenset({"PHASE_COMPLETED", "WORKFLOW_COMPLETED"})
_NO_HISTORY: Final = History()


def line(view: WorkflowView) -> dict[str, Any]:
    """The list line stored with a view (JSON-ready).

    Exact for an ended workflow, whose line no longer depends on the clock or the history;
    an open one's is rendered again from its view when read.
    """
    return summary(view, history=_NO_HISTORY, now=datetime.now(UTC)).model_dump(mode="json")


class ReadModel:
    """The writing side of the read model (see the module doc).

    Args:
        db: The database.
        store: Its tables.
        memory: This replica's copies, shared with its readers.
    """

    def __init__(self, *, db: Database, store: StatusStore, memory: Memory) -> None:
        self.db = db
        self.store = store
        self.memory = memory

    async def on_event(self, event: Event) -> None:
        """Apply one event (subscribed to ``#`` on the events topic)."""
        if event.event_type == RESOURCE_STATE_EVENT:
            await self.on_resource_state(event)
            return
        kept: list[tuple[Any, str, int, Any]] = []  # (cache, key, version, value) to keep
        async with self.db.transaction() as conn:
            row = await self.store.first_and_version(
                conn, event_id=event.event_id, workflow_id=event.workflow_id
            )  # ("global" has no row)
            if not row.first:
                return
            if event.workflow_id != "global":
                view = apply(await self._view(conn, event.workflow_id, row.version), event)
                if view is not None:
                    version = await self.store.save_view(conn, view, summary=line(view))
                    kept.append((self.memory.views, view.workflow_id, version, view))
                    if event.event_type in _LEARNING:
                        kept.append(await self._learn(conn, view, event))
            if event.event_type in SYSTEM_TYPES:
                version, system = await self._system(conn)
                apply_system(system, event)
                version = await self.store.save_singleton(
                    conn, SYSTEM, system.model_dump(mode="json")
                )
                kept.append((self.memory.system, SYSTEM, version, system))
        for cache, key, version, value in kept:
            cache.put(key, version, value)

    async def _view(self, conn: Any, workflow_id: str, version: int | None) -> WorkflowView | None:
        """The view at ``version`` (the row is locked): this replica's copy, else read."""
        if version is None:
            return None
        held = self.memory.views.take(workflow_id, version=version)
        return held if held is not None else await self.store.view(conn, workflow_id)

    async def _learn(
        self, conn: Any, view: WorkflowView, event: Event
    ) -> tuple[Any, str, int, History]:
        """Learn from ``event`` into the history of the view's type (its row locked)."""
        kind = view.workflow_type

        async def read(known: int | None) -> Any:
            return await self.store.history(conn, kind, known=known)

        _, history = await current(
            self.memory.histories, kind, read=read, parse=History.model_validate, take=True
        )
        learned = observe(history or History(), view=view, event=event)
        version = await self.store.save_history(conn, kind, learned)
        return self.memory.histories, kind, version, learned

    async def _system(self, conn: Any) -> tuple[int | None, SystemView]:
        """The system view, locked until the transaction ends."""

        async def read(known: int | None) -> Any:
            return await self.store.singleton(conn, SYSTEM, known=known, lock=True)

        version, system = await current(
            self.memory.system, SYSTEM, read=read, parse=SystemView.model_validate, take=True
        )
        return version, system or SystemView()

    async def on_resource_state(self, event: Event) -> None:
        """The resource manager's state sync: its pools, when the newest state."""
        state = validate_model(ResourceStateMessage, event.data).resource_state
        async with self.db.transaction() as conn:
            version, system = await self._system(conn)
            if not apply_resource_state(system, state):
                if version is not None:  # unchanged: the copy goes back as it was
                    self.memory.system.put(SYSTEM, version, system)
                return
            version = await self.store.save_singleton(conn, SYSTEM, system.model_dump(mode="json"))
        self.memory.system.put(SYSTEM, version, system)
