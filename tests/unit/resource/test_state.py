"""The state round-trips through JSON, and a restored allocator behaves identically."""

from __future__ import annotations

import json

from baton_resource.allocator import Allocator
from baton_resource.records import AllocatorState, Outcome, ReleaseOutcome
from tests.unit.resource.support import T0, at, make, pools


def _busy() -> Allocator:
    manager = Allocator(pools=pools(4, memory_gb=16), aging_per_minute=0.5)
    manager.request(make("req_1", "wf_a", agents=2, memory_gb=4, files=["f"], hours=2), now=T0)
    manager.request(make("req_2", "wf_b", agents=3, reduce_agents=True, shared=True), now=at(1))
    manager.request(make("req_3", "wf_c", agents=3, priority="high", files=["f"]), now=at(2))
    manager.request(make("req_4", "wf_d", agents=1, priority="low"), now=at(3))
    manager.request(make("req_5", "wf_e", agents=9), now=at(4))
    manager.renew("alloc_1", now=at(5), hours=3)
    return manager


def _roundtrip(state: AllocatorState) -> AllocatorState:
    return AllocatorState.model_validate(json.loads(json.dumps(state.model_dump(mode="json"))))


def test_state_dumps_to_json_and_validates_back_exactly() -> None:
    state = _busy().state
    assert len(state.allocations) == 2
    assert len(state.queue) == 2
    assert set(state.decisions) == {"req_1", "req_2", "req_3", "req_4", "req_5"}
    assert state.breached == ["agents"]
    restored = _roundtrip(state)
    assert restored == state
    assert restored.model_dump(mode="json") == state.model_dump(mode="json")


def test_a_restored_allocator_behaves_identically() -> None:
    original = _busy()
    restored = Allocator(
        pools=original.pools, state=_roundtrip(original.state), aging_per_minute=0.5
    )
    assert restored.status(now=at(6)) == original.status(now=at(6))

    def script(manager: Allocator) -> list[Outcome | ReleaseOutcome]:
        return [
            manager.request(make("req_6", "wf_f", agents=1, files=["g"]), now=at(7)),
            manager.request(make("req_3", "wf_c", agents=3, priority="high"), now=at(8)),
            manager.release(now=at(30), allocation_id="alloc_2", reason="completed"),
            manager.expire(now=at(400)),
            manager.release(now=at(401), workflow_id="wf_d", reason="cancelled"),
        ]

    assert script(restored) == script(original)
    assert restored.state == original.state
    assert restored.status(now=at(402)) == original.status(now=at(402))


def test_the_state_property_is_a_copy() -> None:
    manager = _busy()
    copy = manager.state
    copy.allocations.clear()
    assert len(manager.state.allocations) == 2


def test_the_state_sync_holds_the_status_pool_figures() -> None:
    manager = _busy()
    message = manager.state_sync(version=12, now=at(6)).resource_state
    figures = {name: pool.model_dump() for name, pool in message.pools.items()}
    assert figures == manager.status(now=at(6))["pools"]
    assert (message.state_version, message.allocations, message.queued) == (12, 2, 2)
    assert message.timestamp == at(6)
    assert figures["agents"]["used"] == 4
