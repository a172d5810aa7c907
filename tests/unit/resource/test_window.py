"""An allocator that sees part of the state answers exactly, or says what it lacks.

The service loads only the rows an operation needs (module ``window``); these pin the
rules with states cut by hand, against the same allocator seeing everything.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton_resource.allocator import Allocator
from baton_resource.pools import Amounts
from baton_resource.queue import ordered, sort_key
from baton_resource.records import AllocatorState, QueuedRequest
from baton_resource.window import Missing, NeedsMore, Unseen, Window
from tests.unit.resource.support import T0, allocator, at, make


def cut(
    manager: Allocator,
    *,
    allocations: list[str],
    queue: list[str],
    complete: bool = False,
    ends_at: int = 0,
) -> Allocator:
    """An allocator over part of ``manager``'s state: the allocations and queued requests
    named; the others summed up as unseen, ending no earlier than minute ``ends_at``."""
    state = manager.state
    kept = [a for a in state.allocations if a.allocation_id in allocations]
    others = [a for a in state.allocations if a.allocation_id not in allocations]
    unseen = None
    if others:
        held = Amounts()
        for a in others:
            held = held.plus(Amounts.of(a.resources))
        unseen = Unseen(amounts=held, ends_at=at(ends_at))
    part = AllocatorState(
        allocations=kept,
        queue=[q for q in state.queue if q.request.request_id in queue],
        decisions=state.decisions,
        breached=state.breached,
        next_seq=state.next_seq,
        saturation=state.saturation,
    )
    window = Window(
        unseen=unseen,
        queue_complete=complete,
        admissible_complete=complete,
        prefix=frozenset(queue),
    )
    return Allocator(pools=manager.pools, state=part, window=window)


def busy() -> Allocator:
    """4 agents: two held (one for 1 h, one for 5 h), a queue of two waiting for 3 agents."""
    manager = allocator(agents=4)
    manager.request(make("req_a", "wf_a", agents=1, hours=1), now=T0)
    manager.request(make("req_b", "wf_b", agents=1, hours=5), now=T0)
    manager.request(make("req_q1", "wf_q1", agents=3), now=at(1))
    manager.request(make("req_q2", "wf_q2", agents=3), now=at(2))
    return manager


def test_a_request_granted_against_the_head_alone_is_answered_as_with_everything() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_a", "wf_a", agents=3, hours=1), now=T0)
    manager.request(make("req_q1", "wf_q1", agents=2), now=at(1))  # waits: head
    manager.request(make("req_q2", "wf_q2", agents=4), now=at(2))
    part = cut(manager, allocations=[], queue=["req_q1"])
    # Zero agents: nothing reserved stands in its way (the head waits for agents).
    small = make("req_s", "wf_s", agents=0, memory_gb=2)
    assert part.request(small, now=at(3)) == manager.request(small, now=at(3))


def test_a_request_that_must_wait_needs_the_whole_queue() -> None:
    manager = busy()
    part = cut(manager, allocations=["alloc_a", "alloc_b"], queue=["req_q1"])
    with pytest.raises(NeedsMore) as raised:
        part.request(make("req_w", "wf_w", agents=2), now=at(3))
    assert raised.value.missing is Missing.QUEUE


def test_serving_a_prefix_is_enough_once_it_holds_the_reservation_and_no_agent_is_left() -> None:
    manager = busy()
    # wf_a ends: 3 agents free, req_q1 gets them; req_q2 holds the reservation, none left.
    part = cut(manager, allocations=["alloc_a"], queue=["req_q1", "req_q2"])
    assert part.release(now=at(60), workflow_id="wf_a", reason="done") == manager.release(
        now=at(60), workflow_id="wf_a", reason="done"
    )
    # With only req_q1 in the prefix it is granted and no reservation is known: more.
    again = busy()
    short = cut(again, allocations=["alloc_a"], queue=["req_q1"])
    with pytest.raises(NeedsMore) as raised:
        short.release(now=at(60), workflow_id="wf_a", reason="done")
    assert raised.value.missing is Missing.PREFIX


def test_an_estimate_is_exact_only_before_the_unseen_allocations_end() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_a", "wf_a", agents=2, hours=1), now=T0)
    manager.request(make("req_b", "wf_b", agents=2, hours=5), now=T0)
    # wf_a ends first, after 1 h: seeing it, with wf_b unseen until 5 h, is enough.
    part = cut(manager, allocations=["alloc_a"], queue=[], complete=True, ends_at=300)
    # Seeing neither, with the unseen ending no earlier than now: the replay says nothing.
    blind = cut(manager, allocations=[], queue=[], complete=True, ends_at=1)
    request = make("req_w", "wf_w", agents=2)
    answer = part.request(request, now=at(1))
    assert answer == manager.request(request, now=at(1))
    assert answer.response.estimated_start == "59m"
    with pytest.raises(NeedsMore) as raised:
        blind.request(request, now=at(1))
    assert raised.value.missing is Missing.HOLDINGS


def test_when_saturation_begins_requests_behind_a_held_head_may_start() -> None:
    manager = allocator(agents=4)
    manager.request(make("req_run", "wf_run", agents=3, hours=2), now=T0)
    manager.request(make("req_low", "wf_low", agents=2, priority="low"), now=at(1))
    # 44 minutes of waiting rank the low request above a new medium one (30), and it
    # reserves the one free agent: the medium request waits behind it.
    waiting = manager.request(make("req_med", "wf_med", agents=1), now=at(45))
    assert waiting.response.status == "queued"
    assert waiting.reason == "resources reserved for the higher-ranked request req_low"
    began = manager.saturation(saturated=True, reason="latency", now=at(46))
    # Now req_low is held back and reserves nothing: the queue is served without it.
    assert [g.request_id for g in began.granted] == ["req_med"]
    assert [e.event_type for e in began.events] == ["RESOURCE_ALLOCATED", "RESOURCE_THRESHOLD"]


entries = st.lists(
    st.tuples(
        st.sampled_from(["critical", "high", "medium", "low"]),
        st.integers(0, 24 * 60 * 60),  # seconds after T0
    ),
    min_size=1,
    max_size=30,
)


@given(entries, st.sampled_from([0.0, 0.5, 1.0, 3.0]), st.integers(0, 48 * 60))
def test_the_stored_sort_key_orders_the_queue_as_the_effective_priority(
    given_entries: list[tuple[str, int]], aging: float, later: int
) -> None:
    queue = [
        QueuedRequest(
            request=make(f"req_{n}", "wf", priority=priority),  # type: ignore[arg-type]
            queued_at=T0 + timedelta(seconds=seconds),
            seq=n,
        )
        for n, (priority, seconds) in enumerate(given_entries)
    ]
    now = T0 + timedelta(days=1, minutes=later)  # after every arrival
    by_key = sorted(
        queue,
        key=lambda q: (
            -sort_key(priority=q.request.priority, queued_at=q.queued_at, aging_per_minute=aging),
            q.seq,
        ),
    )
    assert by_key == ordered(queue, now=now, aging_per_minute=aging)
