"""Projecting every event into the read model, exactly once in effect.

Events of a partition that arrive together are applied in one transaction, in order (a
failed batch is applied again event by event, by the bus). For each event its id goes into
the idempotency ledger and the workflow's row is locked, in one round trip that reads only
the row's version; the view itself is read only when neither this batch nor this replica
holds a copy of that version (after a start, or when the workflow's partition was another
replica's). The pure projection updates the view, which is written back with its list line
and summary columns under a new version. The rows every batch shares are written at its
end, once each: the counts of ended workflows (in (status, shard) order, as the retention
pass deletes), the duration history of each workflow type it taught something (in type
order), then the system view — the order every transaction locks rows in (its own
workflows, ended counts, histories, system), so two never wait for each other in a cycle.
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

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from baton.db import Database
from baton.protocol.event import Event
from baton.protocol.messages import RESOURCE_STATE_EVENT, ResourceStateMessage, validate_model
from baton_status.history import History, Lesson, learn, lesson
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
        """Apply one event (as a batch of one)."""
        await self.on_events([event])

    async def on_events(self, events: Sequence[Event]) -> None:
        """Apply events of one partition, in order, in one transaction (subscribed to ``#``
        on the events topic as a batch subscription): all of them or none."""
        batch = _Batch()
        async with self.db.transaction() as conn:
            for event in events:
                if event.event_type == RESOURCE_STATE_EVENT:
                    batch.system_changes.append(event)
                else:
                    await self._project(conn, event, batch)
            await self.store.count_ended(conn, batch.ended)
            for kind in sorted(batch.lessons):
                await self._learn(conn, kind, batch)
            if batch.system_changes:
                await self._change_system(conn, batch)
        for cache, key, version, value in batch.kept(self.memory):
            cache.put(key, version, value)

    async def _project(self, conn: Any, event: Event, batch: _Batch) -> None:
        """Record ``event`` and apply it to its workflow's view; what it teaches the history
        and changes in the system view waits for the batch's end."""
        row = await self.store.first_and_version(
            conn, event_id=event.event_id, workflow_id=event.workflow_id
        )  # ("global" has no row)
        if not row.first:
            return
        if event.workflow_id != "global":
            before = await self._view(conn, event.workflow_id, row.version, batch)
            was = None if before is None else before.status  # apply changes it in place
            view = apply(before, event)
            if view is not None:
                version = await self.store.save_view(conn, view, summary=line(view))
                batch.views[view.workflow_id] = (version, view)
                if view.status != was:
                    batch.ended += [(view.status, view.workflow_id, 1)]
                    if was is not None:
                        batch.ended += [(was, view.workflow_id, -1)]
                taught = lesson(view=view, event=event) if event.event_type in _LEARNING else None
                if taught is not None:
                    batch.lessons.setdefault(taught.workflow_type, []).append(taught)
        if event.event_type in SYSTEM_TYPES:
            batch.system_changes.append(event)

    async def _view(
        self, conn: Any, workflow_id: str, version: int | None, batch: _Batch
    ) -> WorkflowView | None:
        """The view at ``version`` (the row is locked): this batch's, this replica's copy,
        else read."""
        if version is None:
            return None
        staged = batch.views.get(workflow_id)
        if staged is not None and staged[0] == version:
            return staged[1]
        held = self.memory.views.take(workflow_id, version=version)
        return held if held is not None else await self.store.view(conn, workflow_id)

    async def _learn(self, conn: Any, kind: str, batch: _Batch) -> None:
        """Learn the batch's lessons about workflow type ``kind`` (its row locked)."""

        async def read(known: int | None) -> Any:
            return await self.store.history(conn, kind, known=known)

        _, history = await current(
            self.memory.histories, kind, read=read, parse=History.model_validate, take=True
        )
        learned = history or History()
        for taught in batch.lessons[kind]:
            learned = learn(learned, taught)
        version = await self.store.save_history(conn, kind, learned)
        batch.histories[kind] = (version, learned)

    async def _change_system(self, conn: Any, batch: _Batch) -> None:
        """Apply the batch's alerts, conflicts and resource states to the system view (its
        row locked), and write it once if any changed it."""

        async def read(known: int | None) -> Any:
            return await self.store.singleton(conn, SYSTEM, known=known, lock=True)

        version, found = await current(
            self.memory.system, SYSTEM, read=read, parse=SystemView.model_validate, take=True
        )
        system = found or SystemView()
        changed = False
        for event in batch.system_changes:
            if event.event_type == RESOURCE_STATE_EVENT:
                state = validate_model(ResourceStateMessage, event.data).resource_state
                changed = apply_resource_state(system, state) or changed
            else:
                apply_system(system, event)
                changed = True
        if changed:
            version = await self.store.save_singleton(conn, SYSTEM, system.model_dump(mode="json"))
        if version is not None:  # unchanged: the copy goes back as it was
            batch.system = (version, system)

    async def on_resource_state(self, event: Event) -> None:
        """The resource manager's state sync: its pools, when the newest state."""
        await self.on_events([event])


class _Batch:
    """What one transaction changed, kept in memory once it commits."""

    __slots__ = ("ended", "histories", "lessons", "system", "system_changes", "views")

    def __init__(self) -> None:
        self.views: dict[str, tuple[int, WorkflowView]] = {}
        self.ended: list[tuple[str, str, int]] = []  # (status, workflow_id, ±1)
        self.lessons: dict[str, list[Lesson]] = {}
        self.histories: dict[str, tuple[int, History]] = {}
        self.system_changes: list[Event] = []
        self.system: tuple[int, SystemView] | None = None

    def kept(self, memory: Memory) -> list[tuple[Any, str, int, Any]]:
        """``(cache, key, version, value)`` of every copy to keep."""
        out: list[tuple[Any, str, int, Any]] = [
            (memory.views, key, version, view) for key, (version, view) in self.views.items()
        ]
        out += [(memory.histories, k, v, h) for k, (v, h) in self.histories.items()]
        if self.system is not None:
            out.append((memory.system, SYSTEM, *self.system))
        return out
