"""Benchmark: CPU of one allocation and one release in the resource allocator, by queue length.

Measured with 10, 100 or 1,000 requests waiting (``--queue``).

The state is what the service sees under load: every agent of the pool held (one per
workflow, ending a minute apart) and a queue of ``N`` one-agent requests behind them, as the
service reads it when a request must wait (the whole queue, module ``window``). Each
operation runs as the service runs it: an allocator made from that state, the operation,
then the state read back to write the difference.

- ``allocate``: a new one-agent request that must wait; its answer carries its queue
  position and estimated start (a replay of the queue).
- ``release``: one workflow ends; the queue is served (its head gets the freed agent). The
  service reads only the head of the queue for it (module ``window``): so does this.

Prints, per queue length, the median CPU time of each operation in milliseconds and the
answer it gave (status, position, estimated start, request granted), so that two versions
of the allocator can be compared for speed and for identical decisions.

Run: ``python -m bench.allocator [--queue 10,100,1000] [--agents 8] [--seconds S] [--json]``
(no broker, no database).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.protocol.messages import AllocationRequest
from baton_resource.allocator import Allocator
from baton_resource.pools import Amounts, ResourcePools, total
from baton_resource.queue import ordered
from baton_resource.records import AllocatorState, QueuedRequest
from baton_resource.store import PREFIX_START
from baton_resource.window import Unseen, Window
from bench.report import print_result

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def _request(number: int) -> AllocationRequest:
    workflow_id = f"wf_bench_{number:05d}"
    return AllocationRequest.model_validate(
        {
            "request_id": f"req_bench_{number:05d}",
            "workflow_id": workflow_id,
            "requester": "coordination-hub",
            "priority": "medium",
            "resources": {"agents": 1, "duration_hours": 1},
            "constraints": {"max_wait_time": "30d"},
        }
    )


def busy_state(*, pools: ResourcePools, waiting: int) -> AllocatorState:
    """Every agent held (granted a minute apart) and ``waiting`` requests queued behind."""
    manager = Allocator(pools=pools)
    for number in range(pools.agents):
        outcome = manager.request(_request(number), now=T0 + timedelta(minutes=number))
        assert outcome.response.status == "approved", outcome.reason
    state = manager.state
    first = pools.agents
    state.queue = [
        QueuedRequest(
            request=_request(first + i),
            queued_at=T0 + timedelta(minutes=pools.agents, seconds=i),
            seq=state.next_seq + i,
        )
        for i in range(waiting)
    ]
    state.next_seq += waiting
    return state


def release_window(
    state: AllocatorState, *, workflow_id: str, now: datetime
) -> tuple[AllocatorState, Window]:
    """What the service reads to release a workflow: its allocations, the others summed
    up, and the first :data:`PREFIX_START` queued requests in serving order."""
    mine = [a for a in state.allocations if a.workflow_id == workflow_id]
    others = total(Amounts.of(a.resources) for a in state.allocations if a not in mine)
    order = ordered(state.queue, now=now, aging_per_minute=1.0)
    prefix = order[:PREFIX_START]
    complete = len(prefix) == len(order)
    part = AllocatorState(
        allocations=mine,
        queue=prefix,
        breached=state.breached,
        next_seq=state.next_seq,
    )
    window = Window(
        unseen=Unseen(amounts=others, ends_at=now),
        queue_complete=complete,
        admissible_complete=complete,
        prefix=frozenset(q.request.request_id for q in prefix),
    )
    return part, window


def _measure(run: Callable[[], dict[str, Any]], *, seconds: float) -> tuple[float, dict[str, Any]]:
    """Median CPU milliseconds of ``run`` (at least three runs, more for ``seconds``)."""
    times: list[float] = []
    spent = 0.0
    answer: dict[str, Any] = {}
    while len(times) < 3 or (spent < seconds and len(times) < 1000):
        begin = time.process_time()
        answer = run()
        took = time.process_time() - begin
        times.append(took)
        spent += took
    return round(statistics.median(times) * 1000, 3), answer


def measure(*, pools: ResourcePools, waiting: int, seconds: float) -> dict[str, Any]:
    """Both operations with ``waiting`` requests queued."""
    state = busy_state(pools=pools, waiting=waiting)
    now = T0 + timedelta(minutes=30)
    newcomer = _request(900_000)
    first = state.allocations[0]

    def allocate() -> dict[str, Any]:
        allocator = Allocator(pools=pools, state=state)
        outcome = allocator.request(newcomer, now=now)
        allocator.state  # noqa: B018 - the service reads it back to write the difference
        r = outcome.response
        return {
            "status": r.status,
            "queue_position": r.queue_position,
            "estimated_start": r.estimated_start,
        }

    part, window = release_window(state, workflow_id=first.workflow_id, now=now)

    def release() -> dict[str, Any]:
        allocator = Allocator(pools=pools, state=part, window=window)
        outcome = allocator.release(now=now, workflow_id=first.workflow_id, reason="done")
        allocator.state  # noqa: B018 - as above
        return {"released": outcome.released, "granted": [g.request_id for g in outcome.granted]}

    allocate_ms, allocate_answer = _measure(allocate, seconds=seconds)
    release_ms, release_answer = _measure(release, seconds=seconds)
    return {
        "allocate_ms": allocate_ms,
        "release_ms": release_ms,
        "allocate_answer": allocate_answer,
        "release_answer": release_answer,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--queue", default="10,100,1000", help="queue lengths, comma-separated (10,100,1000)"
    )
    parser.add_argument("--agents", type=int, default=8, help="agents in the pool (8)")
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="CPU seconds to spend per figure at most (1)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    pools = ResourcePools(agents=args.agents)
    result = {
        f"queue_{n}": measure(pools=pools, waiting=n, seconds=args.seconds)
        for n in (int(part) for part in args.queue.split(","))
    }
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    cli()
