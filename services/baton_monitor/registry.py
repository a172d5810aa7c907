"""The component registry: what presence events say about each component.

:func:`observe_presence` records ``COMPONENT_REGISTERED``, ``COMPONENT_HEARTBEAT``,
``SYSTEM_STARTUP`` and ``SYSTEM_SHUTDOWN`` (data as published by ``baton.runtime.presence``,
read leniently: a missing or odd field is left unknown, never an error) into a
:class:`Registry`. :mod:`baton_monitor.health` derives health from it.

Times: ``last_heartbeat`` and ``shutdown_at`` are the monitor's clock (when observed);
``heartbeat_sent`` and ``shutdown_sent`` are event times, compared only between events of the
same component (one publisher, one partition), so that a heartbeat sent before a shutdown but
observed after it does not revive the component.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, get_args

from pydantic import BaseModel, ConfigDict, Field

from baton.protocol.event import Event
from baton.protocol.fields import number, text
from baton.protocol.messages import HealthState

__all__ = [
    "PRESENCE_EVENTS",
    "ComponentRecord",
    "HealthChange",
    "Registry",
    "component_of",
    "observe_presence",
]

PRESENCE_EVENTS: Final = frozenset(
    {"COMPONENT_REGISTERED", "COMPONENT_HEARTBEAT", "SYSTEM_STARTUP", "SYSTEM_SHUTDOWN"}
)
"""Event types :func:`observe_presence` reads."""
_STATES: Final = frozenset(get_args(HealthState))


class ComponentRecord(BaseModel):
    """What the monitor knows about one component."""

    model_config = ConfigDict(extra="forbid")

    component_id: str
    """The component."""
    component_type: str | None = None
    """From its registration."""
    version: str | None = None
    """From its registration or startup."""
    capabilities: list[str] = Field(default_factory=list)
    """From its registration or startup."""
    declared: list[str] = Field(default_factory=list)
    """Dependencies named in its registration."""
    registered_at: datetime | None = None
    """When its registration was observed."""
    started_at: datetime | None = None
    """When its latest ``SYSTEM_STARTUP`` was observed."""
    last_heartbeat: datetime | None = None
    """When its latest heartbeat was observed (monitor's clock)."""
    heartbeat_sent: datetime | None = None
    """Event time of that heartbeat."""
    reported: HealthState = "unknown"
    """Status of that heartbeat."""
    reported_dependencies: dict[str, HealthState] = Field(default_factory=dict)
    """Dependency health reported by that heartbeat."""
    uptime: str | None = None
    """Uptime reported by that heartbeat."""
    memory_mb: float | None = None
    """Memory reported by that heartbeat (MB)."""
    cpu_percent: float | None = None
    """CPU reported by that heartbeat (% of one core)."""
    queue_size: int | None = None
    """Queue size reported by that heartbeat."""
    shutdown_at: datetime | None = None
    """When a ``SYSTEM_SHUTDOWN`` not followed by a heartbeat was observed."""
    shutdown_sent: datetime | None = None
    """Event time of the latest ``SYSTEM_SHUTDOWN``."""
    shutdown_reason: str | None = None
    """Its ``shutdown_reason``."""
    health: HealthState = "unknown"
    """Health at the latest :func:`assess`."""
    reason: str = "no heartbeat yet"
    """Why it has that health."""
    since: datetime | None = None
    """When it got that health."""


class Registry(BaseModel):
    """Every component seen, by id."""

    model_config = ConfigDict(extra="forbid")

    components: dict[str, ComponentRecord] = Field(default_factory=dict)
    """The components."""


class HealthChange(BaseModel):
    """Data of ``COMPONENT_HEALTH_CHANGED:global:<component>:{...}``."""

    model_config = ConfigDict(extra="forbid")

    component_id: str
    """The component."""
    previous: HealthState
    """Its health before."""
    current: HealthState
    """Its health now."""
    reason: str
    """Why it changed."""


def _state(value: Any) -> HealthState:
    return value if value in _STATES else "unknown"


def _component_id(event: Event, body: dict[str, Any]) -> str | None:
    named = text(body.get("component_id")) or text(event.data.get("component_name"))
    if named is not None:
        return named
    return event.phase if event.phase != "global" else text(event.source)


def _heartbeat(record: ComponentRecord, event: Event, body: dict[str, Any], now: datetime) -> None:
    if record.shutdown_sent is not None and event.timestamp < record.shutdown_sent:
        return  # sent before the shutdown, observed after it: not a sign of life
    record.last_heartbeat, record.heartbeat_sent = now, event.timestamp
    record.reported = _state(body.get("status"))
    deps = body.get("dependencies")
    deps = deps if isinstance(deps, dict) else {}
    record.reported_dependencies = {str(k): _state(v) for k, v in deps.items()}
    record.uptime = text(body.get("uptime"))
    metrics = body.get("performance_metrics")
    usage = metrics.get("resource_usage") if isinstance(metrics, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    record.memory_mb = number(usage.get("memory_mb"))
    record.cpu_percent = number(usage.get("cpu_percent"))
    size = number(body.get("queue_size"))
    record.queue_size = None if size is None else int(size)
    record.shutdown_at = None


def _body(event: Event) -> dict[str, Any]:
    key = {"COMPONENT_REGISTERED": "component_registration", "COMPONENT_HEARTBEAT": "health_status"}
    body = event.data.get(key.get(event.event_type, ""))
    return body if isinstance(body, dict) else {}


def component_of(event: Event) -> str | None:
    """The component a presence event is about; None for other events (or if it names none)."""
    if event.event_type not in PRESENCE_EVENTS:
        return None
    return _component_id(event, _body(event))


def observe_presence(registry: Registry, event: Event, *, now: datetime) -> Registry:
    """Record a presence event observed at ``now`` (others are ignored); in place, returned."""
    component = component_of(event)
    if component is None:
        return registry
    body = _body(event)
    record = registry.components.get(component)
    if record is None:
        record = registry.components[component] = ComponentRecord(component_id=component)
    if event.event_type == "COMPONENT_HEARTBEAT":
        _heartbeat(record, event, body, now)
        return registry
    if event.event_type == "SYSTEM_SHUTDOWN":
        record.shutdown_at, record.shutdown_sent = now, event.timestamp
        record.shutdown_reason = text(event.data.get("shutdown_reason")) or "stopped"
        return registry
    if record.shutdown_sent is not None and event.timestamp < record.shutdown_sent:
        return registry  # an older life's announcement, observed late
    source = body if event.event_type == "COMPONENT_REGISTERED" else event.data
    record.version = text(source.get("version")) or record.version
    caps = source.get("capabilities")
    if isinstance(caps, list):
        record.capabilities = [str(c) for c in caps]
    if event.event_type == "COMPONENT_REGISTERED":
        record.registered_at = now
        record.component_type = text(body.get("component_type"))
        deps = body.get("dependencies")
        record.declared = [str(d) for d in deps] if isinstance(deps, list) else []
    else:
        # A fresh start: the old life's heartbeats say nothing about the new one.
        record.started_at, record.last_heartbeat, record.shutdown_at = now, None, None
    return registry
