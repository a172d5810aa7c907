"""Component registry and component health from presence events (the protocol's "Health
Monitoring", docs/protocol.md).

:func:`observe_presence` records ``COMPONENT_REGISTERED``, ``COMPONENT_HEARTBEAT``,
``SYSTEM_STARTUP`` and ``SYSTEM_SHUTDOWN``; :func:`assess` derives each component's health:

- shut down (``SYSTEM_SHUTDOWN`` and no heartbeat since): ``unhealthy``, with its reason, at
  once;
- no heartbeat yet (since it registered or last started): ``unknown``;
- no heartbeat for more than ``2 * interval``: ``unhealthy`` (a stopped service turns
  unhealthy within two heartbeat intervals of its last heartbeat);
- otherwise the status its latest heartbeat reported; the next heartbeat after any of the
  above brings it back.

Freshness is judged on the monitor's clock (when a heartbeat was *observed*), so clock skew
between hosts cannot make a component look stale (:mod:`baton_monitor.registry` on the
ordering of a late heartbeat and a shutdown).

A component's dependencies are listed with their health: the statuses its heartbeat reports
(``kafka``, ``postgresql``, ...), overridden by the monitor's own assessment for the declared
dependencies that are registered components. They are listed, not folded into the
component's health: a component's own report already accounts for what it can observe.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, get_args

from baton.protocol.messages import HealthState
from baton_monitor.registry import (
    PRESENCE_EVENTS,
    ComponentRecord,
    HealthChange,
    Registry,
    observe_presence,
)
from baton_monitor.state import iso

__all__ = [
    "PRESENCE_EVENTS",
    "STALE_INTERVALS",
    "ComponentRecord",
    "HealthChange",
    "Registry",
    "assess",
    "component_health",
    "next_check",
    "observe_presence",
    "snapshot",
    "usage_values",
]

STALE_INTERVALS: Final = 2.0
"""Heartbeat intervals without a heartbeat after which a component is unhealthy."""
_STATES: Final = frozenset(get_args(HealthState))


def component_health(
    record: ComponentRecord, *, now: datetime, interval: float
) -> tuple[HealthState, str]:
    """A component's health at ``now`` and why (module doc)."""
    if record.shutdown_at is not None:
        return "unhealthy", f"shut down: {record.shutdown_reason or 'stopped'}"
    if record.last_heartbeat is None:
        return "unknown", "no heartbeat yet"
    age = (now - record.last_heartbeat).total_seconds()
    if age > STALE_INTERVALS * interval:
        limit = STALE_INTERVALS * interval
        return "unhealthy", f"no heartbeat for {age:.1f}s (limit {limit:g}s)"
    bad = [f"{n}: {s}" for n, s in sorted(record.reported_dependencies.items()) if s != "healthy"]
    suffix = f" ({', '.join(bad)})" if bad and record.reported != "healthy" else ""
    return record.reported, f"reported {record.reported}{suffix}"


def _check_interval(interval: float) -> None:
    if not interval > 0:
        raise ValueError(f"heartbeat interval must be positive, got {interval!r}")


def assess(
    registry: Registry, *, now: datetime, interval: float
) -> tuple[Registry, list[HealthChange]]:
    """Re-derive every component's health; the components whose health changed.

    Changes ``registry`` in place and returns it.

    Raises:
        ValueError: ``interval`` is not positive.
    """
    _check_interval(interval)
    changes: list[HealthChange] = []
    for component, record in sorted(registry.components.items()):
        health, reason = component_health(record, now=now, interval=interval)
        if health != record.health or record.since is None:
            if health != record.health:
                changes.append(
                    HealthChange(
                        component_id=component,
                        previous=record.health,
                        current=health,
                        reason=reason,
                    )
                )
            record.health, record.since = health, now
        record.reason = reason
    return registry, changes


def next_check(registry: Registry, *, interval: float) -> datetime | None:
    """The moment after which a component turns stale without further events, if any."""
    _check_interval(interval)
    limit = timedelta(seconds=STALE_INTERVALS * interval)
    due = [
        r.last_heartbeat + limit
        for r in registry.components.values()
        if r.last_heartbeat is not None and r.shutdown_at is None
    ]
    return min(due, default=None)


def _dependencies(
    registry: Registry, record: ComponentRecord, *, now: datetime, interval: float
) -> dict[str, HealthState]:
    out: dict[str, HealthState] = dict(record.reported_dependencies)
    for name in record.declared:
        known = registry.components.get(name)
        if known is not None:
            out[name] = component_health(known, now=now, interval=interval)[0]
        else:
            out.setdefault(name, "unknown")
    return dict(sorted(out.items()))


def usage_values(registry: Registry, *, now: datetime, interval: float) -> dict[str, float]:
    """``memory:<component>`` (MB) and ``cpu:<component>`` (%) of components heard lately."""
    out: dict[str, float] = {}
    for component, record in registry.components.items():
        if record.shutdown_at is not None or record.last_heartbeat is None:
            continue
        if (now - record.last_heartbeat).total_seconds() > STALE_INTERVALS * interval:
            continue
        if record.memory_mb is not None:
            out[f"memory:{component}"] = record.memory_mb
        if record.cpu_percent is not None:
            out[f"cpu:{component}"] = record.cpu_percent
    return out


def _optional(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def snapshot(registry: Registry, *, now: datetime, interval: float) -> dict[str, Any]:
    """Every component's health, reason and dependencies as JSON, and the overall status.

    Overall: ``unhealthy`` if any component is, else ``degraded`` if any is degraded or
    unknown, else ``healthy``; ``unknown`` before any component is seen.
    """
    _check_interval(interval)
    components: list[dict[str, Any]] = []
    counts = dict.fromkeys(sorted(_STATES), 0)
    for component, record in sorted(registry.components.items()):
        health, reason = component_health(record, now=now, interval=interval)
        counts[health] += 1
        age = (now - record.last_heartbeat).total_seconds() if record.last_heartbeat else None
        components.append(
            {
                "component_id": component,
                "health": health,
                "reason": reason,
                "since": _optional(record.since) if health == record.health else iso(now),
                "reported": record.reported,
                "last_heartbeat": _optional(record.last_heartbeat),
                "heartbeat_age": None if age is None else round(age, 3),
                "uptime": record.uptime,
                "component_type": record.component_type,
                "version": record.version,
                "capabilities": record.capabilities,
                "registered_at": _optional(record.registered_at),
                "started_at": _optional(record.started_at),
                "shutdown_reason": record.shutdown_reason if record.shutdown_at else None,
                "dependencies": _dependencies(registry, record, now=now, interval=interval),
                "resource_usage": {
                    "memory_mb": record.memory_mb,
                    "cpu_percent": record.cpu_percent,
                },
                "queue_size": record.queue_size,
            }
        )
    if not components:
        overall = "unknown"
    elif counts["unhealthy"]:
        overall = "unhealthy"
    elif counts["degraded"] or counts["unknown"]:
        overall = "degraded"
    else:
        overall = "healthy"
    return {
        "generated_at": iso(now),
        "status": overall,
        "interval": interval,
        "stale_after": STALE_INTERVALS * interval,
        "counts": counts,
        "components": components,
    }
