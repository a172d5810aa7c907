"""The reply cache a responder answers repeated requests from: bounded by its size and by
its time to live, also when nobody asks again (memory never grows with history)."""

from __future__ import annotations

from baton.bus.rpc import ReplyCache
from baton.protocol.event import Event


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reply(n: int) -> Event:
    return Event.parse(f"REPLY:wf_{n}:global:{{}}")


def test_a_repeated_request_gets_its_reply_within_the_time_to_live() -> None:
    clock = Clock()
    cache = ReplyCache(size=10, ttl=60, clock=clock)
    cache.put("req_1", reply(1))
    clock.now = 59
    found = cache.get("req_1")
    assert found is not None
    assert found.workflow_id == "wf_1"
    clock.now = 61
    assert cache.get("req_1") is None


def test_replies_nobody_asks_for_again_expire_as_new_ones_come() -> None:
    clock = Clock()
    cache = ReplyCache(size=10_000, ttl=600, clock=clock)
    for n in range(1_000):  # one a second
        clock.now = float(n)
        cache.put(f"req_{n}", reply(n))
    assert len(cache) == 601  # the last 600 s only, not all 1,000
    assert cache.get("req_398") is None  # 601 s old
    assert cache.get("req_399") is not None  # 600 s old
    assert cache.get("req_999") is not None


def test_the_size_bounds_it_too() -> None:
    cache = ReplyCache(size=3, ttl=600, clock=Clock())
    for n in range(5):
        cache.put(f"req_{n}", reply(n))
    assert len(cache) == 3
    assert cache.get("req_1") is None
    assert cache.get("req_4") is not None
