"""The resource manager's handlers: allocation requests, releases, lease expiry.

PostgreSQL is the authority: each operation locks the single state row, rebuilds the
allocator from it, applies the pure operation, saves it and queues the events in the outbox
— one transaction. Replicas therefore never hand out the same capacity twice, and nothing
in memory can drift from what is stored.

After every change, and at start, the state's pool figures are published as the resource
manager's state sync (:mod:`baton.protocol.messages.resource_state`), versioned by the state
row's version, in the change's transaction: other services read what the pools hold there
rather than adding up allocation events.

Agent ids: the pool's agents have names (``BATON_RESOURCE_AGENT_IDS``, default
``agent_001``…); an allocation of N agents holds N free names, returned as ``agent_ids`` in
the reply and on ``RESOURCE_ALLOCATED`` events, and freed on release.

Request ids: an allocation request that names no ``request_id`` of its own takes the
command's (the caller's, e.g. seed 000's envelope ``request_id``), so the response echoes
the id the caller sent rather than a new one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from baton.bus import Bus
from baton.bus.tracecontext import current_trace, trace_for
from baton.db import Database
from baton.errors import BadInputError, HandlerError
from baton.protocol.event import Event
from baton.protocol.invalid import bad_input
from baton.protocol.messages import (
    ID_PATTERN,
    RESOURCE_STATE_EVENT,
    RESOURCE_STATE_KEY,
    AllocationRequest,
    ResourceRequest,
)
from baton.runtime import Outbox, first_time
from baton_resource.allocator import Allocator
from baton_resource.config import ResourceConfig
from baton_resource.records import ResourceEvent
from baton_resource.store import ResourceStore

__all__ = ["ResourceCommand", "ResourceHandlers"]


_ID = re.compile(ID_PATTERN)


class ResourceCommand(StrEnum):
    """Request types the resource manager answers."""

    ALLOCATE = "ALLOCATE"
    RELEASE = "RELEASE"
    CANCEL_REQUEST = "CANCEL_REQUEST"
    RENEW = "RENEW"
    STATUS = "RESOURCE_STATUS"
    TRANSITION = "TRANSITION"


def _now() -> datetime:
    return datetime.now(UTC)


Change = Callable[[Allocator, datetime], tuple[dict[str, Any], list[ResourceEvent]]]


class ResourceHandlers:
    """Binds the pure allocator to PostgreSQL, the outbox and the bus."""

    def __init__(self, *, bus: Bus, db: Database, outbox: Outbox, config: ResourceConfig) -> None:
        self.bus = bus
        self.db = db
        self.outbox = outbox
        self.config = config
        self.store = ResourceStore(build=self._allocator)

    def _allocator(self, state: Any) -> Allocator:
        c = self.config
        return Allocator(
            pools=c.pools,
            state=state,
            aging_per_minute=c.aging_per_minute,
            auto_release_grace=c.lease_grace,
            thresholds={"default": c.threshold},
            hold_when_saturated=frozenset(c.hold_when_saturated),
        )

    async def _change(
        self, conn: Any, change: Change, *, requester: str | None = None
    ) -> dict[str, Any]:
        """Load, apply ``change``, assign agent ids, save, queue events (in ``conn``).

        ``requester``: the workflow a request is for; the running code's trace context is
        kept as its trace, so that what is published for it later (a grant from the queue
        when another workflow releases, a lease expiry) stays in that trace.
        """
        version, allocator, slots, traces = await self.store.load(conn)
        if requester is not None and requester not in traces:
            context = current_trace()
            if context:
                traces[requester] = context
        now = _now()
        try:
            reply, events = change(allocator, now)
        except BaseException:
            self.store.forget()  # the allocator may be half-changed in memory
            raise
        if reply.pop("unchanged", False) and not events:
            return reply  # nothing to save (a lease check that found nothing due)
        live = allocator.allocation_agents()
        slots = {k: v for k, v in slots.items() if k in live}
        taken = {name for names in slots.values() for name in names}
        free = [n for n in self.config.agent_names() if n not in taken]
        for allocation_id, count in live.items():
            if allocation_id not in slots:
                slots[allocation_id], free = free[:count], free[count:]
        await self.store.save(
            conn, version=version, allocator=allocator, slots=slots, traces=traces
        )
        for event in events:
            data = dict(event.data)
            if event.event_type == "RESOURCE_ALLOCATED":
                data["agent_ids"] = slots.get(str(data.get("allocation_id")), [])
            await self.outbox.add(
                conn,
                Event(
                    event_type=event.event_type,
                    workflow_id=event.workflow_id,
                    phase=event.phase,
                    data=data,
                    extra_headers=trace_for(traces.get(event.workflow_id, {})),
                ),
            )
        await self._add_state(conn, allocator, version=version + 1, now=now)
        reply_id = reply.get("allocation_response", {}).get("allocated_resources") or {}
        if reply_id.get("allocation_id") in slots:
            reply["agent_ids"] = slots[reply_id["allocation_id"]]
        return reply

    async def _add_state(
        self, conn: Any, allocator: Allocator, *, version: int, now: datetime
    ) -> None:
        """Queue the state sync of ``version`` (in ``conn``)."""
        message = allocator.state_sync(version=version, now=now)
        event = Event(
            event_type=RESOURCE_STATE_EVENT,
            workflow_id=RESOURCE_STATE_KEY,
            phase=RESOURCE_STATE_KEY,
            data=message.model_dump(mode="json"),
        )
        await self.outbox.add(conn, event)

    async def publish_state(self) -> None:
        """Publish the current state sync (at start: readers need not wait for a change)."""
        async with self.db.transaction() as conn:
            loaded = await self.store.load(conn)
            await self._add_state(conn, loaded.allocator, version=loaded.version, now=_now())
        self.outbox.notify()

    # -- commands ----------------------------------------------------------------------

    async def command(self, conn: Any, request: Event) -> dict[str, Any]:
        """Apply one request inside ``conn`` (the durable responder's transaction)."""
        try:
            kind = ResourceCommand(request.event_type)
        except ValueError:
            raise HandlerError(
                f"unknown resource command {request.event_type}; known: "
                f"{', '.join(c.value for c in ResourceCommand)}",
                retriable=False,
                part="event_type",
            ) from None
        data = request.data
        if kind is ResourceCommand.ALLOCATE:
            given = data.get("allocation_request", data)
            if not isinstance(given, dict):
                raise BadInputError("must be a JSON object", field="allocation_request")
            raw = {"workflow_id": request.workflow_id, **given}
            if request.request_id and _ID.match(request.request_id):
                raw.setdefault("request_id", request.request_id)  # echoed in the response
            try:
                req = AllocationRequest.model_validate(raw)
            except ValidationError as exc:
                raise bad_input(exc, root="allocation_request", model=AllocationRequest) from None

            def allocate(a: Allocator, now: datetime) -> tuple[dict[str, Any], list[ResourceEvent]]:
                outcome = a.request(req, now=now)
                reply = {
                    "allocation_response": outcome.response.model_dump(mode="json"),
                    "reason": outcome.reason,
                    "repeated": outcome.repeated,
                }
                return reply, list(outcome.events)

            return await self._change(conn, allocate, requester=req.workflow_id)
        if kind is ResourceCommand.STATUS:
            loaded = await self.store.load(conn)
            return {**loaded.allocator.status(now=_now()), "agent_slots": loaded.slots}
        if kind is ResourceCommand.RELEASE:
            allocation_id, workflow_id = data.get("allocation_id"), data.get("workflow_id")
            if not allocation_id and not workflow_id:
                raise BadInputError("give data.allocation_id or data.workflow_id", field="data")
            reason = str(data.get("reason", "released"))
            return await self._change(
                conn,
                lambda a, now: _released(
                    a.release(
                        now=now, allocation_id=allocation_id, workflow_id=workflow_id, reason=reason
                    )
                ),
            )
        if kind is ResourceCommand.CANCEL_REQUEST:
            return await self._change(
                conn,
                lambda a, now: _released(
                    a.cancel_request(
                        now=now,
                        request_id=data.get("request_id"),
                        workflow_id=data.get("workflow_id"),
                    )
                ),
            )
        if kind is ResourceCommand.TRANSITION:
            target = data.get("to_workflow_id")
            if not isinstance(target, str) or not target:
                raise BadInputError("data.to_workflow_id is required", field="data.to_workflow_id")
            source, rid = request.workflow_id, f"{request.request_id or 'transition'}.to"
            return await self._change(
                conn,
                lambda a, now: _transition(a, now, source=source, target=target, rid=rid),
                requester=target,
            )
        allocation_id = str(data.get("allocation_id", ""))

        def renew(a: Allocator, now: datetime) -> tuple[dict[str, Any], list[ResourceEvent]]:
            until = a.renew(allocation_id, now=now, hours=data.get("hours"))
            return {
                "allocation_id": allocation_id,
                "lease_deadline": until.isoformat() if until else None,
            }, []

        return await self._change(conn, renew)

    # -- events ------------------------------------------------------------------------

    def subscriptions(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        return {
            "workflow.*.completed": self.on_workflow_finished,
            "workflow.*.failed": self.on_workflow_finished,
            "workflow.*.cancelled": self.on_workflow_finished,
            "system.*.saturation": self.on_saturation,
        }

    async def on_workflow_finished(self, event: Event) -> None:
        """Release everything the workflow holds (and drop its queued requests)."""
        reason = f"workflow {event.event_type.removeprefix('WORKFLOW_').lower()}"
        async with self.db.transaction() as conn:
            if not await first_time(conn, consumer="resource", event_id=event.event_id):
                return
            await self._change(
                conn,
                lambda a, now: _released(
                    a.release(now=now, workflow_id=event.workflow_id, reason=reason)
                ),
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
                lambda a, now: _released(a.saturation(saturated=saturated, reason=reason, now=now)),
            )
        self.outbox.notify()

    async def expiry_loop(self) -> None:
        """Reclaim leases past their deadline, granting queued requests."""
        while True:
            await asyncio.sleep(self.config.expiry_interval)
            async with self.db.transaction() as conn:
                reply = await self._change(conn, lambda a, now: _released(a.expire(now=now)))
            if reply["released"]:
                self.outbox.notify()


def _released(outcome: Any) -> tuple[dict[str, Any], list[ResourceEvent]]:
    return {
        "unchanged": not outcome.changed,
        "released": list(outcome.released),
        "cancelled": list(outcome.cancelled),
        "granted": [g.model_dump(mode="json") for g in outcome.granted],
    }, list(outcome.events)


def _transition(
    a: Allocator, now: datetime, *, source: str, target: str, rid: str
) -> tuple[dict[str, Any], list[ResourceEvent]]:
    """Hand what ``source`` holds to ``target`` in one step (seed 002's ``transition``).

    The release and the new request happen in the same transaction; requests already
    queued are served first from what is freed, as after any release (no jumping the queue).
    """
    held = [x for x in a.state.allocations if x.workflow_id == source]
    if not held:
        raise HandlerError(
            f"workflow {source} holds no allocation", retriable=False, workflow_id=source
        )
    files = sorted({f for x in held for f in x.resources.exclusive_files})
    tools: dict[str, int] = {}
    for x in held:
        for name, count in x.resources.tool_instances.items():
            tools[name] = tools.get(name, 0) + count
    resources = ResourceRequest(
        agents=sum(x.resources.agents for x in held),
        memory_gb=sum(x.resources.memory_gb for x in held),
        cpu_cores=sum(x.resources.cpu_cores for x in held),
        duration_hours=max(x.resources.duration_hours for x in held),
        exclusive_files=files,
        tool_instances=tools,
    )
    freed = a.release(now=now, workflow_id=source, reason=f"transition to {target}")
    req = AllocationRequest(
        request_id=rid,
        workflow_id=target,
        requester=held[0].requester,
        priority=held[0].priority,
        resources=resources,
    )
    outcome = a.request(req, now=now)
    reply = {
        "from_workflow_id": source,
        "to_workflow_id": target,
        "released": list(freed.released),
        "granted_to_queue": [g.model_dump(mode="json") for g in freed.granted],
        "allocation_response": outcome.response.model_dump(mode="json"),
        "reason": outcome.reason,
    }
    return reply, [*freed.events, *outcome.events]
