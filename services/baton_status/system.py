"""Projecting system-wide events onto the :class:`~baton_status.views.SystemView`.

- ``RESOURCE_ALLOCATED`` adds a live allocation: its agents (``agent_ids``) and the amounts
  of its ``resource_details`` per pool (``agents``, ``memory_gb``, ``cpu_cores``,
  ``tool_instances.<tool>``, the resource manager's pool names);
  ``RESOURCE_DEALLOCATED`` removes it. Pool use is the sum over live allocations.
- Pool capacities are known from ``RESOURCE_THRESHOLD`` (it carries ``capacity``) or from
  the runner (:func:`set_capacities`, e.g. from the resource manager's status); a pool of
  unknown capacity still shows what is used.
- ``RESOURCE_CONFLICT`` joins the conflicts; ``SYSTEM_THRESHOLD``, ``RESOURCE_THRESHOLD``,
  ``AGENT_PERFORMANCE_ALERT``, ``ESCALATION_REQUIRED`` and ``DEPENDENCY_TIMEOUT`` join the
  alerts (the newest :data:`~baton_status.views.SYSTEM_LIST_LIMIT` of each are kept).

Like :func:`baton_status.projection.apply`, :func:`apply_system` updates the view in place,
returns it, ignores a repeated event id, and takes the time from the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from baton.protocol.event import Event
from baton.protocol.fields import number
from baton_status.api_models import Alert
from baton_status.plan import strings
from baton_status.views import (
    SYSTEM_LIST_LIMIT,
    SystemAllocation,
    SystemView,
    iso,
    keep_last,
    remember,
    utc,
)

__all__ = ["ALERT_TYPES", "SYSTEM_TYPES", "amounts", "apply_system", "set_capacities"]

ALERT_TYPES: Final = frozenset(
    {
        "SYSTEM_THRESHOLD",
        "RESOURCE_THRESHOLD",
        "AGENT_PERFORMANCE_ALERT",
        "ESCALATION_REQUIRED",
        "DEPENDENCY_TIMEOUT",
    }
)
"""Event types that are alerts."""

SYSTEM_TYPES: Final = ALERT_TYPES | {
    "RESOURCE_ALLOCATED",
    "RESOURCE_DEALLOCATED",
    "RESOURCE_CONFLICT",
}
"""Event types :func:`apply_system` uses (the others change nothing)."""


def amounts(details: Any) -> dict[str, float]:
    """Pool name → amount in an allocation's ``resource_details`` (unknown fields ignored)."""
    if not isinstance(details, Mapping):
        return {}
    out: dict[str, float] = {}
    for name in ("agents", "memory_gb", "cpu_cores"):
        value = number(details.get(name))
        if value:
            out[name] = value
    tools = details.get("tool_instances")
    if isinstance(tools, Mapping):
        for tool, count in sorted(tools.items()):
            value = number(count)
            if value:
                out[f"tool_instances.{tool}"] = value
    return out


def set_capacities(system: SystemView, capacities: Mapping[str, float]) -> SystemView:
    """Record known pool capacities (pool name → capacity); returns ``system``."""
    for name, capacity in capacities.items():
        value = number(capacity)
        if value is not None and value >= 0:
            system.capacities[name] = value
    return system


def apply_system(system: SystemView, event: Event) -> SystemView:
    """``system`` with ``event`` applied (see the module doc)."""
    kind = event.event_type
    if kind not in SYSTEM_TYPES or not remember(system.seen, event.event_id):
        return system
    moment = utc(event.timestamp)
    data = event.data
    if system.updated_at is None or moment > system.updated_at:
        system.updated_at = moment
    if kind == "RESOURCE_ALLOCATED":
        allocation_id = data.get("allocation_id")
        if isinstance(allocation_id, str):
            status = data.get("status")
            system.allocations[allocation_id] = SystemAllocation(
                allocation_id=allocation_id,
                workflow_id=event.workflow_id,
                status=status if isinstance(status, str) else None,
                agent_ids=strings(data.get("agent_ids")),
                amounts=amounts(data.get("resource_details")) or amounts(data),
                at=moment,
            )
    elif kind == "RESOURCE_DEALLOCATED":
        system.allocations.pop(str(data.get("allocation_id")), None)
    elif kind == "RESOURCE_CONFLICT":
        system.conflicts.append({**data, "workflow_id": event.workflow_id, "at": iso(moment)})
        keep_last(system.conflicts, SYSTEM_LIST_LIMIT)
    if kind == "RESOURCE_THRESHOLD":
        pool, capacity = data.get("resource_type"), number(data.get("capacity"))
        if isinstance(pool, str) and capacity is not None and capacity >= 0:
            system.capacities[pool] = capacity
    if kind in ALERT_TYPES:
        system.alerts.append(
            Alert(
                at=iso(moment) or "",
                event_type=kind,
                workflow_id=event.workflow_id,
                detail=dict(data),
            )
        )
        keep_last(system.alerts, SYSTEM_LIST_LIMIT)
    return system
