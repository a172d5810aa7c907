"""What the resource manager's commands and events do to the allocator (pure).

Each returns the reply and the events of one change, for
:class:`~baton_resource.handlers.ResourceHandlers` to store and publish.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from baton.errors import BadInputError, HandlerError
from baton.protocol.event import Event
from baton.protocol.invalid import bad_input
from baton.protocol.messages import ID_PATTERN, AllocationRequest, ResourceRequest
from baton_resource.allocator import Allocator
from baton_resource.records import ReleaseOutcome, ResourceEvent

__all__ = ["Change", "allocate", "allocation_request", "ids", "released", "renew", "transition"]

_ID = re.compile(ID_PATTERN)

Change = Callable[[Allocator, datetime], tuple[dict[str, Any], list[ResourceEvent]]]
"""A change: the allocator and the time → the reply and the events."""


def allocation_request(request: Event) -> AllocationRequest:
    """The allocation request an ``ALLOCATE`` command carries.

    One that names no ``request_id`` of its own takes the command's (the caller's, e.g.
    the helper request envelope ``request_id``), so the response echoes the id the caller sent.

    Raises:
        BadInputError: not a valid allocation request (every wrong field named).
    """
    data = request.data
    given = data.get("allocation_request", data)
    if not isinstance(given, dict):
        raise BadInputError("must be a JSON object", field="allocation_request")
    raw = {"workflow_id": request.workflow_id, **given}
    if request.request_id and _ID.match(request.request_id):
        raw.setdefault("request_id", request.request_id)  # echoed in the response
    try:
        return AllocationRequest.model_validate(raw)
    except ValidationError as exc:
        raise bad_input(exc, root="allocation_request", model=AllocationRequest) from None


def allocate(req: AllocationRequest) -> Change:
    """Answer ``req``."""

    def change(a: Allocator, now: datetime) -> tuple[dict[str, Any], list[ResourceEvent]]:
        outcome = a.request(req, now=now)
        reply = {
            "allocation_response": outcome.response.model_dump(mode="json"),
            "reason": outcome.reason,
            "repeated": outcome.repeated,
        }
        return reply, list(outcome.events)

    return change


def renew(allocation_id: str, *, hours: Any) -> Change:
    """Renew the lease of ``allocation_id`` for ``hours`` more (None: its duration)."""

    def change(a: Allocator, now: datetime) -> tuple[dict[str, Any], list[ResourceEvent]]:
        until = a.renew(allocation_id, now=now, hours=hours)
        return {
            "allocation_id": allocation_id,
            "lease_deadline": until.isoformat() if until else None,
        }, []

    return change


def ids(value: Any) -> tuple[str, ...]:
    """``(value,)`` for an id given, ``()`` for none."""
    return (value,) if isinstance(value, str) and value else ()


def released(outcome: ReleaseOutcome) -> tuple[dict[str, Any], list[ResourceEvent]]:
    """The reply to a release, a cancellation, an expiry, a saturation verdict."""
    return {
        "unchanged": not outcome.changed,
        "released": list(outcome.released),
        "cancelled": list(outcome.cancelled),
        "granted": [g.model_dump(mode="json") for g in outcome.granted],
    }, list(outcome.events)


def transition(
    a: Allocator, now: datetime, *, source: str, target: str, rid: str
) -> tuple[dict[str, Any], list[ResourceEvent]]:
    """Hand what ``source`` holds to ``target`` in one step (``transition``).

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
