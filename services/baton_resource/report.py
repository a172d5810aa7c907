"""The allocator's status as JSON-ready data (for ``resource-manager status`` and /status),
and its state sync (:func:`build_state_sync`: the pools only, for other services).

Times are ISO-8601 UTC strings, waits are duration strings (``"4h"``); queue positions are
1-based in serving order; ``reserved`` marks the request holding the queue's reservation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from baton.protocol.duration import format_duration
from baton.protocol.messages import PoolFigures, ResourceState, ResourceStateMessage
from baton_resource.estimate import Start
from baton_resource.queue import effective_priority, waited_minutes
from baton_resource.records import Allocation, QueuedRequest
from baton_resource.responses import iso

__all__ = ["build_state_sync", "build_status", "describe_allocations"]


def _allocation(allocation: Allocation) -> dict[str, Any]:
    resources = allocation.resources.model_dump(mode="json", exclude={"allocation_id"})
    return {
        "allocation_id": allocation.allocation_id,
        "request_id": allocation.request_id,
        "workflow_id": allocation.workflow_id,
        "requester": allocation.requester,
        "priority": allocation.priority,
        "status": allocation.status,
        "resources": resources,
        "shared_files": list(allocation.shared_files),
        "since": iso(allocation.allocated_at),
        "expected_end": iso(allocation.expected_end),
        "lease_deadline": iso(allocation.lease_deadline),
    }


def _queued(
    position: int,
    entry: QueuedRequest,
    start: Start | None,
    *,
    reserved: bool,
    aging_per_minute: float,
    now: datetime,
) -> dict[str, Any]:
    req = entry.request
    waited = waited_minutes(queued_at=entry.queued_at, now=now)
    return {
        "position": position,
        "request_id": req.request_id,
        "workflow_id": req.workflow_id,
        "requester": req.requester,
        "priority": req.priority,
        "effective_priority": effective_priority(
            priority=req.priority,
            queued_at=entry.queued_at,
            now=now,
            aging_per_minute=aging_per_minute,
        ),
        "queued_at": iso(entry.queued_at),
        "waited": format_duration(waited * 60.0),
        "resources": req.resources.model_dump(mode="json"),
        "reserved": reserved,
        "estimated_start": None
        if start is None
        else format_duration(max(0.0, (start.at - now).total_seconds())),
        "available_at": None if start is None else iso(start.at),
    }


def build_status(
    *,
    usage: Mapping[str, Mapping[str, Any]],
    allocations: Sequence[Allocation],
    order: Sequence[QueuedRequest],
    starts: Mapping[str, Start],
    reserved_by: str | None,
    aging_per_minute: float,
    now: datetime,
) -> dict[str, Any]:
    """The whole status: pools, allocations, queue and exclusive file holders."""
    return {
        "at": iso(now),
        "pools": {name: dict(pool) for name, pool in usage.items()},
        **describe_allocations(allocations),
        "queue": [
            _queued(
                position,
                entry,
                starts.get(entry.request.request_id),
                reserved=entry.request.request_id == reserved_by,
                aging_per_minute=aging_per_minute,
                now=now,
            )
            for position, entry in enumerate(order, start=1)
        ],
    }


def describe_allocations(allocations: Sequence[Allocation]) -> dict[str, Any]:
    """The status's ``allocations`` and ``exclusive_files`` (file → allocation ids)."""
    files: dict[str, list[str]] = {}
    for allocation in allocations:
        for name in allocation.resources.exclusive_files:
            files.setdefault(name, []).append(allocation.allocation_id)
    return {
        "allocations": [_allocation(a) for a in allocations],
        "exclusive_files": {name: files[name] for name in sorted(files)},
    }


def build_state_sync(
    *,
    version: int,
    usage: Mapping[str, Mapping[str, Any]],
    allocations: int,
    queued: int,
    now: datetime,
) -> ResourceStateMessage:
    """The state-sync message of state ``version``: the same pool figures as the status."""
    return ResourceStateMessage(
        resource_state=ResourceState(
            state_version=version,
            timestamp=now,
            pools={name: PoolFigures.model_validate(dict(pool)) for name, pool in usage.items()},
            allocations=allocations,
            queued=queued,
        )
    )
