"""bench.allocator measures what it says: a request that waits behind the whole queue, and a
release that grants the head of the queue on the part the service reads."""

from __future__ import annotations

import subprocess
import sys

from bench.allocator import busy_state, measure

from baton_resource.pools import ResourcePools


def test_the_state_holds_every_agent_and_the_queue() -> None:
    state = busy_state(pools=ResourcePools(agents=3), waiting=4)
    assert (len(state.allocations), len(state.queue), state.next_seq) == (3, 4, 4)


def test_an_allocation_waits_last_and_a_release_grants_the_head() -> None:
    found = measure(pools=ResourcePools(agents=2), waiting=20, seconds=0)
    assert found["allocate_answer"] == {
        "status": "queued",
        "queue_position": 21,
        "estimated_start": "10h30m",  # two agents: every hour two start, from 30 min
    }
    assert found["release_answer"] == {
        "released": ["alloc_bench_00000"],
        "granted": ["req_bench_00002"],
    }
    assert found["allocate_ms"] > 0


def test_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.allocator", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "--queue" in done.stdout
