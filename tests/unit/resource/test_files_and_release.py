"""Exclusive files, conflicts, shared access, releases and cancellations."""

from __future__ import annotations

import pytest

from tests.unit.resource.support import T0, allocator, assert_publishable, at, event_types, make


def test_a_held_file_is_a_conflict_and_the_request_queues() -> None:
    manager = allocator()
    manager.request(make("req_a", "wf_a", files=["config.nix"], hours=2), now=T0)
    outcome = manager.request(make("req_b", "wf_b", files=["config.nix", "home.nix"]), now=T0)
    assert outcome.response.status == "queued"
    assert outcome.response.estimated_start == "2h"
    assert outcome.reason == "exclusive files held by other workflows: config.nix"
    [conflict] = outcome.events
    assert conflict.event_type == "RESOURCE_CONFLICT"
    assert conflict.workflow_id == "wf_b"
    assert conflict.data["conflict_id"] == "conflict_b"
    assert conflict.data["conflicting_requests"] == ["req_b", "req_a"]
    assert conflict.data["severity"] == "medium"
    assert conflict.data["files"] == ["config.nix"]
    assert conflict.data["held_by"] == [{"allocation_id": "alloc_a", "workflow_id": "wf_a"}]
    assert_publishable(outcome.events)

    status = manager.status(now=T0)
    assert status["exclusive_files"] == {"config.nix": ["alloc_a"]}
    released = manager.release(now=at(90), allocation_id="alloc_a", reason="completed")
    assert [r.request_id for r in released.granted] == ["req_b"]
    assert manager.status(now=at(90))["exclusive_files"] == {
        "config.nix": ["alloc_b"],
        "home.nix": ["alloc_b"],
    }


def test_a_conflict_that_may_not_queue_is_denied_with_high_severity() -> None:
    manager = allocator()
    manager.request(make("req_a", "wf_a", files=["f"]), now=T0)
    outcome = manager.request(make("req_b", "wf_b", files=["f"], queue=False), now=T0)
    assert outcome.response.status == "denied"
    assert event_types(outcome.events) == ["RESOURCE_CONFLICT"]
    assert outcome.events[0].data["severity"] == "high"
    assert outcome.events[0].data["resolution"] == "denied"


def test_files_are_shared_when_both_sides_accept_sharing() -> None:
    manager = allocator()
    manager.request(make("req_a", "wf_a", files=["f", "g"], shared=True), now=T0)
    outcome = manager.request(make("req_b", "wf_b", files=["f"], shared=True), now=T0)
    assert outcome.response.status == "approved"
    assert outcome.response.restrictions.monitoring_required is True
    assert outcome.response.restrictions.performance_limits["shared_files"] == "f"
    assert event_types(outcome.events) == ["RESOURCE_ALLOCATED"]
    assert outcome.events[0].data["shared_files"] == ["f"]
    assert manager.status(now=T0)["exclusive_files"]["f"] == ["alloc_a", "alloc_b"]


@pytest.mark.parametrize(
    ("holder_shares", "newcomer_shares"), [(False, True), (True, False), (False, False)]
)
def test_sharing_needs_the_consent_of_both(holder_shares: bool, newcomer_shares: bool) -> None:
    manager = allocator()
    manager.request(make("req_a", "wf_a", files=["f"], shared=holder_shares), now=T0)
    outcome = manager.request(make("req_b", "wf_b", files=["f"], shared=newcomer_shares), now=T0)
    assert outcome.response.status == "queued"
    assert event_types(outcome.events) == ["RESOURCE_CONFLICT"]


def test_sharing_needs_relaxed_isolation_and_some_tolerance() -> None:
    manager = allocator()
    manager.request(make("req_a", "wf_a", files=["f"], shared=True), now=T0)
    strict = make("req_b", "wf_b", files=["f"], shared=True)
    strict.constraints.isolation_level = "moderate"
    assert manager.request(strict, now=T0).response.status == "queued"
    intolerant = make("req_c", "wf_c", files=["f"], shared=True)
    intolerant.constraints.conflict_tolerance = "none"
    assert manager.request(intolerant, now=T0).response.status == "queued"


def test_one_workflow_may_hold_its_file_in_two_allocations() -> None:
    manager = allocator()
    manager.request(make("req_a", "wf_a", files=["f"]), now=T0)
    outcome = manager.request(make("req_b", "wf_a", files=["f"]), now=T0)
    assert outcome.response.status == "approved"
    assert outcome.response.restrictions.performance_limits.get("shared_files") is None


def test_release_of_a_workflow_frees_everything_and_drops_its_queue() -> None:
    manager = allocator(agents=2)
    manager.request(make("req_1", "wf_a"), now=T0)
    manager.request(make("req_2", "wf_a"), now=T0)
    manager.request(make("req_3", "wf_a"), now=T0)
    manager.request(make("req_4", "wf_b"), now=T0)
    outcome = manager.release(now=at(5), workflow_id="wf_a", reason="workflow_completed")
    assert outcome.released == ["alloc_1", "alloc_2"]
    assert outcome.cancelled == ["req_3"]
    assert [r.request_id for r in outcome.granted] == ["req_4"]
    assert event_types(outcome.events) == [
        "RESOURCE_DEALLOCATED",
        "RESOURCE_DEALLOCATED",
        "RESOURCE_ALLOCATED",
    ]
    cancelled = manager.answer_for(request_id="req_3", now=at(5))
    assert cancelled is not None
    assert cancelled.status == "denied"
    assert_publishable(outcome.events)


def test_releasing_twice_or_something_unknown_changes_nothing() -> None:
    manager = allocator()
    manager.request(make("req_1", "wf_a"), now=T0)
    first = manager.release(now=at(1), allocation_id="alloc_1", reason="completed")
    assert first.changed
    before = manager.state
    again = manager.release(now=at(2), allocation_id="alloc_1", reason="completed")
    unknown = manager.release(now=at(2), workflow_id="wf_zzz", reason="failed")
    assert not again.changed
    assert again.events == unknown.events == []
    assert manager.state == before


def test_release_and_cancel_need_exactly_one_target() -> None:
    manager = allocator()
    with pytest.raises(ValueError, match="exactly one"):
        manager.release(now=T0, reason="x")
    with pytest.raises(ValueError, match="exactly one"):
        manager.release(now=T0, allocation_id="a", workflow_id="w", reason="x")
    with pytest.raises(ValueError, match="exactly one"):
        manager.cancel_request(now=T0)


def test_cancel_removes_a_queued_request_and_serves_the_ones_it_held_back() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_run", "wf_a", agents=3, hours=2), now=T0)
    manager.request(make("req_big", "wf_b", agents=4, priority="high"), now=T0)
    small = manager.request(make("req_small", "wf_c", agents=1), now=T0)
    # req_big is first in line and reserves the agent it will need: req_small waits.
    assert small.response.status == "queued"
    assert small.reason == "resources reserved for the higher-ranked request req_big"
    outcome = manager.cancel_request(now=at(1), request_id="req_big")
    assert outcome.cancelled == ["req_big"]
    assert [r.request_id for r in outcome.granted] == ["req_small"]
    assert manager.cancel_request(now=at(2), request_id="req_big").changed is False
    assert manager.cancel_request(now=at(2), workflow_id="wf_a").changed is False
