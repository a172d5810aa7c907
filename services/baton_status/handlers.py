"""Projecting every event into the read model, exactly once in effect.

Each event is one transaction: its id goes into the idempotency ledger and the workflow's
view is read with a row lock, in one round trip (then, when the event concerns them, the
system view and the duration history), updated by the pure projection and written back. A
restart, a rebalance or a replay from the beginning therefore never counts an event twice.
After the commit the new views replace the in-memory copies the API serves, and changes go
to the live stream.

The system view and the history are versioned rows: the lock reads only the version when it
is the one last written from here, and the value in memory is used (and updated in place);
another writer's change (a second replica) or a failed transaction makes it read the value
again. A failed transaction's change may show in the API until the next such read.

The resource manager's state sync (``RESOURCE_STATE``) replaces the system view's pools
when it is the newest state (:func:`baton_status.system.apply_resource_state`): its version
makes applying it twice, late or out of order harmless, so it needs no ledger entry.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from baton.db import Database
from baton.protocol.event import Event
from baton.protocol.messages import RESOURCE_STATE_EVENT, ResourceStateMessage, validate_model
from baton_status.api_models import Overview, WorkflowDetail, WorkflowSummary
from baton_status.history import History, observe
from baton_status.projection import apply
from baton_status.render import detail, overview, summary
from baton_status.store import StatusStore
from baton_status.stream import Broadcaster
from baton_status.system import SYSTEM_TYPES, apply_resource_state, apply_system
from baton_status.views import SystemView, WorkflowView

__all__ = ["ReadModel"]

_LEARNING = frozenset({"PHASE_COMPLETED", "WORKFLOW_COMPLETED"})

M = TypeVar("M", bound=BaseModel)


def _now() -> datetime:
    return datetime.now(UTC)


class ReadModel:
    """The read model: PostgreSQL is the truth, memory holds what the API serves."""

    def __init__(self, *, db: Database, stream: Broadcaster) -> None:
        self.db = db
        self.stream = stream
        self.store = StatusStore()
        self.views: dict[str, WorkflowView] = {}
        self.system = SystemView()
        self.history = History()
        self._versions: dict[str, int] = {}
        """Singleton name → version of the value in memory (module doc)."""
        self._failures = 0

    async def load(self) -> None:
        """Fill memory from the database (at start)."""
        async with self.db.connection() as conn:
            self.views = {v.workflow_id: v for v in await self.store.all_views(conn)}
            self.system = await self._read(conn, "system", self.system, SystemView)
            self.history = await self._read(conn, "history", self.history, History)

    async def on_event(self, event: Event) -> None:
        """Apply one event (subscribed to ``#`` on the events topic)."""
        if event.event_type == RESOURCE_STATE_EVENT:
            await self.on_resource_state(event)
            return
        view: WorkflowView | None = None
        system: SystemView | None = None
        history: History | None = None
        versions: dict[str, int] = {}
        try:
            async with self.db.transaction() as conn:
                first, current = await self.store.first_and_view(
                    conn, event_id=event.event_id, workflow_id=event.workflow_id
                )  # ("global" has no view row)
                if not first:
                    return
                if event.workflow_id != "global":
                    view = apply(current, event)
                    if view is not None:
                        await self.store.save_view(conn, view)
                        if event.event_type in _LEARNING:
                            known = await self._read(
                                conn, "history", self.history, History, lock=True
                            )
                            history = observe(known, view=view, event=event)
                            versions["history"] = await self.store.save_singleton(
                                conn, "history", history.model_dump(mode="json")
                            )
                if event.event_type in SYSTEM_TYPES:
                    known_system = await self._read(
                        conn, "system", self.system, SystemView, lock=True
                    )
                    system = apply_system(known_system, event)
                    versions["system"] = await self.store.save_singleton(
                        conn, "system", system.model_dump(mode="json")
                    )
        except BaseException:
            self._forget()
            raise
        self._versions.update(versions)
        if history is not None:
            self.history = history
        if system is not None:
            self.system = system
        if view is not None:
            self.views[view.workflow_id] = view
            self.stream.publish("workflow", self.summary(view.workflow_id).model_dump(mode="json"))

    async def _read(
        self, conn: Any, name: str, current: M, model: type[M], *, lock: bool = False
    ) -> M:
        """The singleton ``name`` (``lock``: locked): ``current``, the value in memory, while
        it is the version last written or read here, else read and validated (module doc)."""
        failures = self._failures
        row = await self.store.singleton(conn, name, known=self._versions.get(name), lock=lock)
        if row.version is not None and row.value is None:  # unchanged since we had it
            if failures == self._failures:
                return current
            # A transaction failed meanwhile and may have changed ``current``: read it.
            row = await self.store.singleton(conn, name, lock=lock)
        if row.version is not None and not lock:
            self._versions[name] = row.version  # a locked read is remembered once committed
        return model() if row.value is None else model.model_validate(row.value)

    def _forget(self) -> None:
        """After a failed transaction: the values in memory may hold its changes."""
        self._failures += 1
        self._versions.clear()

    # -- queries (served from memory) ------------------------------------------------------

    def summaries(
        self,
        *,
        status: str | None = None,
        priority: str | None = None,
        workflow_type: str | None = None,
        limit: int = 500,
    ) -> list[WorkflowSummary]:
        now = _now()
        chosen = [
            v
            for v in self.views.values()
            if (status is None or v.status == status.upper())
            and (priority is None or v.priority == priority)
            and (workflow_type is None or v.workflow_type == workflow_type)
        ]
        chosen.sort(key=lambda v: v.created_at or now, reverse=True)
        return [summary(v, history=self.history, now=now) for v in chosen[:limit]]

    def summary(self, workflow_id: str) -> WorkflowSummary:
        return summary(self.views[workflow_id], history=self.history, now=_now())

    def detail(
        self, workflow_id: str, *, detailed: bool, include_dependencies: bool
    ) -> WorkflowDetail:
        return detail(
            self.views[workflow_id],
            history=self.history,
            now=_now(),
            detailed=detailed,
            include_dependencies=include_dependencies,
        )

    def overview(self) -> Overview:
        return overview(self.views.values(), self.system, history=self.history, now=_now())

    async def on_resource_state(self, event: Event) -> None:
        """The resource manager's state sync: its pools, when the newest state."""
        state = validate_model(ResourceStateMessage, event.data).resource_state
        try:
            async with self.db.transaction() as conn:
                known = await self._read(conn, "system", self.system, SystemView, lock=True)
                if not apply_resource_state(known, state):
                    return
                version = await self.store.save_singleton(
                    conn, "system", known.model_dump(mode="json")
                )
        except BaseException:
            self._forget()
            raise
        self._versions["system"] = version
        self.system = known

    async def overview_loop(self, interval: float) -> None:
        """Send the overview to the live stream every ``interval`` seconds (when watched)."""
        while True:
            await asyncio.sleep(interval)
            if self.stream.clients:
                self.stream.publish("overview", self.overview().model_dump(mode="json"))
