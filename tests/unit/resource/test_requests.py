"""Answers to allocation requests: approved, partial, queued, denied, and repeats."""

from __future__ import annotations

import pytest

from baton.protocol.messages import AllocationRequest
from baton_resource.allocator import Allocator
from baton_resource.pools import ResourcePools
from tests.unit.resource.support import T0, allocator, assert_publishable, at, event_types, make


def test_a_request_that_fits_is_approved_with_a_lease() -> None:
    manager = allocator()
    outcome = manager.request(make("req_a", "wf_a", agents=2, memory_gb=5, hours=2), now=T0)
    response = outcome.response
    assert response.status == "approved"
    assert response.request_id == "req_a"
    assert response.allocated_resources is not None
    assert response.allocated_resources.allocation_id == "alloc_a"
    assert response.restrictions.auto_release_timeout == "3h"
    assert response.restrictions.performance_limits == {"memory_per_agent": "2.5GB"}
    assert response.restrictions.monitoring_required is False
    [event] = outcome.events
    assert event.data["resource_details"]["agents"] == 2
    assert event.data["requester"] == "coordination-hub"
    assert event.data["request_id"] == "req_a"
    assert event.data["priority"] == "medium"
    assert_publishable(outcome.events)


def test_reduce_agents_gives_a_partial_grant_with_memory_scaled() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_big", "wf_1", agents=2), now=T0)
    asked = make("req_p", "wf_2", agents=5, memory_gb=10, cpu_cores=5, reduce_agents=True)
    outcome = manager.request(asked, now=T0)
    response = outcome.response
    assert response.status == "partial"
    held = response.allocated_resources
    assert held is not None
    assert (held.agents, held.memory_gb, held.cpu_cores) == (2, 4.0, 2.0)
    assert response.restrictions.monitoring_required is True
    assert response.restrictions.performance_limits["memory_per_agent"] == "2GB"
    # The full request can never start: the pools hold 4 agents, it asked 5.
    assert response.alternatives == []
    assert event_types(outcome.events) == ["RESOURCE_ALLOCATED", "RESOURCE_THRESHOLD"]
    assert outcome.events[0].data["status"] == "partial"


def test_partial_grant_tells_when_the_full_request_could_start() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_x", "wf_1", agents=3, hours=2), now=T0)
    outcome = manager.request(make("req_p", "wf_2", agents=2, reduce_agents=True), now=T0)
    assert outcome.response.status == "partial"
    [full] = outcome.response.alternatives
    assert (full.option, full.available_at, full.full_resources) == (
        "delayed_allocation",
        at(120),
        True,
    )


def test_without_reduce_agents_the_same_request_queues() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_big", "wf_1", agents=2), now=T0)
    outcome = manager.request(make("req_q", "wf_2", agents=3, memory_gb=10), now=T0)
    assert outcome.response.status == "queued"
    assert outcome.reason == "not enough free resources: agents: needs 3, has 2"


def test_partial_needs_at_least_one_agent_free() -> None:
    manager = allocator(agents=2)
    manager.request(make("req_all", "wf_1", agents=2), now=T0)
    outcome = manager.request(make("req_p", "wf_2", agents=2, reduce_agents=True), now=T0)
    assert outcome.response.status == "queued"


@pytest.mark.parametrize(
    ("asked", "why"),
    [
        (make("req_x", "wf_x", agents=5), "agents: needs 5, has 4"),
        (make("req_x", "wf_x", memory_gb=100), "memory_gb: needs 100, has 64"),
        (make("req_x", "wf_x", tools={"gpu": 1}), "tool_instances.gpu: needs 1, has 0"),
        (make("req_x", "wf_x", hours=10_000), "duration_hours: asks 10000, at most 8784"),
    ],
)
def test_more_than_the_pools_hold_is_denied_saying_why(asked: AllocationRequest, why: str) -> None:
    manager = allocator()
    outcome = manager.request(asked, now=T0)
    assert outcome.response.status == "denied"
    assert outcome.reason == f"can never be served: {why}"
    [alternative] = outcome.response.alternatives
    assert alternative.option == "reduce_request"
    assert alternative.model_extra is not None
    assert alternative.model_extra["reason"] == why
    assert outcome.events == []
    assert manager.status(now=T0)["allocations"] == []


def test_reduce_agents_serves_more_agents_than_the_pools_hold_in_part() -> None:
    outcome = allocator().request(
        make("req_x", "wf_x", agents=8, memory_gb=80, reduce_agents=True), now=T0
    )
    assert outcome.response.status == "partial"
    held = outcome.response.allocated_resources
    assert held is not None
    assert (held.agents, held.memory_gb) == (4, 40)


def test_reduce_agents_still_denied_when_one_agent_cannot_fit() -> None:
    outcome = allocator().request(
        make("req_x", "wf_x", agents=2, memory_gb=200, reduce_agents=True), now=T0
    )
    assert outcome.response.status == "denied"
    assert outcome.reason == "can never be served: memory_gb: needs 100, has 64"


def test_max_wait_time_exceeded_is_denied_with_the_delayed_alternative() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_hold", "wf_1", agents=4, hours=2), now=T0)
    outcome = manager.request(make("req_w", "wf_2", max_wait="30m"), now=T0)
    assert outcome.response.status == "denied"
    assert (
        outcome.reason == "estimated wait 2h exceeds max_wait_time 30m (extend_duration is false)"
    )
    [delayed] = outcome.response.alternatives
    assert (delayed.option, delayed.available_at) == ("delayed_allocation", at(120))
    assert manager.status(now=T0)["queue"] == []


def test_extend_duration_accepts_a_later_start() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_hold", "wf_1", agents=4, hours=2), now=T0)
    outcome = manager.request(make("req_w", "wf_2", max_wait="30m", extend_duration=True), now=T0)
    assert outcome.response.status == "queued"
    assert outcome.response.estimated_start == "2h"


def test_queue_if_unavailable_false_is_denied_not_queued() -> None:
    manager = allocator(agents=1)
    manager.request(make("req_hold", "wf_1"), now=T0)
    outcome = manager.request(make("req_n", "wf_2", queue=False), now=T0)
    assert outcome.response.status == "denied"
    assert outcome.reason == "resources unavailable and queue_if_unavailable is false"
    assert outcome.response.alternatives[0].available_at == at(60)


def test_estimates_account_for_the_requests_ahead() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_1", "wf_1", agents=4, hours=1), now=T0)
    second = manager.request(make("req_2", "wf_2", agents=4, hours=2), now=T0)
    third = manager.request(make("req_3", "wf_3", agents=4, hours=1), now=T0)
    assert (second.response.queue_position, second.response.estimated_start) == (1, "1h")
    assert (third.response.queue_position, third.response.estimated_start) == (2, "3h")
    critical = manager.request(make("req_c", "wf_4", agents=1, priority="critical"), now=at(1))
    assert critical.response.queue_position == 1
    assert manager.answer_for(request_id="req_3", now=at(1)) is not None
    refreshed = manager.answer_for(request_id="req_3", now=at(1))
    assert refreshed is not None
    assert refreshed.queue_position == 3
    assert refreshed.estimated_start == "3h59m"


def test_the_same_request_id_is_answered_once() -> None:
    manager = allocator(agents=2)
    request = make("req_once", "wf_1", agents=2)
    first = manager.request(request, now=T0)
    again = manager.request(request, now=at(5))
    assert again.repeated is True
    assert again.events == []
    assert again.response == first.response
    assert len(manager.status(now=at(5))["allocations"]) == 1

    queued = make("req_wait", "wf_2", agents=1)
    waiting = manager.request(queued, now=at(6))
    repeat = manager.request(queued, now=at(7))
    assert waiting.response.status == repeat.response.status == "queued"
    assert repeat.response.response_id == waiting.response.response_id
    assert len(manager.status(now=at(7))["queue"]) == 1

    denied = make("req_no", "wf_3", agents=9)
    assert (
        manager.request(denied, now=at(8)).response == manager.request(denied, now=at(9)).response
    )


def test_a_repeat_after_a_grant_returns_the_grant() -> None:
    manager = allocator(agents=1)
    held = manager.request(make("req_1", "wf_1"), now=T0).response.allocated_resources
    assert held is not None
    request = make("req_2", "wf_2")
    manager.request(request, now=T0)
    manager.release(now=at(10), allocation_id=held.allocation_id, reason="completed")
    repeat = manager.request(request, now=at(11))
    assert repeat.repeated is True
    assert repeat.response.status == "approved"
    assert repeat.response.response_id == "resp_2-grant"


def test_answers_are_forgotten_after_the_remembering_window() -> None:
    manager = Allocator(pools=ResourcePools(agents=1), remember_hours=1)
    request = make("req_1", "wf_1")
    alloc = manager.request(request, now=T0).response.allocated_resources
    assert alloc is not None
    manager.release(now=at(10), allocation_id=alloc.allocation_id, reason="completed")
    assert manager.request(request, now=at(69)).repeated is True
    assert manager.request(request, now=at(71)).repeated is False


def test_naive_times_are_taken_as_utc() -> None:
    manager = allocator()
    response = manager.request(make("req_1", "wf_1"), now=T0.replace(tzinfo=None)).response
    assert response.timestamp == T0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"aging_per_minute": -1}, "aging_per_minute"),
        ({"auto_release_grace": 0.5}, "auto_release_grace"),
        ({"thresholds": {"agents": 0}}, "threshold 'agents'"),
        ({"remember_hours": -1}, "remember_hours"),
    ],
)
def test_bad_parameters_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Allocator(pools=ResourcePools(), **options)  # type: ignore[arg-type]


def test_minimal_request_uses_protocol_defaults() -> None:
    outcome = allocator().request(AllocationRequest(workflow_id="wf_min"), now=T0)
    assert outcome.response.status == "approved"
    assert outcome.response.restrictions.auto_release_timeout == "1h30m"
