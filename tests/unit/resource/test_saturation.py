"""Saturation feedback: held priorities wait while the monitor reports saturation."""

from __future__ import annotations

from baton_resource.allocator import Allocator
from baton_resource.records import AllocatorState
from tests.unit.resource.support import T0, allocator, at, make


def saturate(manager: Allocator, reason: str = "latency_p95 7.2 > 5") -> None:
    outcome = manager.saturation(saturated=True, reason=reason, now=T0)
    assert outcome.changed


def test_low_priority_queues_with_the_reason_while_saturated() -> None:
    manager = allocator(agents=4)
    saturate(manager)
    held = manager.request(make("req_low", "wf_low", priority="low"), now=at(1))
    assert held.response.status == "queued"
    assert held.response.queue_position == 1
    assert held.reason == "held back while the system is saturated (latency_p95 7.2 > 5)"
    first = held.response.alternatives[0].model_dump()
    assert first["option"] == "wait_for_saturation_clear"
    assert first["reason"] == "system saturated: latency_p95 7.2 > 5"
    # Higher priorities are admitted at once, past the held request.
    assert (
        manager.request(make("req_high", "wf_high", priority="high"), now=at(2)).response.status
        == "approved"
    )
    assert manager.status(now=at(2))["saturation"]["held"] == ["low"]


def test_clearing_saturation_serves_the_held_requests() -> None:
    manager = allocator(agents=4)
    saturate(manager)
    manager.request(make("req_low", "wf_low", priority="low"), now=at(1))
    # A release while saturated does not admit it either.
    manager.request(make("req_med", "wf_med", priority="medium", agents=1), now=at(2))
    released = manager.release(now=at(3), workflow_id="wf_med", reason="done")
    assert released.granted == []
    cleared = manager.saturation(saturated=False, reason="", now=at(4))
    assert [g.request_id for g in cleared.granted] == ["req_low"]
    assert any(e.event_type == "RESOURCE_ALLOCATED" for e in cleared.events)
    assert manager.status(now=at(4))["saturation"] is None


def test_same_verdict_twice_changes_nothing_and_state_round_trips() -> None:
    manager = allocator(agents=2)
    saturate(manager)
    assert not manager.saturation(saturated=True, reason="latency_p95 7.2 > 5", now=at(1)).changed
    assert manager.saturation(
        saturated=True, reason="consumer_lag 20000 > 10000", now=at(2)
    ).changed
    assert not manager.saturation(saturated=False, reason="", now=at(3)).granted
    assert not manager.saturation(saturated=False, reason="", now=at(4)).changed
    saturate(manager)
    state = AllocatorState.model_validate(manager.state_json())
    assert state.saturation is not None
    assert state.saturation.reason == "latency_p95 7.2 > 5"


def test_feedback_can_be_switched_off_or_widened() -> None:
    off = allocator(agents=2, hold_when_saturated=frozenset())
    saturate(off)
    assert off.request(make("r1", "wf_1", priority="low"), now=T0).response.status == "approved"
    wide = allocator(agents=2, hold_when_saturated=frozenset({"low", "medium"}))
    saturate(wide)
    assert wide.request(make("r2", "wf_2", priority="medium"), now=T0).response.status == "queued"
    assert wide.request(make("r3", "wf_3", priority="high"), now=T0).response.status == "approved"
