"""The resource manager's handlers: allocation requests, releases, lease expiry.

PostgreSQL is the authority: each operation locks the pool rows, reads the rows it needs
(:mod:`~baton_resource.store`), applies the pure operation to them, writes back what
changed and queues the events in the outbox — one transaction. Replicas therefore never
hand out the same capacity twice, nothing in memory can drift from what is stored, and an
operation costs what it reads and changes, not what the tables hold.

After every change, and at start, the pools' figures are published as the resource
manager's state sync (:mod:`baton.protocol.messages.resource_state`), versioned by the
counter every change increments under the lock (so versions grow in commit order across
replicas), in the change's transaction: other services read what the pools hold there
rather than adding up allocation events.

Status is paginated: ``data.limit`` allocations (default 100, at most 1000) after the
cursor ``data.after`` (the previous page's ``next``), and the first ``limit`` queued
requests in serving order, with their estimated starts (a replay of those requests).

Agent ids: the pool's agents have names (``BATON_RESOURCE_AGENT_IDS``, default
``agent_001``…); an allocation of N agents holds N free names, returned as ``agent_ids`` in
the reply and on ``RESOURCE_ALLOCATED`` events, and freed on release.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from baton.bus import Bus
from baton.bus.tracecontext import current_trace, trace_for
from baton.db import Database
from baton.errors import BadInputError, HandlerError
from baton.protocol.commands import (
    CommandReply,
    ResourceCommand,
    parse_request,
    reply_data,
)
from baton.protocol.commands.replies import (
    AllocateReply,
    ReleaseReply,
    RenewReply,
    ResourceStatusReply,
    TransitionReply,
)
from baton.protocol.commands.requests import (
    AllocateRequest,
    CancelRequestRequest,
    ReleaseRequest,
    RenewRequest,
    ResourceStatusRequest,
    TransitionRequest,
)
from baton.protocol.event import Event
from baton.protocol.messages import RESOURCE_STATE_EVENT, RESOURCE_STATE_KEY
from baton.runtime import Outbox, first_events, first_time
from baton_resource.allocator import REMEMBER_HOURS, Allocator
from baton_resource.config import ResourceConfig
from baton_resource.operations import (
    Change,
    allocate,
    allocation_request,
    ids,
    released,
    renew,
    transition,
)
from baton_resource.records import AllocatorState, ReleaseOutcome, ResourceEvent
from baton_resource.report import build_state_sync, describe_allocations
from baton_resource.rows import Head, WorkingSet, amounts_of, lock_head, read_head
from baton_resource.store import Needs, ResourceStore
from baton_resource.window import NeedsMore, Window
from baton_resource.writeback import Saved

__all__ = ["CommandHandler", "ResourceHandlers"]

CommandHandler = Callable[[Any, Event, Any], Awaitable[CommandReply]]
"""A command's handler: the transaction, the request and its data's model → the reply."""

_ATTEMPTS = 16


def _now() -> datetime:
    return datetime.now(UTC)


class ResourceHandlers:
    """Binds the pure allocator to PostgreSQL, the outbox and the bus.

    Args:
        remember: How long the allocator remembers an answer once its request is settled
            (``BATON_RETENTION_ANSWERS``, which also prunes their rows).
        clock: The time operations run at (tests pass their own).
    """

    def __init__(
        self,
        *,
        bus: Bus,
        db: Database,
        outbox: Outbox,
        config: ResourceConfig,
        remember: timedelta = timedelta(hours=REMEMBER_HOURS),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.bus = bus
        self.remember = remember
        self.db = db
        self.outbox = outbox
        self.config = config
        self.clock = clock
        self.store = ResourceStore(config=config)

    def _allocator(self, state: AllocatorState, window: Window) -> Allocator:
        c = self.config
        return Allocator(
            pools=c.pools,
            state=state,
            aging_per_minute=c.aging_per_minute,
            auto_release_grace=c.lease_grace,
            thresholds={"default": c.threshold},
            hold_when_saturated=frozenset(c.hold_when_saturated),
            window=window,
            remember_hours=self.remember.total_seconds() / 3600,
        )

    async def _run(
        self,
        conn: Any,
        head: Head,
        needs: Needs,
        run: Callable[[Allocator], dict[str, Any]],
        *,
        now: datetime,
        page: bool = False,
    ) -> tuple[WorkingSet, Allocator, dict[str, Any]]:
        """Run ``run`` on the smallest working set it can answer exactly with."""
        for _ in range(_ATTEMPTS):
            if page:
                work = await self.store.load_page(
                    conn, head, queue=needs.queue or 0, holdings=needs.holdings, now=now
                )
            else:
                work = await self.store.load(conn, head, needs, now=now)
            allocator = self._allocator(work.state, work.window)
            try:
                return work, allocator, run(allocator)
            except NeedsMore as more:
                needs = needs.wider(more.missing)
        raise HandlerError(
            "the resource manager's working set did not converge",
            retriable=False,
            needs=str(needs),
        )

    async def _change(
        self,
        conn: Any,
        change: Change,
        *,
        needs: Needs | Callable[[Head], Needs],
        requester: str | None = None,
    ) -> dict[str, Any]:
        """Lock, read what ``needs`` names, apply ``change``, write back, queue events.

        ``needs`` may depend on the pools' figures, read under the lock.

        ``requester``: the workflow a request is for; the running code's trace context is
        kept as its trace (unless it has one already), so that what is published for it
        later (a grant from the queue when another workflow releases, a lease expiry)
        stays in that trace.
        """
        head = await lock_head(conn)
        if callable(needs):
            needs = needs(head)
        now = self.clock()
        happened: list[ResourceEvent] = []

        def run(allocator: Allocator) -> dict[str, Any]:
            reply, events = change(allocator, now)
            happened[:] = events
            return reply

        work, allocator, reply = await self._run(conn, head, needs, run, now=now)
        if reply.pop("unchanged", False) and not happened:
            return reply  # nothing to save (a lease check that found nothing due)
        traces = dict(work.traces)
        if requester is not None and requester not in traces:
            context = current_trace()
            if context:
                traces[requester] = context
        saved = await self.store.save(conn, head, work, allocator.state, traces=traces)
        agents = work.agents if saved is None else saved.agents
        queued: list[tuple[Event, str | None]] = []
        for event in happened:
            data = dict(event.data)
            if event.event_type == "RESOURCE_ALLOCATED":
                data["agent_ids"] = agents.get(str(data.get("allocation_id")), [])
            announced = Event(
                event_type=event.event_type,
                workflow_id=event.workflow_id,
                phase=event.phase,
                data=data,
                extra_headers=trace_for(traces.get(event.workflow_id, {})),
            )
            queued.append((announced, None))
        if saved is not None:
            queued.append((self._state_event(saved, now=now), None))
        await self.outbox.add_many(conn, queued)  # one round trip for all of them
        granted = reply.get("allocation_response", {}).get("allocated_resources") or {}
        if granted.get("allocation_id") in agents:
            reply["agent_ids"] = agents[granted["allocation_id"]]
        return reply

    def _state_event(self, saved: Saved | Head, *, now: datetime) -> Event:
        """The state sync of what ``saved`` holds."""
        message = build_state_sync(
            version=saved.version,
            usage=self.config.pools.usage(used=amounts_of(saved.used)),
            allocations=saved.allocations,
            queued=saved.queued,
            now=now,
        )
        return Event(
            event_type=RESOURCE_STATE_EVENT,
            workflow_id=RESOURCE_STATE_KEY,
            phase=RESOURCE_STATE_KEY,
            data=message.model_dump(mode="json"),
        )

    async def start(self) -> None:
        """At start: rows for the settings, the queue served with them (the pools may have
        grown, the aging changed), and the current state sync published (readers need not
        wait for a change)."""
        async with self.db.transaction() as conn:
            await self.store.create(conn)
        async with self.db.transaction() as conn:
            await self.store.align(conn, await lock_head(conn))
            await self._change(
                conn, lambda a, now: released(a.serve(now=now)), needs=Needs.serving()
            )
            await self.outbox.add(conn, self._state_event(await read_head(conn), now=self.clock()))
        self.outbox.notify()

    # -- commands ----------------------------------------------------------------------

    def commands(self) -> dict[ResourceCommand, CommandHandler]:
        """Command → handler: each takes the transaction, the request and its data's model."""
        return {
            ResourceCommand.ALLOCATE: self._allocate,
            ResourceCommand.STATUS: self._status,
            ResourceCommand.RELEASE: self._release,
            ResourceCommand.CANCEL_REQUEST: self._cancel_request,
            ResourceCommand.TRANSITION: self._transition,
            ResourceCommand.RENEW: self._renew,
        }

    async def command(self, conn: Any, request: Event) -> dict[str, Any]:
        """Apply one request inside ``conn`` (the durable responder's transaction)."""
        command, data = parse_request(ResourceCommand, service="resource", request=request)
        return reply_data(await self.commands()[command](conn, request, data))

    async def _release(self, conn: Any, request: Event, data: ReleaseRequest) -> ReleaseReply:
        allocation_id, workflow_id = data.allocation_id, data.workflow_id
        if not allocation_id and not workflow_id:
            raise BadInputError("give data.allocation_id or data.workflow_id", field="data")
        reason = data.reason
        reply = await self._change(
            conn,
            lambda a, now: released(
                a.release(
                    now=now, allocation_id=allocation_id, workflow_id=workflow_id, reason=reason
                )
            ),
            needs=Needs.serving(allocations=ids(allocation_id), workflows=ids(workflow_id)),
        )
        return ReleaseReply.model_validate(reply)

    async def _cancel_request(
        self, conn: Any, request: Event, data: CancelRequestRequest
    ) -> ReleaseReply:
        request_id, workflow_id = data.request_id, data.workflow_id
        reply = await self._change(
            conn,
            lambda a, now: released(
                a.cancel_request(now=now, request_id=request_id, workflow_id=workflow_id)
            ),
            needs=Needs.serving(requests=ids(request_id), workflows=ids(workflow_id)),
        )
        return ReleaseReply.model_validate(reply)

    async def _transition(
        self, conn: Any, request: Event, data: TransitionRequest
    ) -> TransitionReply:
        target = data.to_workflow_id
        source, rid = request.workflow_id, f"{request.request_id or 'transition'}.to"
        reply = await self._change(
            conn,
            lambda a, now: transition(a, now, source=source, target=target, rid=rid),
            needs=Needs.serving(requests=(rid,), workflows=(source, target)),
            requester=target,
        )
        return TransitionReply.model_validate(reply)

    async def _renew(self, conn: Any, request: Event, data: RenewRequest) -> RenewReply:
        allocation_id = data.allocation_id
        reply = await self._change(
            conn,
            renew(allocation_id, hours=data.hours),
            needs=Needs(allocations=(allocation_id,)),
        )
        return RenewReply.model_validate(reply)

    async def _allocate(self, conn: Any, request: Event, data: AllocateRequest) -> AllocateReply:
        req = allocation_request(request)
        agents = self.config.pools.agents

        def needs(head: Head) -> Needs:
            return Needs.arrival(req, free_agents=agents - amounts_of(head.used).agents)

        reply = await self._change(conn, allocate(req), needs=needs, requester=req.workflow_id)
        return AllocateReply.model_validate(reply)

    async def _status(
        self, conn: Any, request: Event, data: ResourceStatusRequest
    ) -> ResourceStatusReply:
        """Pools, a page of allocations, the head of the queue with estimates."""
        limit, after = data.limit, data.after
        head = await read_head(conn)
        now = self.clock()
        _, _, status = await self._run(
            conn, head, Needs(queue=limit), lambda a: a.status(now=now), now=now, page=True
        )
        page, more = await self.store.page(conn, limit=limit, after=int(after or 0))
        status.update(describe_allocations([r.allocation for r in page]))
        status["pools"] = self.config.pools.usage(used=amounts_of(head.used))
        status["agent_slots"] = {r.allocation.allocation_id: r.agent_ids for r in page}
        status["allocations_total"] = head.allocations
        status["queued_total"] = head.queued
        status["next"] = str(page[-1].seq) if more else None
        return ResourceStatusReply.model_validate(status)

    # -- events ------------------------------------------------------------------------

    FINISHED: ClassVar[tuple[str, ...]] = (
        "workflow.*.completed",
        "workflow.*.failed",
        "workflow.*.cancelled",
    )
    """Patterns of the events that end a workflow (:meth:`on_workflows_finished`)."""

    def subscriptions(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        """The events handled one at a time (the ends of workflows come in batches)."""
        return {"system.*.saturation": self.on_saturation}

    async def on_workflows_finished(self, events: list[Event]) -> None:
        """Release everything the workflows hold (and drop their queued requests), in the
        events' order, in one transaction: one lock, one working set, one write-back and
        one state sync for a fetch's worth."""
        async with self.db.transaction() as conn:
            ending = await first_events(conn, consumer="resource", events=events)
            if not ending:
                return

            def release_all(
                allocator: Allocator, now: datetime
            ) -> tuple[dict[str, Any], list[ResourceEvent]]:
                outcomes = [
                    allocator.release(
                        now=now,
                        workflow_id=e.workflow_id,
                        reason=f"workflow {e.event_type.removeprefix('WORKFLOW_').lower()}",
                    )
                    for e in ending
                ]
                return released(ReleaseOutcome.joined(outcomes))

            await self._change(
                conn,
                release_all,
                needs=Needs.serving(workflows=tuple(dict.fromkeys(e.workflow_id for e in ending))),
            )
        self.outbox.notify()

    async def on_saturation(self, event: Event) -> None:
        """The monitor's SYSTEM_SATURATION: hold back or admit low-priority work."""
        saturated = event.data.get("saturated")
        if not isinstance(saturated, bool):
            raise HandlerError(
                "SYSTEM_SATURATION needs data.saturated true or false",
                retriable=False,
                part="data.saturated",
            )
        reason = str(event.data.get("reason") or "monitor reports saturation")
        async with self.db.transaction() as conn:
            if not await first_time(conn, consumer="resource", event_id=event.event_id):
                return
            await self._change(
                conn,
                lambda a, now: released(a.saturation(saturated=saturated, reason=reason, now=now)),
                needs=Needs.serving(whole_order=True),  # who may be admitted changes
            )
        self.outbox.notify()

    async def expire(self) -> list[str]:
        """Reclaim leases past their deadline, granting queued requests; the ids released."""
        async with self.db.transaction() as conn:
            if not await self.store.due(conn, now=self.clock()):
                return []
            reply = await self._change(
                conn,
                lambda a, now: released(a.expire(now=now)),
                needs=Needs.serving(due=True),
            )
        freed: list[str] = reply["released"]
        if freed:
            self.outbox.notify()
        return freed

    async def expiry_loop(self) -> None:
        """Every ``BATON_RESOURCE_EXPIRY_INTERVAL`` seconds: :meth:`expire`."""
        while True:
            await asyncio.sleep(self.config.expiry_interval)
            await self.expire()
