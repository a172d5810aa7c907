"""Projecting every event into the read model, exactly once in effect.

The events of a fetch are applied in one transaction, each partition's in order (a failed
batch is applied again partition by partition, then event by event, by the bus), in a number
of statements that does not grow with the batch. One records every event id in the
idempotency ledger and tells which are new; one locks the rows of the workflows the new
events are of and reads their versions, and their views only where this replica holds no
copy of that version (after a start, or when the workflow's partition was another replica's;
a copy pushed out of memory meanwhile is read in one more). The pure projection applies the
new events to the views in memory, and each view changed is then written once, with its list
line and summary columns under a new version, all in one statement. The rows every batch
shares are written at its end, once each: the counts of ended workflows (in (status, shard)
order, as the retention pass deletes), the duration history of each workflow type it taught
something (in type order), then the system view. Every transaction takes its locks in one
order — ledger entries by event id, its workflows' rows by workflow id (the rows it makes
are inserted last, by id too), ended counts, histories, system — so two never wait for each
other in a cycle. A restart, a rebalance or a replay from the beginning therefore never
counts an event twice, and two replicas that both hold a partition for a moment (one handing
it over) write one after the other, each building on the other's row: the rows are locked by
a statement that starts once the ledger has waited for the other's entries.

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
_GLOBAL: Final = "global"  # the workflow id of events about no workflow: they have no row
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
        """Apply events, each partition's in order, in one transaction (subscribed to ``#``
        on the events topic as a batch subscription, a fetch's partitions joined): all of
        them or none."""
        batch = _Batch()
        async with self.db.transaction() as conn:
            fresh = await self._lock(conn, events, batch)
            for event in events:
                if event.event_type == RESOURCE_STATE_EVENT:
                    batch.system_changes.append(event)
                elif event.event_id in fresh:
                    fresh.discard(event.event_id)  # delivered twice in the batch: applied once
                    self._project(event, batch)
            changed = [batch.current[key] for key in batch.changed]
            saved = await self.store.save_views(conn, [(view, line(view)) for view in changed])
            batch.views = {view.workflow_id: (saved[view.workflow_id], view) for view in changed}
            await self.store.count_ended(conn, batch.ended)
            for kind in sorted(batch.lessons):
                await self._learn(conn, kind, batch)
            if batch.system_changes:
                await self._change_system(conn, batch)
        for cache, key, version, value in batch.kept(self.memory):
            cache.put(key, version, value)

    async def _lock(self, conn: Any, events: Sequence[Event], batch: _Batch) -> set[str]:
        """Record the batch's events, then lock the rows of the workflows the new ones are
        of; the new events' ids. ``batch.current`` gets each such workflow's view: this
        replica's copy when it is the row's version, else the stored one."""
        recorded = [e for e in events if e.event_type != RESOURCE_STATE_EVENT]
        if not recorded:
            return set()
        fresh = await self.store.record(conn, event_ids=[e.event_id for e in recorded])
        workflows = sorted({e.workflow_id for e in recorded if e.event_id in fresh} - {_GLOBAL})
        if workflows:
            held = {key: self.memory.views.version(key, full=True) for key in workflows}
            found = await self.store.lock(conn, held=held)
            batch.current.update(found.views)
            missing: list[str] = []
            for key, version in found.versions.items():
                if key in found.views:
                    continue
                copy = self.memory.views.take(key, version=version)
                if copy is None:  # pushed out of memory since its version was asked for
                    missing.append(key)
                else:
                    batch.current[key] = copy
            if missing:
                batch.current.update(await self.store.views(conn, missing))
        return set(fresh)

    def _project(self, event: Event, batch: _Batch) -> None:
        """Apply ``event`` to its workflow's view; what it teaches the history and changes
        in the system view waits for the batch's end."""
        if event.workflow_id != _GLOBAL:
            before = batch.current.get(event.workflow_id)
            was = None if before is None else before.status  # apply changes it in place
            view = apply(before, event)
            if view is not None:
                batch.current[view.workflow_id] = view
                batch.changed[view.workflow_id] = None
                if view.status != was:
                    batch.ended += [(view.status, view.workflow_id, 1)]
                    if was is not None:
                        batch.ended += [(was, view.workflow_id, -1)]
                taught = lesson(view=view, event=event) if event.event_type in _LEARNING else None
                if taught is not None:
                    batch.lessons.setdefault(taught.workflow_type, []).append(taught)
        if event.event_type in SYSTEM_TYPES:
            batch.system_changes.append(event)

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

    __slots__ = (
        "changed",
        "current",
        "ended",
        "histories",
        "lessons",
        "system",
        "system_changes",
        "views",
    )

    def __init__(self) -> None:
        self.current: dict[str, WorkflowView] = {}  # each workflow's view as applied so far
        self.changed: dict[str, None] = {}  # the workflows whose view to write (in order)
        self.views: dict[str, tuple[int, WorkflowView]] = {}  # as written: (version, view)
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
