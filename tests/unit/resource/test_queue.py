"""Serving order: priority with aging, the head's reservation, and bounded waiting."""

from __future__ import annotations

from baton.protocol.messages import AllocationResponse
from baton_resource.allocator import Allocator
from baton_resource.queue import PRIORITY_RANK, effective_priority, overtake_window
from tests.unit.resource.support import T0, allocator, at, make, pools


def test_effective_priority_is_rank_plus_aged_minutes() -> None:
    assert PRIORITY_RANK == {"critical": 90, "high": 60, "medium": 30, "low": 0}
    assert effective_priority(priority="low", queued_at=T0, now=at(45), aging_per_minute=1) == 45
    assert effective_priority(priority="high", queued_at=T0, now=at(10), aging_per_minute=0.5) == 65
    # Waiting counts from joining the queue; a clock that runs backwards counts nothing.
    assert effective_priority(priority="medium", queued_at=at(5), now=T0, aging_per_minute=1) == 30


def test_overtake_window_is_the_rank_gap_over_the_aging_rate() -> None:
    assert overtake_window(priority="low", aging_per_minute=1) == 90
    assert overtake_window(priority="medium", aging_per_minute=2) == 30
    assert overtake_window(priority="critical", aging_per_minute=0) == 0
    assert overtake_window(priority="low", aging_per_minute=0) is None


def test_queue_is_served_by_effective_priority_then_arrival() -> None:
    manager = allocator(agents=1)
    manager.request(make("req_run", "wf_0", hours=10), now=T0)
    manager.request(make("req_low", "wf_1", priority="low"), now=T0)
    manager.request(make("req_med_a", "wf_2", priority="medium"), now=at(1))
    manager.request(make("req_med_b", "wf_3", priority="medium"), now=at(1))
    manager.request(make("req_crit", "wf_4", priority="critical"), now=at(2))
    queue = manager.status(now=at(2))["queue"]
    assert [q["request_id"] for q in queue] == ["req_crit", "req_med_a", "req_med_b", "req_low"]
    assert [q["position"] for q in queue] == [1, 2, 3, 4]
    # 40 minutes later the low request (rank 0 + 42) outranks a fresh medium one (30).
    late = manager.request(make("req_med_late", "wf_5", priority="medium"), now=at(42))
    assert late.response.queue_position == 5
    assert manager.status(now=at(42))["queue"][3]["effective_priority"] == 42


def test_small_requests_pass_big_ones_but_not_the_heads_needs() -> None:
    manager = Allocator(pools=pools(4, memory_gb=64))
    manager.request(make("req_run", "wf_0", agents=2, memory_gb=60, hours=5), now=T0)
    head = manager.request(
        make("req_head", "wf_1", agents=0, memory_gb=10, priority="critical"), now=T0
    )
    big = manager.request(make("req_big", "wf_2", agents=3, priority="high"), now=T0)
    thirsty = manager.request(make("req_mem", "wf_3", agents=1, memory_gb=1), now=T0)
    small = manager.request(make("req_small", "wf_4", agents=1), now=T0)
    assert head.response.status == big.response.status == thirsty.response.status == "queued"
    # req_big does not fit but is not first in line: it holds nothing back.
    assert small.response.status == "approved"
    # The head waits for memory: nobody else may take any while it waits.
    assert thirsty.reason == "resources reserved for the higher-ranked request req_head"
    status = manager.status(now=T0)
    assert [q["reserved"] for q in status["queue"]] == [True, False, False]


HIGH_OVER_LOW = PRIORITY_RANK["high"] - PRIORITY_RANK["low"]


def _stream(aging: float, *, minutes: int) -> tuple[int | None, int | None]:
    """High requests for the whole pool every 10 minutes, one low request at minute 5.

    Holders finish on time (30 minutes). Returns the minute the low request was granted
    (None: never), and how many requests ranked above it once no new high request could
    overtake it any more (None without aging).
    """
    manager = Allocator(pools=pools(4), aging_per_minute=aging)
    ends: dict[str, int] = {}
    granted_at: int | None = None
    ahead: int | None = None
    settled = 5 + HIGH_OVER_LOW / aging if aging else None

    def note(responses: list[AllocationResponse], minute: int) -> None:
        nonlocal granted_at
        for response in responses:
            if response.allocated_resources is not None:
                ends[response.allocated_resources.allocation_id] = minute + 30
                if response.request_id == "req_low":
                    granted_at = minute

    for minute in range(minutes):
        for alloc_id in [a for a, end in ends.items() if end == minute]:
            del ends[alloc_id]
            released = manager.release(now=at(minute), allocation_id=alloc_id, reason="done")
            note(released.granted, minute)
        if minute % 10 == 0:
            high = make(f"req_h{minute}", f"wf_h{minute}", agents=4, priority="high", hours=0.5)
            high.fallback_options.extend_duration = True
            note([manager.request(high, now=at(minute)).response], minute)
        if minute == 5:
            low = make("req_low", "wf_low", priority="low", hours=0.5, extend_duration=True)
            note([manager.request(low, now=at(minute)).response], minute)
        if minute == settled:
            ids = [q["request_id"] for q in manager.status(now=at(minute))["queue"]]
            ahead = ids.index("req_low") if "req_low" in ids else 0
    return granted_at, ahead


def test_low_priority_is_served_within_the_stated_bound_under_a_high_priority_stream() -> None:
    granted_at, ahead = _stream(aging=1.0, minutes=600)
    assert granted_at is not None
    assert ahead is not None
    waited = granted_at - 5
    # Bound: after (rank gap) / aging = 60 minutes no new high request ranks above it; then
    # each of the `ahead` requests in front of it, and finally itself, waits at most one
    # holding time (30 minutes) as head of the queue.
    bound = HIGH_OVER_LOW / 1.0 + (ahead + 1) * 30
    assert (waited, ahead, bound) == (205, 4, 210)
    assert waited <= bound


def test_without_aging_a_high_priority_stream_starves_low_priority() -> None:
    granted_at, _ = _stream(aging=0.0, minutes=600)
    assert granted_at is None


def test_a_new_head_moves_the_reservation_and_may_release_a_waiting_request() -> None:
    manager = Allocator(pools=pools(4, memory_gb=64))
    manager.request(make("req_run", "wf_0", agents=3, memory_gb=60, hours=5), now=T0)
    manager.request(make("req_two", "wf_1", agents=2), now=T0)
    held_back = manager.request(make("req_one", "wf_2", agents=1, priority="low"), now=T0)
    assert held_back.reason == "resources reserved for the higher-ranked request req_two"
    # A critical request that waits for memory becomes head; it needs no agents, so the
    # free agent is no longer reserved and goes to the first request it fits.
    critical = manager.request(
        make("req_mem", "wf_3", agents=0, memory_gb=10, priority="critical"), now=T0
    )
    assert critical.response.status == "queued"
    assert critical.response.queue_position == 1
    assert [r.request_id for r in critical.granted] == ["req_one"]
    assert [e.event_type for e in critical.events][:1] == ["RESOURCE_ALLOCATED"]
