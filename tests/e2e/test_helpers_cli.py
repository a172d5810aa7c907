"""The seed helper commands against running services (CLI in a subprocess)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import BATON, Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def baton(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    proc = await asyncio.create_subprocess_exec(
        *BATON, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode()
    return proc.returncode or 0, json.loads(text) if text.strip() else None, err.decode()


async def test_coordination_hub_and_resource_manager_helpers(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 4}'}
    definition = {
        "workflow_id": "workflow_123",
        "name": "Database Migration",
        "priority": "high",
        "phases": ["analysis", "migration"],
        "resource_requirements": {"agents": 2, "duration": "1h"},
    }
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir):
        code, created, err = await baton(
            env, "coordination-hub", "create-workflow", json.dumps(definition)
        )
        assert code == 0, err
        assert created["status"] == "STARTED"
        wf = "workflow_123"
        code, state, err = await baton(env, "coordination-hub", wf, "status")
        assert code == 0, err
        assert state["workflow_state"]["workflow_id"] == wf
        agents = json.dumps([{"agent_id": "agent_001", "role": "analysis"}])
        assert (await baton(env, "coordination-hub", wf, "assign-agents", agents))[0] == 0
        code, _, err = await baton(
            env,
            "coordination-hub",
            wf,
            "signal",
            json.dumps(
                {
                    "sender": "agent_001",
                    "recipients": ["agent_002"],
                    "signal_type": "ready",
                    "payload": {"x": 1},
                }
            ),
        )
        assert code == 0, err
        code, history, _ = await baton(env, "coordination-hub", wf, "signals")
        assert [s["signal_type"] for s in history["signals"]] == ["ready"]
        context = json.dumps({"updates": {"schema": "v2"}, "targets": ["analysis"]})
        code, _, err = await baton(env, "coordination-hub", wf, "context", context)
        assert code == 0, err
        assert (await baton(env, "coordination-hub", wf, "checkpoint", "pre_migration"))[0] == 0
        code, paused, _ = await baton(env, "coordination-hub", wf, "pause", "operator")
        assert paused["status"] == "PAUSED"
        code, resumed, _ = await baton(env, "coordination-hub", wf, "resume")
        assert resumed["status"] == "STARTED"
        code, _, err = await baton(env, "coordination-hub", wf, "start-phase", "2")
        assert code == 0, err
        code, listed, _ = await baton(env, "coordination-hub", "list")
        assert [w["workflow_id"] for w in listed["workflows"]] == [wf]

        code, status, _ = await baton(env, "resource-manager", "status")
        assert status["pools"]["agents"]["used"] == 2
        request = json.dumps(
            {
                "allocation_request": {
                    "workflow_id": "manual_1",
                    "priority": "low",
                    "resources": {"agents": 1},
                }
            }
        )
        code, allocated, err = await baton(env, "resource-manager", "allocate", request)
        assert code == 0, err
        answer = allocated["allocation_response"]
        assert answer["status"] == "approved"
        allocation_id = answer["allocated_resources"]["allocation_id"]
        code, released, err = await baton(env, "resource-manager", "release", allocation_id)
        assert code == 0, err
        assert released["released"] == [allocation_id]

        code, cancelled, _ = await baton(env, "coordination-hub", wf, "cancel", "done testing")
        assert cancelled["status"] == "CANCELLED"
        # Errors: a closed workflow cannot resume (1), bad JSON or definition (2), unknown
        # helper (127).
        code, _, err = await baton(env, "coordination-hub", wf, "resume")
        assert code == 1
        assert "CANCELLED" in err
        assert (await baton(env, "coordination-hub", "create-workflow", "{not json"))[0] == 2
        bad = json.dumps({**definition, "workflow_id": "bad_1", "priority": "urgent"})
        code, _, err = await baton(env, "coordination-hub", "create-workflow", bad)
        assert code == 2  # bad input (more cases: test_bad_input.py)
        assert "priority" in err
        assert (await baton(env, "coordination-hub", wf, "fly-to-the-moon"))[0] == 127
