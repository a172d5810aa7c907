"""Projecting system-wide events and the resource manager's state onto the
:class:`~baton_status.views.SystemView`.

- The pools (capacity, used, free, utilisation) are the resource manager's own figures, from
  its state sync (:func:`apply_resource_state`): the newest state replaces them whole.
  Newest: a higher ``state_version`` (a skipped version is no matter: each state is
  complete), or a lower one published clearly later (more than :data:`CLOCK_SKEW` after),
  which means the resource manager's state was started afresh (its database reset); the
  margin keeps an old state handled late (after a retry) from passing for a fresh start
  when two replicas' clocks differ. Allocation events do not change them: adding them up
  gave figures the resource manager never held (any ``RESOURCE_ALLOCATED`` line on the bus
  counted, a release missed or not yet read never left, partitions read at different
  offsets mixed different moments).
- ``RESOURCE_CONFLICT`` joins the conflicts; ``SYSTEM_THRESHOLD``, ``RESOURCE_THRESHOLD``,
  ``AGENT_PERFORMANCE_ALERT``, ``ESCALATION_REQUIRED`` and ``DEPENDENCY_TIMEOUT`` join the
  alerts (the newest :data:`~baton_status.views.SYSTEM_LIST_LIMIT` of each are kept).

Like :func:`baton_status.projection.apply`, :func:`apply_system` updates the view in place,
returns it, ignores a repeated event id, and takes the time from the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from baton.protocol.event import Event
from baton.protocol.fields import number
from baton.protocol.messages import ResourceState
from baton.statesync import detect_conflict
from baton_status.api_models import Alert
from baton_status.views import (
    SYSTEM_LIST_LIMIT,
    PoolRecord,
    SystemView,
    iso,
    keep_last,
    remember,
    utc,
)

__all__ = [
    "ALERT_TYPES",
    "CLOCK_SKEW",
    "SYSTEM_TYPES",
    "amounts",
    "apply_resource_state",
    "apply_system",
]

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

SYSTEM_TYPES: Final = ALERT_TYPES | {"RESOURCE_CONFLICT"}
"""Event types :func:`apply_system` uses (the others change nothing)."""

CLOCK_SKEW: Final = timedelta(seconds=5)
"""How far the clocks of two resource manager replicas may differ (module doc)."""


def amounts(details: Any) -> dict[str, float]:
    """Pool name → amount in resource requirements or an allocation's ``resource_details``
    (unknown fields ignored)."""
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


def apply_resource_state(system: SystemView, state: ResourceState) -> bool:
    """Take the pools of ``state`` when it is the newest (module doc); False when it is not.

    Updates ``system`` in place.
    """
    held, moment = system.resource_version, utc(state.timestamp)
    if held is not None:
        kind = detect_conflict(current_version=held, incoming_version=state.state_version)
        afresh = state.state_version < held and (
            system.resource_at is None or moment > system.resource_at + CLOCK_SKEW
        )
        if kind == "stale" and not afresh:
            return False
    system.pools = {
        name: PoolRecord(
            capacity=pool.capacity, used=pool.used, free=pool.free, utilisation=pool.utilisation
        )
        for name, pool in state.pools.items()
    }
    system.resource_version = state.state_version
    system.resource_at = moment
    if system.updated_at is None or moment > system.updated_at:
        system.updated_at = moment
    return True


def apply_system(system: SystemView, event: Event) -> SystemView:
    """``system`` with ``event`` applied (see the module doc)."""
    kind = event.event_type
    if kind not in SYSTEM_TYPES or not remember(system.seen, event.event_id):
        return system
    moment = utc(event.timestamp)
    data = event.data
    if system.updated_at is None or moment > system.updated_at:
        system.updated_at = moment
    if kind == "RESOURCE_CONFLICT":
        system.conflicts.append({**data, "workflow_id": event.workflow_id, "at": iso(moment)})
        keep_last(system.conflicts, SYSTEM_LIST_LIMIT)
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
