"""A timed-out external dependency through the running hub (issue 16, point 3).

The trial: with failures left to workflow-recovery, ``DEPENDENCY_TIMEOUT legal_signoff`` was
followed by ``TASK_RETRY reason=agent_reallocation``, the dependent task ran and the
workflow COMPLETED although ``legal_signoff`` was never satisfied. Here the hub, the
resource manager and workflow-recovery run as processes, simulated agents complete every
task they are given, and the dependent task must never be given to one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.protocol.commands import HubCommand
from tests.behaviour.helpers import eventually
from tests.e2e.agents import EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def definition(workflow_id: str, *rules: dict[str, Any], wait: str | None) -> dict[str, Any]:
    """``draft``, then ``publish`` after ``draft`` and the external ``legal_signoff``, whose
    own timeout is 2s from creation; ``publish`` waits ``wait`` for each dependency (by
    default as long as the external dependency's timeout, from the phase's start)."""
    publish: dict[str, Any] = {"task_id": "publish", "dependencies": ["draft", "legal_signoff"]}
    if wait is not None:
        publish["timeout"] = wait
    return {
        "definition": {
            "workflow_id": workflow_id,
            "name": workflow_id,
            "resource_requirements": {"agents": 2, "duration": "1h"},
            "external_dependencies": [{"name": "legal_signoff", "timeout": "2s"}],
            "rules": list(rules),
            "tasks": [{"task_id": "draft"}, publish],
        }
    }


def given(events: EventLog, workflow_id: str, task_id: str) -> list[str]:
    """Agents ``task_id`` of ``workflow_id`` was assigned to."""
    return [
        str(e.data["agent_id"])
        for e in events.events
        if e.workflow_id == workflow_id
        and e.event_type == "TASK_ASSIGNED"
        and e.data.get("task_id") == task_id
    ]


async def test_a_timed_out_dependency_never_lets_its_task_run(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    env = {
        **e2e_env,
        "BATON_HUB_FAILURE_POLICY": "recovery",  # as in the trial
        "BATON_HUB_TIMEOUT_INTERVAL": "0.25",
        "BATON_RECOVERY_CHECK_INTERVAL": "0.25",
        "BATON_RECOVERY_RETRY_BASE": "0.2",
        "BATON_RESOURCE_POOLS": '{"agents": 4}',
    }
    agents.attach()
    events.attach()
    async with Cluster(["resource", "hub", "recovery"], env=env, log_dir=log_dir), bus:
        # No rule: the default fails the task and the workflow, naming the dependency.
        await hub(bus, "CREATE_WORKFLOW", "dt_fail", definition("dt_fail", wait=None))
        await until_status(bus, "dt_fail", "FAILED")
        state = (await hub(bus, HubCommand.GET, "dt_fail", {}))["workflow"]
        assert state["tasks"]["draft"]["status"] == "completed"
        assert state["tasks"]["publish"]["status"] == "failed"
        reason = state["failure_reason"]
        assert "task 'publish' failed" in reason, reason
        assert "dependency 'legal_signoff'" in reason, reason
        assert given(events, "dt_fail", "publish") == []
        await eventually(
            lambda: events.last("dt_fail", "WORKFLOW_FAILED") is not None,
            what="WORKFLOW_FAILED on the events topic",
        )
        kinds = events.of("dt_fail")
        assert "RECOVERY_REQUESTED" not in kinds, kinds
        assert "TASK_RETRY" not in kinds, kinds
        timeouts = [e for e in events.events if e.workflow_id == "dt_fail"]
        decided = [
            e.data["decision"]
            for e in timeouts
            if e.event_type == "DEPENDENCY_TIMEOUT" and e.data.get("task_id") == "publish"
        ]
        assert decided == ["fail"]

        # A rule waits longer for legal_signoff; satisfied later (by the CLI), the task runs.
        wait_longer = {
            "rule_id": "wait_for_legal",
            "condition_key": "dependency",
            "condition_operator": "==",
            "condition_value": "legal_signoff",
            "decision": "retry",
            "max_attempts": 5,
        }
        await hub(bus, "CREATE_WORKFLOW", "dt_wait", definition("dt_wait", wait_longer, wait="1h"))
        await eventually(
            lambda: any(
                e.workflow_id == "dt_wait"
                and e.event_type == "DEPENDENCY_TIMEOUT"
                and e.data.get("decision") == "retry"
                for e in events.events
            ),
            what="the wait for legal_signoff extended by the rule",
            timeout=60,
        )
        assert given(events, "dt_wait", "publish") == []
        state = (await hub(bus, HubCommand.GET, "dt_wait", {}))["workflow"]
        assert state["status"] == "STARTED"
        assert state["tasks"]["publish"]["status"] == "pending"
        code, _, err = await baton(env, "coordination-hub", "dt_wait", "satisfy", "legal_signoff")
        assert code == 0, err
        await until_status(bus, "dt_wait", "COMPLETED")
        assert len(given(events, "dt_wait", "publish")) == 1
