"""Leases (auto release, renewal) and utilisation threshold events."""

from __future__ import annotations

from baton_resource.allocator import Allocator
from tests.unit.resource.support import (
    T0,
    allocator,
    assert_publishable,
    at,
    event_types,
    make,
    pools,
)


def test_an_expired_lease_is_released_and_the_queue_served() -> None:
    manager = allocator(agents=2)
    held = manager.request(make("req_1", "wf_a", agents=2, hours=1), now=T0)
    assert held.response.restrictions.auto_release_timeout == "1h30m"
    manager.request(make("req_2", "wf_b", agents=2), now=at(1))
    assert manager.expire(now=at(89)).changed is False
    outcome = manager.expire(now=at(90))
    assert outcome.released == ["alloc_1"]
    assert outcome.events[0].data["release_reason"] == "auto_release_timeout"
    assert [r.request_id for r in outcome.granted] == ["req_2"]
    assert event_types(outcome.events)[:2] == ["RESOURCE_DEALLOCATED", "RESOURCE_ALLOCATED"]
    assert_publishable(outcome.events)


def test_renewal_pushes_the_deadline_and_never_pulls_it_back() -> None:
    manager = allocator()
    manager.request(make("req_1", "wf_a", hours=1), now=T0)
    assert manager.renew("alloc_1", now=at(60)) == at(150)
    assert manager.renew("alloc_1", now=at(61), hours=0.1) == at(150)
    assert manager.renew("alloc_1", now=at(100), hours=2) == at(100 + 180)
    assert manager.expire(now=at(279)).changed is False
    assert manager.expire(now=at(280)).released == ["alloc_1"]
    assert manager.renew("alloc_1", now=at(281)) is None


def test_an_overrunning_allocation_is_expected_back_at_its_deadline() -> None:
    manager = allocator(agents=1)
    manager.request(make("req_1", "wf_a", hours=1), now=T0)
    # Past its expected end (60 min): the lease (90 min) is the latest it can be held.
    waiting = manager.request(make("req_2", "wf_b"), now=at(70))
    assert waiting.response.estimated_start == "20m"


def test_a_zero_hour_allocation_still_gets_a_minute() -> None:
    manager = allocator()
    response = manager.request(make("req_1", "wf_a", hours=0), now=T0).response
    assert response.restrictions.auto_release_timeout == "1m"


def test_threshold_events_once_per_crossing() -> None:
    manager = allocator(agents=5)
    first = manager.request(make("req_1", "wf_a", agents=3), now=T0)
    assert "RESOURCE_THRESHOLD" not in event_types(first.events)
    crossing = manager.request(make("req_2", "wf_b", agents=1), now=T0)
    [threshold] = [e for e in crossing.events if e.event_type == "RESOURCE_THRESHOLD"]
    assert (threshold.workflow_id, threshold.phase) == ("global", "global")
    assert threshold.data == {
        "resource_type": "agents",
        "current_usage": 80.0,
        "threshold": 80.0,
        "used": 4,
        "capacity": 5,
    }
    assert_publishable([threshold])
    still_above = manager.request(make("req_3", "wf_c", agents=1), now=T0)
    assert "RESOURCE_THRESHOLD" not in event_types(still_above.events)
    manager.release(now=at(1), allocation_id="alloc_3", reason="completed")
    assert "RESOURCE_THRESHOLD" not in event_types(
        manager.release(now=at(1), allocation_id="alloc_1", reason="completed").events
    )
    again = manager.request(make("req_4", "wf_d", agents=3), now=at(2))
    assert event_types(again.events) == ["RESOURCE_ALLOCATED", "RESOURCE_THRESHOLD"]
    assert again.events[1].data["current_usage"] == 80.0


def test_thresholds_are_configurable_per_pool() -> None:
    manager = Allocator(pools=pools(4, memory_gb=10), thresholds={"default": 95, "memory_gb": 50})
    outcome = manager.request(make("req_1", "wf_a", agents=3, memory_gb=6), now=T0)
    breaches = [
        e.data["resource_type"] for e in outcome.events if e.event_type == "RESOURCE_THRESHOLD"
    ]
    assert breaches == ["memory_gb"]


def test_breaches_survive_a_restart_without_repeating_the_event() -> None:
    manager = allocator(agents=1)
    assert "RESOURCE_THRESHOLD" in event_types(
        manager.request(make("req_1", "wf_a"), now=T0).events
    )
    restored = Allocator(pools=manager.pools, state=manager.state)
    assert restored.state.breached == ["agents"]
    outcome = restored.release(now=at(1), allocation_id="alloc_1", reason="done")
    assert "RESOURCE_THRESHOLD" not in event_types(outcome.events)
    assert restored.state.breached == []
