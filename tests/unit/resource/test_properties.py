"""Random sequences of requests, releases, cancellations, renewals and expiries.

After every step: nothing is used beyond capacity, an exclusive file is held by one
workflow unless every holder accepted sharing, queue positions run 1..n, every request is
in at most one place, the queue is settled (nothing in it could be granted right now), and
the state round-trips through JSON.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.protocol.messages import AllocationRequest
from baton_resource.allocator import Allocator
from baton_resource.ledger import Ledger
from baton_resource.planner import plan_grants
from baton_resource.pools import EPSILON
from baton_resource.records import AllocatorState, ResourceEvent
from baton_resource.thresholds import threshold_table
from tests.unit.resource.support import T0, assert_publishable, make, pools

WORKFLOWS = ["wf_a", "wf_b", "wf_c", "wf_d"]

requests = st.builds(
    lambda wf, agents, memory, files, priority, hours, flags, wait, bash: (
        wf,
        {
            "agents": agents,
            "memory_gb": memory,
            "files": files,
            "priority": priority,
            "hours": hours,
            "reduce_agents": flags[0],
            "shared": flags[1],
            "queue": flags[2],
            "extend_duration": flags[3],
            "max_wait": wait,
            "tools": {"bash": bash} if bash else None,
        },
    ),
    st.sampled_from(WORKFLOWS),
    st.integers(0, 6),
    st.sampled_from([0, 0.5, 1.5, 4, 10, 25]),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True),
    st.sampled_from(["critical", "high", "medium", "low"]),
    st.sampled_from([0, 0.1, 0.5, 1, 3]),
    st.tuples(
        st.booleans(), st.booleans(), st.sampled_from([True, True, True, False]), st.booleans()
    ),
    st.sampled_from(["0s", "10m", "2h", "24h"]),
    st.integers(0, 3),
)
steps = st.one_of(
    # Requests are listed three times so that queues build up.
    st.tuples(st.just("request"), requests),
    st.tuples(st.just("request"), requests),
    st.tuples(st.just("request"), requests),
    st.tuples(st.just("repeat"), st.integers(0, 50)),
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("release_workflow"), st.sampled_from(WORKFLOWS)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("renew"), st.integers(0, 50)),
    st.tuples(st.just("expire"), st.none()),
)


def _check(manager: Allocator, now: Any) -> None:
    state = manager.state
    status = manager.status(now=now)
    for name, pool in status["pools"].items():
        assert pool["used"] <= pool["capacity"] + EPSILON, name
    holders: dict[str, list[tuple[str, bool]]] = {}
    for allocation in state.allocations:
        for name in allocation.resources.exclusive_files:
            holders.setdefault(name, []).append((allocation.workflow_id, allocation.sharing))
    for name, held in holders.items():
        if len({wf for wf, _ in held}) > 1:
            assert all(sharing for _, sharing in held), name
    queued = [q["request_id"] for q in status["queue"]]
    assert [q["position"] for q in status["queue"]] == list(range(1, len(queued) + 1))
    held_ids = [a.request_id for a in state.allocations]
    assert len(set(queued)) == len(queued)
    assert len(set(held_ids)) == len(held_ids)
    assert not set(queued) & set(held_ids)
    for rid in queued:
        assert state.decisions[rid].response.status == "queued"
    for rid in held_ids:
        assert state.decisions[rid].response.status in {"approved", "partial"}
    book = Ledger(
        pools=manager.pools,
        state=state,
        aging_per_minute=1.0,
        grace=1.5,
        thresholds=threshold_table(None),
        remember=timedelta(hours=1),
    )
    snap = book.snapshot(now=now)
    plan = plan_grants(snap.candidates, holdings=snap.holdings, capacity=book.capacity)
    assert plan.grants == []
    dumped = json.loads(json.dumps(state.model_dump(mode="json")))
    assert AllocatorState.model_validate(dumped) == state


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(steps, st.integers(0, 40)), min_size=1, max_size=40),
    st.integers(1, 6),
)
def test_invariants_hold_over_random_sequences(plan: list[Any], agents: int) -> None:
    manager = Allocator(
        pools=pools(agents, memory_gb=20, tool_instances={"bash": 3}), remember_hours=1000
    )
    sent: list[AllocationRequest] = []
    events: list[ResourceEvent] = []
    now = T0
    for number, ((kind, arg), minutes) in enumerate(plan):
        now += timedelta(minutes=minutes)
        allocations = manager.state.allocations
        queue = manager.state.queue
        if kind == "request":
            workflow, options = arg
            sent.append(make(f"req_{number}", workflow, **options))
            events += manager.request(sent[-1], now=now).events
        elif kind == "repeat" and sent:
            before = len(manager.state.allocations)
            assert manager.request(sent[arg % len(sent)], now=now).repeated
            assert len(manager.state.allocations) == before
        elif kind == "release" and allocations:
            target = allocations[arg % len(allocations)].allocation_id
            events += manager.release(now=now, allocation_id=target, reason="completed").events
        elif kind == "release_workflow":
            events += manager.release(now=now, workflow_id=arg, reason="workflow_failed").events
        elif kind == "cancel" and queue:
            rid = queue[arg % len(queue)].request.request_id
            events += manager.cancel_request(now=now, request_id=rid).events
        elif kind == "renew" and allocations:
            manager.renew(allocations[arg % len(allocations)].allocation_id, now=now)
        elif kind == "expire":
            events += manager.expire(now=now).events
        _check(manager, now)
    assert_publishable(events)
