"""Seed 002, "Multi-Workflow Coordination": two workflows competing for four agents."""

from __future__ import annotations

from baton.protocol.duration import parse_duration
from tests.unit.resource.support import T0, allocator, assert_publishable, at, event_types, make


def test_feature_runs_bug_fix_waits_for_it_then_runs() -> None:
    manager = allocator(agents=4)
    feature = make("req_feature", "feature_dev_001", agents=3, priority="high", hours=4)
    bug_fix = make("req_bug", "bug_fix_002", agents=2, priority="medium", hours=2)

    first = manager.request(feature, now=T0)
    assert first.response.status == "approved"
    assert first.response.allocated_resources is not None
    assert first.response.allocated_resources.agents == 3
    alloc_id = first.response.allocated_resources.allocation_id
    assert event_types(first.events) == ["RESOURCE_ALLOCATED"]
    assert first.events[0].workflow_id == "feature_dev_001"
    assert first.events[0].data["allocation_id"] == alloc_id

    second = manager.request(bug_fix, now=T0)
    assert second.response.status == "queued"
    assert second.response.queue_position == 1
    assert second.response.allocated_resources is None
    # The feature holds 3 of 4 agents for 4 hours: the bug fix starts when it ends.
    assert second.response.estimated_start == "4h"
    [delayed] = second.response.alternatives
    assert delayed.option == "delayed_allocation"
    assert delayed.available_at == at(240)
    assert delayed.full_resources is True
    assert second.events == []

    status = manager.status(now=at(60))
    assert [q["request_id"] for q in status["queue"]] == ["req_bug"]
    assert parse_duration(status["queue"][0]["estimated_start"]) == 3 * 3600

    released = manager.release(now=at(230), allocation_id=alloc_id, reason="completed")
    assert released.released == [alloc_id]
    [granted] = released.granted
    assert granted.request_id == "req_bug"
    assert granted.status == "approved"
    assert granted.allocated_resources is not None
    assert granted.allocated_resources.agents == 2
    assert event_types(released.events) == ["RESOURCE_DEALLOCATED", "RESOURCE_ALLOCATED"]
    assert released.events[0].data["release_reason"] == "completed"
    assert released.events[1].workflow_id == "bug_fix_002"
    assert manager.status(now=at(230))["queue"] == []
    assert_publishable([*first.events, *released.events])
