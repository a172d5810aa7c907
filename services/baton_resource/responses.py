"""Building the allocator's answers and events.

Ids are derived from the request id (``req_X`` → ``alloc_X``, ``resp_X``, ``conflict_X``;
a later grant of a queued request answers as ``resp_X-grant``, a cancellation as
``resp_X-cancel``), so the same state always yields the same ids, before and after a
restart, and they are as unique as request ids. Every RESOURCE_* event about a workflow
carries phase ``global``: the resource manager does not know which phase a workflow is in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Final

from baton.protocol.duration import format_duration
from baton.protocol.messages import (
    AllocationAlternative,
    AllocationResponse,
    AllocationRestrictions,
    AllocationStatus,
)
from baton_resource.records import Allocation, ResourceEvent

__all__ = [
    "EVENT_PHASE",
    "allocated_event",
    "answer",
    "conflict_event",
    "deallocated_event",
    "delayed",
    "derived_id",
    "grant_response",
    "held_back",
    "iso",
    "restrictions",
]

EVENT_PHASE: Final = "global"
"""Phase of every RESOURCE_* event."""

_MAX_ID: Final = 128


def derived_id(prefix: str, request_id: str, *, suffix: str = "") -> str:
    """``<prefix>_<request id without req_><suffix>``, hashed when that is too long."""
    base = request_id.removeprefix("req_")
    out = f"{prefix}_{base}{suffix}"
    if len(out) > _MAX_ID:
        out = f"{prefix}_{hashlib.sha256(request_id.encode()).hexdigest()[:40]}{suffix}"
    return out


def iso(moment: datetime) -> str:
    """ISO-8601 UTC text of a time, ``Z``-suffixed as pydantic writes timestamps."""
    return moment.isoformat().replace("+00:00", "Z")


def _gb(value: float) -> str:
    return f"{round(value, 3):g}GB"


def restrictions(allocation: Allocation, *, lease_seconds: float) -> AllocationRestrictions:
    """Conditions attached to an allocation: monitoring, per-agent limits, auto release."""
    held = allocation.resources
    limits: dict[str, str | float] = {}
    if held.agents and held.memory_gb:
        limits["memory_per_agent"] = _gb(held.memory_gb / held.agents)
    if held.agents and held.cpu_cores:
        limits["cpu_per_agent"] = round(held.cpu_cores / held.agents, 3)
    if allocation.shared_files:
        limits["shared_files"] = ",".join(allocation.shared_files)
    return AllocationRestrictions(
        # A reduced or shared allocation runs outside what was asked for: watch it.
        monitoring_required=allocation.status == "partial" or bool(allocation.shared_files),
        performance_limits=limits,
        auto_release_timeout=format_duration(lease_seconds),
    )


def grant_response(
    allocation: Allocation,
    *,
    lease_seconds: float,
    now: datetime,
    response_id: str,
    alternatives: list[AllocationAlternative] | None = None,
) -> AllocationResponse:
    """The answer for a granted request (``approved`` or ``partial``)."""
    return AllocationResponse(
        response_id=response_id,
        request_id=allocation.request_id,
        status=allocation.status,
        timestamp=now,
        allocated_resources=allocation.resources,
        restrictions=restrictions(allocation, lease_seconds=lease_seconds),
        alternatives=alternatives or [],
    )


def answer(
    *,
    request_id: str,
    status: AllocationStatus,
    now: datetime,
    response_id: str,
    alternatives: list[AllocationAlternative] | None = None,
    queue_position: int | None = None,
    wait_seconds: float | None = None,
) -> AllocationResponse:
    """An answer without resources (``queued`` or ``denied``)."""
    return AllocationResponse(
        response_id=response_id,
        request_id=request_id,
        status=status,
        timestamp=now,
        alternatives=alternatives or [],
        queue_position=queue_position,
        estimated_start=None if wait_seconds is None else format_duration(max(0, wait_seconds)),
    )


def delayed(at: datetime, *, full: bool) -> AllocationAlternative:
    """Alternative: the request can be served at ``at``."""
    return AllocationAlternative(option="delayed_allocation", available_at=at, full_resources=full)


def held_back(reason: str) -> AllocationAlternative:
    """Alternative: admitted once the system is no longer saturated."""
    return AllocationAlternative.model_validate(
        {"option": "wait_for_saturation_clear", "reason": f"system saturated: {reason}"}
    )


def _event(event_type: str, workflow_id: str, data: dict[str, Any]) -> ResourceEvent:
    return ResourceEvent(
        event_type=event_type, workflow_id=workflow_id, phase=EVENT_PHASE, data=data
    )


def _details(allocation: Allocation) -> dict[str, Any]:
    return allocation.resources.model_dump(mode="json")


def allocated_event(allocation: Allocation) -> ResourceEvent:
    """RESOURCE_ALLOCATED for a new allocation."""
    data: dict[str, Any] = {
        "allocation_id": allocation.allocation_id,
        "resource_details": _details(allocation),
        "requester": allocation.requester,
        "request_id": allocation.request_id,
        "priority": allocation.priority,
        "status": allocation.status,
        # Top-level copies as in the protocol's example line {'agents':3,'memory_gb':8,...}.
        "agents": allocation.resources.agents,
        "memory_gb": allocation.resources.memory_gb,
        "shared_files": list(allocation.shared_files),
        "expected_end": iso(allocation.expected_end),
        "lease_deadline": iso(allocation.lease_deadline),
    }
    return _event("RESOURCE_ALLOCATED", allocation.workflow_id, data)


def deallocated_event(allocation: Allocation, *, reason: str) -> ResourceEvent:
    """RESOURCE_DEALLOCATED for a released allocation."""
    data: dict[str, Any] = {
        "allocation_id": allocation.allocation_id,
        "release_reason": reason,
        "request_id": allocation.request_id,
        "resource_details": _details(allocation),
    }
    return _event("RESOURCE_DEALLOCATED", allocation.workflow_id, data)


def conflict_event(
    *,
    request_id: str,
    workflow_id: str,
    files: list[str],
    holders: list[Allocation],
    resolution: str,
) -> ResourceEvent:
    """RESOURCE_CONFLICT for a request kept from exclusive files held by other workflows.

    Severity: ``high`` when the request is denied because of it, ``medium`` when it waits.
    """
    data: dict[str, Any] = {
        "conflict_id": derived_id("conflict", request_id),
        "conflicting_requests": [request_id, *(h.request_id for h in holders)],
        "severity": "high" if resolution == "denied" else "medium",
        "resource_type": "exclusive_files",
        "files": files,
        "held_by": [
            {"allocation_id": h.allocation_id, "workflow_id": h.workflow_id} for h in holders
        ],
        "resolution": resolution,
    }
    return _event("RESOURCE_CONFLICT", workflow_id, data)
