"""Component health from registrations, heartbeats, startups and shutdowns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton.protocol.event import Event
from baton.protocol.messages import ComponentRegistration, HealthStatus
from baton_monitor.health import (
    HealthChange,
    Registry,
    assess,
    next_check,
    observe_presence,
    snapshot,
    usage_values,
)
from tests.unit.monitor.support import at, event

INTERVAL = 10.0
HUB = "coordination-hub"


def _registered(component: str, *, sent: float, dependencies: list[str] | None = None) -> Event:
    registration = ComponentRegistration(
        component_id=component, version="1.2.3", dependencies=dependencies or []
    )
    return event(
        "COMPONENT_REGISTERED",
        phase=component,
        sent=sent,
        component_registration=registration.model_dump(mode="json"),
    )


def _heartbeat(component: str, *, sent: float, status: str = "healthy", **extra: Any) -> Event:
    report = HealthStatus(
        component_id=component,
        timestamp=at(sent),
        status=status,
        uptime="2h30m",
        dependencies={"kafka": "healthy", "postgresql": "healthy"},
        **extra,
    )
    return event("COMPONENT_HEARTBEAT", phase=component, sent=sent,
                 health_status=report.model_dump(mode="json"))  # fmt: skip


def _see(registry: Registry, item: Event, *, now: float) -> list[HealthChange]:
    observe_presence(registry, item, now=at(now))
    return assess(registry, now=at(now), interval=INTERVAL)[1]


def _health(registry: Registry, component: str = HUB) -> str:
    return registry.components[component].health


def test_a_component_is_unknown_until_its_first_heartbeat() -> None:
    registry = Registry()
    assert _see(registry, _registered(HUB, sent=0), now=0) == []
    assert _health(registry) == "unknown"
    [change] = _see(registry, _heartbeat(HUB, sent=1), now=1)
    assert (change.previous, change.current, change.reason) == (
        "unknown",
        "healthy",
        "reported healthy",
    )


def test_a_silent_component_is_unhealthy_within_two_intervals_and_back_on_its_next_beat() -> None:
    registry = Registry()
    for beat in range(0, 50, 10):
        _see(registry, _heartbeat(HUB, sent=beat), now=beat + 0.1)
    last = 40.1  # the service stops after its heartbeat at 40 s
    assert assess(registry, now=at(last + 2 * INTERVAL), interval=INTERVAL)[1] == []
    assert next_check(registry, interval=INTERVAL) == at(last + 2 * INTERVAL)
    _, [change] = assess(registry, now=at(last + 2 * INTERVAL + 0.001), interval=INTERVAL)
    assert (change.component_id, change.current) == (HUB, "unhealthy")
    assert change.reason == "no heartbeat for 20.0s (limit 20s)"
    assert assess(registry, now=at(200), interval=INTERVAL)[1] == []  # reported once
    [back] = _see(registry, _heartbeat(HUB, sent=300), now=300)
    assert (back.previous, back.current) == ("unhealthy", "healthy")


def test_a_shutdown_is_unhealthy_at_once_with_its_reason() -> None:
    registry = Registry()
    _see(registry, _heartbeat(HUB, sent=0), now=0)
    shutdown = event("SYSTEM_SHUTDOWN", phase=HUB, sent=3, component_name=HUB,
                     shutdown_reason="SIGTERM")  # fmt: skip
    [change] = _see(registry, shutdown, now=3)
    assert (change.current, change.reason) == ("unhealthy", "shut down: SIGTERM")
    assert next_check(registry, interval=INTERVAL) is None
    # A heartbeat sent before the shutdown, observed after it, is not a sign of life.
    assert _see(registry, _heartbeat(HUB, sent=2), now=4) == []
    startup = event("SYSTEM_STARTUP", phase=HUB, sent=30, component_name=HUB, version="1.2.4",
                    capabilities=["x"])  # fmt: skip
    [restarting] = _see(registry, startup, now=30)
    assert (restarting.current, registry.components[HUB].version) == ("unknown", "1.2.4")
    assert _see(registry, _heartbeat(HUB, sent=31), now=31)[0].current == "healthy"


def test_the_reported_status_counts_while_heartbeats_are_fresh() -> None:
    registry = Registry()
    _see(registry, _heartbeat(HUB, sent=0), now=0)
    degraded = _heartbeat(HUB, sent=10, status="degraded")
    degraded.data["health_status"]["dependencies"]["postgresql"] = "unhealthy"
    [change] = _see(registry, degraded, now=10)
    assert (change.current, change.reason) == (
        "degraded",
        "reported degraded (postgresql: unhealthy)",
    )


def test_dependencies_are_listed_from_heartbeats_and_from_other_components() -> None:
    registry = Registry()
    _see(registry, _registered("resource-manager", sent=0, dependencies=[HUB, "ledger"]), now=0)
    _see(registry, _heartbeat("resource-manager", sent=1), now=1)
    _see(registry, _heartbeat(HUB, sent=1), now=1)
    shutdown = event("SYSTEM_SHUTDOWN", phase=HUB, sent=2, component_name=HUB, shutdown_reason="x")
    _see(registry, shutdown, now=2)
    view = snapshot(registry, now=at(3), interval=INTERVAL)
    manager = next(c for c in view["components"] if c["component_id"] == "resource-manager")
    assert manager["dependencies"] == {
        HUB: "unhealthy",
        "kafka": "healthy",
        "ledger": "unknown",
        "postgresql": "healthy",
    }
    assert manager["health"] == "healthy"  # listed, not folded in
    assert view["status"] == "unhealthy"
    assert view["counts"] == {"degraded": 0, "healthy": 1, "unhealthy": 1, "unknown": 0}
    assert json.loads(json.dumps(view)) == view


def test_overall_status_and_an_empty_registry() -> None:
    registry = Registry()
    assert snapshot(registry, now=at(0), interval=INTERVAL)["status"] == "unknown"
    _see(registry, _heartbeat(HUB, sent=0), now=0)
    assert snapshot(registry, now=at(1), interval=INTERVAL)["status"] == "healthy"
    _see(registry, _registered("status", sent=1), now=1)
    assert snapshot(registry, now=at(2), interval=INTERVAL)["status"] == "degraded"
    with pytest.raises(ValueError, match="positive"):
        assess(registry, now=at(2), interval=0)


def test_resource_usage_from_fresh_heartbeats_feeds_thresholds() -> None:
    registry = Registry()
    usage = {"resource_usage": {"memory_mb": 256, "cpu_percent": 12.3}}
    _see(registry, _heartbeat(HUB, sent=0, performance_metrics=usage), now=0)
    assert usage_values(registry, now=at(5), interval=INTERVAL) == {
        f"memory:{HUB}": 256.0,
        f"cpu:{HUB}": 12.3,
    }
    assert usage_values(registry, now=at(25), interval=INTERVAL) == {}


def test_other_events_and_anonymous_presence_are_ignored() -> None:
    registry = Registry()
    observe_presence(registry, event("TASK_COMPLETED", "wf_1", task_id="t"), now=at(0))
    observe_presence(registry, event("COMPONENT_HEARTBEAT", health_status="odd"), now=at(0))
    assert registry.components == {}
    observe_presence(registry, event("COMPONENT_HEARTBEAT", source="agent-7"), now=at(0))
    assert registry.components["agent-7"].reported == "unknown"


def test_the_registry_round_trips_through_json() -> None:
    registry = Registry()
    _see(registry, _registered(HUB, sent=0, dependencies=["kafka"]), now=0)
    _see(registry, _heartbeat(HUB, sent=1), now=1)
    restored = Registry.model_validate_json(registry.model_dump_json())
    assert restored == registry
    assert assess(restored, now=at(40), interval=INTERVAL)[1][0].current == "unhealthy"
