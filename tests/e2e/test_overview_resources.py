"""The system overview's pools are the resource manager's own figures (issue 16, point 5).

A trial saw ``progress-aggregator system-overview --resource-analysis`` report agents
``used 12 / capacity 4`` with no workflow running, while ``resource-manager status`` said
0-3: the status service added up every ``RESOURCE_ALLOCATED`` on the bus itself. Here the
resource manager and the status service run as processes on real Kafka and PostgreSQL; a
line nobody granted (seed 001's example) is published, requests are granted, queued and
released, and after each step the overview must come to show exactly what the resource
manager holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually_async
from tests.e2e.agents import EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SEED_LINE = "RESOURCE_ALLOCATED:wf_001:setup:{'agents':3,'memory_gb':8,'allocation_id':'alloc_456'}"
"""Seed 001's example line (README shows publishing its like): no allocation of anyone's."""


async def ask(
    bus: Bus, service: str, event_type: str, workflow_id: str, data: dict[str, Any] | None = None
) -> Any:
    reply = await bus.request(
        Event(event_type=event_type, workflow_id=workflow_id, phase="setup", data=data or {}),
        service=service,
        timeout=30,
    )
    return reply.data


async def allocate(bus: Bus, workflow_id: str, agents: int) -> str:
    request = {
        "request_id": f"req_{workflow_id}",
        "workflow_id": workflow_id,
        "requester": "e2e",
        "priority": "medium",
        "resources": {"agents": agents, "memory_gb": 1, "duration_hours": 1},
        "constraints": {"max_wait_time": "30d"},
        "fallback_options": {"queue_if_unavailable": True},
    }
    reply = await ask(bus, "resource", "ALLOCATE", workflow_id, {"allocation_request": request})
    return str(reply["allocation_response"]["status"])


def figures(pools: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Pool name → (used, capacity)."""
    return {name: (float(p["used"]), float(p["capacity"])) for name, p in pools.items()}


async def overview_agrees(bus: Bus, *, agents_used: int) -> None:
    """Wait until the overview's pools equal the resource manager's, ``agents_used`` used."""
    seen: dict[str, Any] = {}

    async def agree() -> bool:
        held = figures((await ask(bus, "resource", "RESOURCE_STATUS", "global"))["pools"])
        shown = figures((await ask(bus, "status", "SYSTEM_OVERVIEW", "global"))["resources"])
        seen.update(held=held, shown=shown)
        return held["agents"][0] == agents_used and shown == held

    try:
        await eventually_async(agree, timeout=60, what=f"{agents_used} agents used in both")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: last seen {seen}") from None


async def test_overview_pools_equal_the_resource_managers(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, _, _ = client
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 4, "memory_gb": 16}'}
    async with Cluster(["resource", "status"], env=env, log_dir=log_dir), bus:
        await overview_agrees(bus, agents_used=0)  # published at start, before any change
        await bus.publish(SEED_LINE)
        assert await allocate(bus, "wf_a", 3) == "approved"
        assert await allocate(bus, "wf_c", 1) == "approved"
        assert await allocate(bus, "wf_b", 2) == "queued"
        await overview_agrees(bus, agents_used=4)
        # wf_a's release grants the queued wf_b.
        await ask(bus, "resource", "RELEASE", "wf_a", {"workflow_id": "wf_a", "reason": "done"})
        await overview_agrees(bus, agents_used=3)
        # A workflow's end releases what it holds (the resource manager follows the events).
        await bus.publish(
            "WORKFLOW_COMPLETED:wf_c:setup:{'completion_time':'now','final_metrics':{}}"
        )
        await overview_agrees(bus, agents_used=2)
        # The CLI the trial used shows the same figures.
        code, overview, err = await baton(
            env, "progress-aggregator", "system-overview", "--resource-analysis", "--json"
        )
        assert code == 0, err
        code, held, err = await baton(env, "resource-manager", "status")
        assert code == 0, err
        assert figures(overview["resources"]) == figures(held["pools"])
        assert figures(overview["resources"])["agents"] == (2.0, 4.0)
