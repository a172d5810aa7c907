"""Seed 000's request envelope and seed 002's command sequence against the running hub and
resource manager (issue 16, point 10): the reply echoes the caller's ``request_id``, and
``start-phase 1`` on a phase that started by itself is an idempotent success."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def envelope(operation: str, data: dict[str, Any], request_id: str) -> str:
    """Seed 000's ``format_helper_request``."""
    return json.dumps(
        {
            "operation": operation,
            "data": data,
            "metadata": {},
            "timestamp": "2025-01-01T00:00:00Z",
            "request_id": request_id,
        }
    )


async def test_envelope_request_id_and_idempotent_start_phase(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 4}'}
    wf = "workflow_123"
    definition = {
        "workflow_id": wf,
        "name": "Database Migration",
        "phases": ["analysis", "migration"],
        "resource_requirements": {"agents": 2, "duration": "1h"},
    }
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir):
        # Seed 000: coordinate_with_hub with the envelope.
        code, created, err = await baton(
            env,
            "coordination-hub",
            "create-workflow",
            envelope("create-workflow", definition, "req_fv_env_1"),
        )
        assert code == 0, err
        assert created["request_id"] == "req_fv_env_1"
        assert created["status"] == "STARTED"

        # Seed 002: start-phase 1 on the phase that started by itself.
        code, state, err = await baton(env, "coordination-hub", wf, "status")
        assert code == 0, err
        version = state["workflow"]["state_version"]
        assert state["workflow"]["phases"][0]["status"] == "running"
        for _ in range(2):
            code, started, err = await baton(env, "coordination-hub", wf, "start-phase", "1")
            assert code == 0, err
            assert started["already_running"] is True
            assert (started["phase"], started["phase_number"]) == ("analysis", 1)
            assert started["phase_status"] == "running"
            assert "already running" in started["message"]
            assert started["state_version"] == version  # nothing changed
        code, started, err = await baton(env, "coordination-hub", wf, "start-phase", "2")
        assert code == 0, err
        assert started["already_running"] is False
        assert (started["phase"], started["phase_status"]) == ("migration", "running")
        assert started["state_version"] > version

        # Seed 000: request_resource_allocation with the envelope.
        request = {
            "workflow_id": "manual_1",
            "requirements": {"agents": 1},
            "priority": "low",
            "estimated_duration": "30m",
        }
        code, allocated, err = await baton(
            env, "resource-manager", "allocate", envelope("allocate", request, "req_fv_env_2")
        )
        assert code == 0, err
        assert allocated["request_id"] == "req_fv_env_2"
        assert allocated["allocation_response"]["request_id"] == "req_fv_env_2"

        # Seed 000: publish_coordination_event with the envelope.
        event = {"event_type": "RESEARCH_STARTED", "workflow_id": wf, "phase": "analysis",
                 "data": {"agents": 2}}  # fmt: skip
        code, ack, err = await baton(
            env,
            "coordination-hub",
            "publish-event",
            envelope("publish-event", event, "req_fv_env_3"),
        )
        assert code == 0, err
        assert ack["request_id"] == "req_fv_env_3"
        assert ack["routing_key"] == f"research.{wf}.started"
