"""kill -9 of the hub and of the resource manager mid-scenario (issue 3's acceptance)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from baton.bus import Bus
from baton.protocol.event import Event
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_hub_resource import hub, status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TRANSITIONS = ("WORKFLOW_", "PHASE_STARTED", "PHASE_COMPLETED", "TASK_ASSIGNED")


def definition(name: str) -> dict[str, object]:
    return {
        "workflow_id": name,
        "name": name,
        "priority": "medium",
        "phases": ["research", "implementation", "testing"],
        "resource_requirements": {"agents": 2, "duration": "1h"},
    }


@pytest.mark.parametrize("victim", ["hub", "resource"])
async def test_kill_9_mid_scenario_completes_without_duplicates_or_leaks(
    victim: str, e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.3)
    agents.attach()
    events.attach()
    names = [f"crash_{i:02d}" for i in range(8)]
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 4}'}
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir) as cluster, bus:
        create = asyncio.gather(
            *(hub(bus, "CREATE_WORKFLOW", n, {"definition": definition(n)}) for n in names)
        )
        await asyncio.sleep(1.0)
        await cluster[victim].kill9()
        await asyncio.sleep(0.5)
        resumed = await cluster[victim].start()
        await create  # requests sent while it was down are answered after the restart
        deadline = time.monotonic() + 120
        pending = set(names)
        while pending and time.monotonic() < deadline:
            pending = {n for n in pending if await status(bus, n) != "COMPLETED"}
            await asyncio.sleep(0.3)
        assert not pending, f"not completed: {sorted(pending)}"
        reply = await bus.request(
            Event(event_type="RESOURCE_STATUS", workflow_id="global", phase="cli", data={}),
            service="resource",
            timeout=30,
        )
        assert reply.data["allocations"] == [], "allocations leaked"
        assert reply.data["queue"] == []
    print(f"{victim} resumed {resumed:.1f}s after restart")
    assert resumed < 10.0

    # The same event may be delivered twice (at-least-once); a transition may not happen twice.
    unique = {e.event_id: e for e in events.events}.values()
    seen = Counter(
        (
            e.workflow_id,
            e.event_type,
            e.phase,
            str(e.data.get("task_id")),
            str(e.data.get("attempt", "")),
        )
        for e in unique
        if e.event_type.startswith(TRANSITIONS)
    )
    duplicates = {k: n for k, n in seen.items() if n > 1}
    assert not duplicates, duplicates
    for name in names:
        lifecycle = [
            e.event_type
            for e in sorted(unique, key=lambda e: e.event_id)
            if e.workflow_id == name and e.event_type.startswith("WORKFLOW_")
        ]
        assert lifecycle[0] == "WORKFLOW_CREATED"
        assert lifecycle[-1] == "WORKFLOW_COMPLETED"
