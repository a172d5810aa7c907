"""Two resource-manager replicas on one database; a restart keeps what is held (issue 17).

The replicas are processes in one consumer group on real Kafka and PostgreSQL: each
answers the requests of its partitions, and both change the same rows. Forty workflows ask
for an agent of four at once, then each releases as soon as it is granted: the pools are
never over-allocated (every state sync the replicas publish), the requests are answered as
if by one replica (queue positions 1..36, each once; every workflow granted exactly once),
and the end state is the one a single replica reaches: nothing held or queued, one state
version per change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually_async
from tests.e2e.agents import EventLog, SimAgents
from tests.e2e.harness import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

AGENTS = 4
WORKFLOWS = [f"rep_{i:02d}" for i in range(40)]


async def ask(bus: Bus, event_type: str, workflow_id: str, data: dict[str, Any]) -> Any:
    reply = await bus.request(
        Event(event_type=event_type, workflow_id=workflow_id, phase="e2e", data=data),
        service="resource",
        timeout=60,
    )
    return reply.data


def request(workflow_id: str, *, agents: int = 1) -> dict[str, Any]:
    return {
        "allocation_request": {
            "request_id": f"req_{workflow_id}",
            "workflow_id": workflow_id,
            "requester": "e2e",
            "resources": {"agents": agents, "duration_hours": 1},
            "constraints": {"max_wait_time": "30d"},
            "fallback_options": {"queue_if_unavailable": True},
        }
    }


def replicas(env: dict[str, str], log_dir: Path) -> list[ServiceProcess]:
    return [
        ServiceProcess("resource", env=env, log_dir=log_dir, instance=f"resource-{name}")
        for name in ("a", "b")
    ]


async def test_two_replicas_never_over_allocate_and_end_like_one(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, _, events = client
    events.attach()
    env = {**e2e_env, "BATON_RESOURCE_POOLS": f'{{"agents": {AGENTS}}}'}
    both = replicas(env, log_dir)
    await asyncio.gather(*(r.start() for r in both))
    try:
        async with bus:
            answers = await asyncio.gather(
                *(ask(bus, "ALLOCATE", w, request(w)) for w in WORKFLOWS)
            )
            granted: list[str] = []
            positions: list[int] = []
            for workflow_id, answer in zip(WORKFLOWS, answers, strict=True):
                response = answer["allocation_response"]
                if response["status"] == "approved":
                    granted.append(workflow_id)
                else:
                    assert response["status"] == "queued", answer
                    positions.append(response["queue_position"])
            assert len(granted) == AGENTS
            assert sorted(positions) == list(range(1, len(WORKFLOWS) - AGENTS + 1))
            held_ids = [a for answer in answers for a in answer.get("agent_ids", [])]
            assert sorted(held_ids) == [f"agent_{i:03d}" for i in range(1, AGENTS + 1)]

            # Release what is granted, all at once, until everyone has had its turn.
            released: list[str] = []
            while len(released) < len(WORKFLOWS):
                wave = [w for w in granted if w not in released]
                assert wave, f"nothing granted; released {len(released)}"
                replies = await asyncio.gather(
                    *(ask(bus, "RELEASE", w, {"workflow_id": w, "reason": "done"}) for w in wave)
                )
                released += wave
                for reply in replies:
                    assert len(reply["released"]) == 1, reply
                    granted += [g["request_id"].removeprefix("req_") for g in reply["granted"]]
            assert sorted(granted) == sorted(WORKFLOWS)  # each exactly once

            status = await ask(bus, "RESOURCE_STATUS", "global", {})
            assert (status["allocations"], status["queue"]) == ([], [])
            assert status["pools"]["agents"]["used"] == 0

            async def last_version() -> bool:
                states = [e for e in events.events if e.event_type == "RESOURCE_STATE"]
                return any(
                    s.data["resource_state"]["state_version"] == 2 * len(WORKFLOWS) for s in states
                )

            await eventually_async(last_version, timeout=30, what="the last state sync")
    finally:
        await asyncio.gather(*(r.stop() for r in both))
    states = [e.data["resource_state"] for e in events.events if e.event_type == "RESOURCE_STATE"]
    by_version: dict[int, dict[str, Any]] = {}
    for state in states:
        # One state per version, whichever replica published it (each change exactly once).
        first = by_version.setdefault(state["state_version"], state)
        for key in ("pools", "allocations", "queued"):
            assert first[key] == state[key], (state["state_version"], key)
        assert state["pools"]["agents"]["used"] <= AGENTS, state
        assert state["allocations"] == state["pools"]["agents"]["used"], state
    # A version per change: 40 requests and 40 releases, and nothing else.
    assert max(by_version) == 2 * len(WORKFLOWS)
    assert set(range(1, 2 * len(WORKFLOWS) + 1)) <= set(by_version)
    assert by_version[max(by_version)]["queued"] == 0


async def test_a_restart_keeps_allocations_agents_and_the_queue(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, _, _ = client
    env = {**e2e_env, "BATON_RESOURCE_POOLS": f'{{"agents": {AGENTS}}}'}
    first, second = replicas(env, log_dir)
    await first.start()
    try:
        async with bus:
            for workflow_id in ("keep_a", "keep_b", "keep_c"):
                await ask(bus, "ALLOCATE", workflow_id, request(workflow_id, agents=2))
            before = await ask(bus, "RESOURCE_STATUS", "global", {})
            await first.kill9()
            await second.start()  # another replica, from what PostgreSQL holds
            after = await ask(bus, "RESOURCE_STATUS", "global", {})
            for key in ("allocations", "agent_slots", "pools"):
                assert after[key] == before[key], key
            assert [q["request_id"] for q in after["queue"]] == ["req_keep_c"]
            assert sorted(after["agent_slots"].values()) == [
                ["agent_001", "agent_002"],
                ["agent_003", "agent_004"],
            ]
            freed = after["agent_slots"]["alloc_keep_a"]
            reply = await ask(bus, "RELEASE", "keep_a", {"workflow_id": "keep_a"})
            assert [g["request_id"] for g in reply["granted"]] == ["req_keep_c"]
            status = await ask(bus, "RESOURCE_STATUS", "global", {})
            assert status["agent_slots"]["alloc_keep_c"] == freed
    finally:
        await asyncio.gather(first.stop(), second.stop())
