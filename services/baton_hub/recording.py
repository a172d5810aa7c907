"""The hub's plumbing: a change to a workflow stored, its events queued, one transaction.

Every change loads the workflow row ``for update``, applies a pure transition from
:mod:`baton_hub.workflow`, stores the new state and queues its events — plus the versioned
state-sync message for the state topic — in the outbox, all in one transaction. Events are
applied once: their ids go into the idempotency ledger in that same transaction.

Events of a partition that arrive together are applied in two round trips whatever their
number (:meth:`HubCore._mutate_many`): the ledger and the states read without locks, then
one statement that writes it all only if no other replica wrote those rows meanwhile
(optimistic: replicas overlap only while partitions move between them). Each workflow's
row is written once, with its last version (every version still goes to the state
topic). When the replica holds the committed states of a batch's workflows already
(:class:`~baton_hub.statecache.StateCache`), the read is skipped: one round trip.
"""

from __future__ import annotations

from typing import Any

from baton.bus import Bus
from baton.bus.tracecontext import trace_for
from baton.db import Database
from baton.errors import HandlerError, WriteConflictError
from baton.protocol.event import Event
from baton.runtime import Outbox
from baton_hub import workflow as wf
from baton_hub.commands import Op
from baton_hub.config import HubConfig
from baton_hub.errors import UnknownItemError
from baton_hub.events import HubEvent
from baton_hub.recovery import checkpoint_requests
from baton_hub.state import WorkflowState
from baton_hub.statecache import StateCache
from baton_hub.store import WorkflowStore

__all__ = ["HubCore"]

_CONFLICT_ATTEMPTS = 5
"""Reads and applies of a batch whose write met another replica's, before the batch is
given back to the bus to retry later."""


class HubCore:
    """Binds the pure state machine to PostgreSQL, the outbox and the bus."""

    def __init__(self, *, bus: Bus, db: Database, outbox: Outbox, config: HubConfig) -> None:
        self.bus = bus
        self.db = db
        self.outbox = outbox
        self.config = config
        self.store = WorkflowStore()
        self.states = StateCache()

    # -- plumbing ----------------------------------------------------------------------

    async def _record(self, conn: Any, before: WorkflowState | None, outcome: wf.Outcome) -> None:
        state = outcome[0]
        # Changed in a transaction that may still roll back: only committed states are kept.
        self.states.forget([state.workflow_id])
        queued = self._announcements(before, outcome)
        if before is None or state.state_version != before.state_version:
            queued.append(self._sync(state))
        if before is None:
            # The row and its events in one round trip (the events roll back with the
            # refusal of a taken id).
            if not await self.store.insert(conn, state, outbox=self.outbox, queued=queued):
                raise HandlerError(
                    f"workflow {state.workflow_id} already exists",
                    retriable=False,
                    workflow_id=state.workflow_id,
                )
            return
        if state is not before and state.state_version != before.state_version:
            await self.store.update(conn, state)
        await self.outbox.add_many(conn, queued)  # in order, one round trip

    def _sync(self, state: WorkflowState) -> tuple[Event, str | None]:
        """The versioned state-sync message of ``state``, for the state topic."""
        sync = Event(
            event_type="WORKFLOW_STATE",
            workflow_id=state.workflow_id,
            phase=state.phase_name,
            data=wf.state_sync(state),
            extra_headers=trace_for(state.trace_context),
        )
        return sync, self.bus.topics.state

    def _announcements(
        self, before: WorkflowState | None, outcome: wf.Outcome
    ) -> list[tuple[Event, str | None]]:
        """The events a change announces, checkpoint requests included, for the outbox."""
        state, events = outcome
        changed = before is None or state.state_version != before.state_version
        if changed and self.config.checkpoints:
            events = [
                *events,
                *(
                    HubEvent(
                        event_type="CHECKPOINT_REQUESTED",
                        workflow_id=state.workflow_id,
                        phase=state.phase_name,
                        data=data,
                    )
                    for data in checkpoint_requests(
                        state, events, every=self.config.checkpoint_every
                    )
                ),
            ]
        # In the workflow's trace even when the change comes from the timeouts loop, another
        # workflow's event or a client's request (empty: the running code is in it already).
        trace = trace_for(state.trace_context)
        queued: list[tuple[Event, str | None]] = []
        for event in events:
            if event.event_type == "CHECKPOINT_REQUESTED":
                # The whole state of this version: workflow-recovery stores exactly it.
                event = event.model_copy(
                    update={"data": {**event.data, "snapshot": state.model_dump(mode="json")}}
                )
            queued.append((_to_event(event, trace=trace), None))
        return queued

    async def _mutate_in(
        self, conn: Any, workflow_id: str, op: Op
    ) -> tuple[WorkflowState, WorkflowState]:
        """Apply ``op`` to the stored workflow; the state before and after (the same
        object when nothing changed)."""
        state = await self._existing(conn, workflow_id, lock=True)
        outcome = op(state)
        await self._record(conn, state, outcome)
        return state, outcome[0]

    async def _mutate_many(self, changes: list[tuple[str, Op, str]]) -> None:
        """Apply ``(workflow_id, op, event_id)`` changes in order, each once per event id,
        in two round trips whatever their number: one read of the ledger and the states,
        then one statement that writes the ledger, every changed workflow (its last
        version) and every announcement and state-sync message — only if nothing else
        wrote them meanwhile, else it is all read and applied again.

        When this replica holds every state already (:class:`StateCache`), the read is
        skipped: the write's checks turn a state that is no longer current, or an event
        applied before, into a conflict, and the batch is then read and applied again."""
        event_ids = sorted({event_id for _, _, event_id in changes})  # as replicas insert
        workflow_ids = sorted({workflow_id for workflow_id, _, _ in changes})
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            cached = self.states.take(workflow_ids) if attempt == 1 else None
            try:
                async with self.db.connection() as conn:
                    if cached is None:
                        seen, states = await self.store.read_many(
                            conn, event_ids=event_ids, workflow_ids=workflow_ids
                        )
                    else:
                        seen, states = set(), cached
                    stored = dict(states)
                    queued = self._apply(changes, seen=seen, states=states)
                    await self.store.write_many(
                        conn,
                        event_ids=[e for e in event_ids if e not in seen],
                        changed=[
                            (s, stored[wid].state_version)
                            for wid, s in states.items()
                            if s.state_version != stored[wid].state_version
                        ],
                        kept={
                            wid: s.state_version
                            for wid, s in stored.items()
                            if states[wid].state_version == s.state_version
                        },
                        outbox=self.outbox,
                        queued=queued,
                    )
            except WriteConflictError:
                # Another replica applied some of them (a rebalance hands partitions over
                # while the old owner still works), or a cached state was stale: read
                # again; its writes count then.
                self.states.forget(workflow_ids)
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
                continue
            except BaseException:
                self.states.forget(workflow_ids)  # written or not: in doubt
                raise
            self.states.keep(states.values())
            break
        self.outbox.notify()

    def _apply(
        self,
        changes: list[tuple[str, Op, str]],
        *,
        seen: set[str],
        states: dict[str, WorkflowState],
    ) -> list[tuple[Event, str | None]]:
        """Apply the changes not ``seen`` to ``states`` (replaced in place); the events to
        queue, in order."""
        fresh = {event_id for _, _, event_id in changes} - seen
        queued: list[tuple[Event, str | None]] = []
        for workflow_id, op, event_id in changes:
            before = states.get(workflow_id)
            if event_id not in fresh or before is None:
                continue  # seen before, or a workflow this hub does not run
            fresh.discard(event_id)  # a repeated id within the batch applies once
            outcome = op(before)
            queued += self._announcements(before, outcome)
            if outcome[0].state_version != before.state_version:
                queued.append(self._sync(outcome[0]))  # every version: readers see gaps
            states[workflow_id] = outcome[0]
        return queued

    async def _existing(self, conn: Any, workflow_id: str, *, lock: bool = False) -> WorkflowState:
        """The stored workflow (``lock``: held until the transaction ends); unknown raises."""
        state = await self.store.get(conn, workflow_id, lock=lock)
        if state is None:
            raise UnknownItemError(
                f"no workflow {workflow_id}",
                workflow_id=workflow_id,
                kind="workflow",
                name=workflow_id,
            )
        return state


def _to_event(event: HubEvent, *, trace: tuple[tuple[str, bytes], ...] = ()) -> Event:
    return Event(
        event_type=event.event_type,
        workflow_id=event.workflow_id,
        phase=event.phase,
        data=event.data,
        extra_headers=trace,
    )
