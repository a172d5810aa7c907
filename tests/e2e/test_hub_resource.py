"""Hub and resource manager as separate processes on real Kafka and PostgreSQL (issue 3)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.protocol.commands import HubCommand
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FEATURE = {
    "workflow_id": "feature_dev_001",
    "name": "User Authentication Feature",
    "priority": "high",
    "phases": ["research", "planning", "implementation", "testing"],
    "resource_requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
    "dependencies": ["database_migration", "security_review"],
}
BUG_FIX = {
    "workflow_id": "bug_fix_002",
    "name": "Login Performance Issue",
    "priority": "medium",
    "phases": ["investigation", "fix", "testing"],
    "resource_requirements": {"agents": 2, "memory": "1GB", "duration": "2h"},
    "dependencies": ["user_reports", "performance_data"],
}


async def hub(bus: Bus, command: str, workflow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    reply = await bus.request(
        Event(event_type=command, workflow_id=workflow_id, phase="cli", data=data),
        service="hub",
        timeout=30,
    )
    return reply.data


async def status(bus: Bus, workflow_id: str) -> str:
    return str((await hub(bus, HubCommand.GET, workflow_id, {}))["workflow"]["status"])


async def until_status(bus: Bus, workflow_id: str, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = await status(bus, workflow_id)
        if last == wanted:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} is {last}, not {wanted}, after {timeout}s")


async def test_seed_002_multi_workflow_coordination(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    states = EventLog(bus=bus, topic=bus.topics.state)
    states.attach()
    hold = {"feature_dev_001"}  # feature's agents wait until told, so bug_fix must queue
    agents.policy = lambda e: Decision("ignore") if e.workflow_id in hold else Decision()
    agents.attach()
    events.attach()
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 4}'}
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir), bus:
        await hub(bus, "CREATE_WORKFLOW", "feature_dev_001", {"definition": FEATURE})
        await until_status(bus, "feature_dev_001", "STARTED")
        await hub(bus, "CREATE_WORKFLOW", "bug_fix_002", {"definition": BUG_FIX})
        await until_status(bus, "bug_fix_002", "QUEUED")
        # The hub answers from its committed state; the event follows through its outbox.
        await eventually(
            lambda: events.last("bug_fix_002", "WORKFLOW_QUEUED") is not None,
            what="bug_fix_002's WORKFLOW_QUEUED",
        )
        queued = events.last("bug_fix_002", "WORKFLOW_QUEUED")
        assert queued is not None
        assert queued.data["queue_position"] == 1
        assert queued.data["estimated_start"]  # from feature's expected end

        # Feature's agents now do their work; its completion releases the agents.
        hold.clear()
        for assignment in [a for a in agents.assignments if a.workflow_id == "feature_dev_001"]:
            await agents._on_assigned(assignment)
        await until_status(bus, "feature_dev_001", "COMPLETED")
        await until_status(bus, "bug_fix_002", "COMPLETED")

    feature = events.of("feature_dev_001", prefix="WORKFLOW_")
    bug = events.of("bug_fix_002", prefix="WORKFLOW_")
    assert feature == [
        "WORKFLOW_CREATED",
        "WORKFLOW_SCHEDULED",
        "WORKFLOW_STARTED",
        "WORKFLOW_COMPLETED",
    ]
    assert bug == [
        "WORKFLOW_CREATED",
        "WORKFLOW_QUEUED",
        "WORKFLOW_SCHEDULED",
        "WORKFLOW_STARTED",
        "WORKFLOW_COMPLETED",
    ]
    order = [(e.event_type, e.workflow_id) for e in events.events]
    # Seed 002's order: feature created and scheduled before bug_fix is queued; bug_fix
    # starts only after feature completed and released its agents.
    assert order.index(("WORKFLOW_SCHEDULED", "feature_dev_001")) < order.index(
        ("WORKFLOW_QUEUED", "bug_fix_002")
    )
    assert order.index(("RESOURCE_DEALLOCATED", "feature_dev_001")) < order.index(
        ("WORKFLOW_STARTED", "bug_fix_002")
    )
    assert len(events.of("feature_dev_001", prefix="PHASE_COMPLETED")) == 4

    # Every change is a state-sync message on the compacted state topic, versions 1, 2, 3...
    for workflow_id in ("feature_dev_001", "bug_fix_002"):
        syncs = [e for e in states.events if e.workflow_id == workflow_id]
        versions = [e.data["workflow_state"]["state_version"] for e in syncs]
        assert versions == list(range(1, len(versions) + 1)), versions
        assert all(e.event_type == "WORKFLOW_STATE" for e in syncs)
        assert syncs[-1].data["workflow_state"]["metadata"]["last_update_source"] == (
            "coordination-hub"
        )
