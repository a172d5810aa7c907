"""workflow-recovery as a process with the hub and the resource manager (issue 6).

Checkpoints (automatic and manual, differential, hash-verified on restore), a failure left
to recovery and retried after a backoff, an agent that stops heartbeating (its task is
reassigned with a new fencing token and its late result rejected), and a restore that
keeps completed work — each through the CLI where the helper commands name it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

AGENTS = ["agent_001", "agent_002", "agent_003", "agent_004"]


def recovery_env(e2e_env: dict[str, str]) -> dict[str, str]:
    return {
        **e2e_env,
        "BATON_HUB_FAILURE_POLICY": "recovery",
        "BATON_RECOVERY_AGENT_INTERVAL": "0.5",
        "BATON_RECOVERY_AGENT_MISSES": "3",
        "BATON_RECOVERY_CHECK_INTERVAL": "0.25",
        "BATON_RECOVERY_RETRY_BASE": "0.5",
        "BATON_RECOVERY_RETRY_MAX_DELAY": "2",
        "BATON_RESOURCE_POOLS": '{"agents": 4}',
    }


def definition(workflow_id: str, phases: list[str]) -> dict[str, Any]:
    return {
        "definition": {
            "workflow_id": workflow_id,
            "name": workflow_id,
            "phases": phases,
            "resource_requirements": {"agents": 2, "duration": "1h"},
        }
    }


async def test_checkpoints_retry_timeout_and_restore(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    env = recovery_env(e2e_env)
    failed_once: set[str] = set()
    breaking = asyncio.Event()
    breaking.set()

    def policy(event: Event) -> Decision:
        wf, task = event.workflow_id, event.data["task_id"]
        if wf == "rc_retry" and task not in failed_once:
            failed_once.add(task)
            return Decision(outcome="fail", reason="connection reset by tool")
        if wf == "rc_restore" and task == "b" and breaking.is_set():
            return Decision(outcome="fail", reason="tool crashed")
        if wf == "rc_silent" and event.data["attempt"] == 1:
            agents.silent.add(event.data["agent_id"])
            return Decision(outcome="ignore")
        return Decision(delay=0.05)

    agents.policy = policy
    agents.attach()
    events.attach()
    async with Cluster(["resource", "hub", "recovery"], env=env, log_dir=log_dir), bus:
        beating = asyncio.create_task(agents.heartbeat(AGENTS, interval=0.3))
        try:
            # Checkpoints: one per completed phase, the later ones differential.
            await hub(bus, "CREATE_WORKFLOW", "rc_ckpt", definition("rc_ckpt", ["a", "b", "c"]))
            await until_status(bus, "rc_ckpt", "COMPLETED")
            code, listed, err = await baton(env, "workflow-recovery", "checkpoints", "rc_ckpt")
            assert code == 0, err
            kinds = [(c["checkpoint_type"], c["storage"]) for c in listed["checkpoints"]]
            assert kinds[:3] == [
                ("phase_complete", "full"),
                ("phase_complete", "delta"),
                ("phase_complete", "delta"),
            ], kinds
            assert all(c["state_hash"].startswith("sha256:") for c in listed["checkpoints"])

            # A failure no rule handles: recovery reports it and retries after a backoff.
            await hub(bus, "CREATE_WORKFLOW", "rc_retry", definition("rc_retry", ["a", "b"]))
            await until_status(bus, "rc_retry", "COMPLETED")
            code, analysis, err = await baton(
                env, "workflow-recovery", "analyze-failure", "rc_retry"
            )
            assert code == 0, err
            reports = analysis["reports"]
            assert len(reports) == 2  # one per phase's first failure
            report = reports[0]["error_report"]
            assert report["classification"]["category"] in {"execution", "system"}
            assert report["recovery_suggestions"]
            assert reports[0]["decision"]["kind"] in {"retry", "reassign"}
            assert "affected_tasks" in report["impact_assessment"] or report["impact_assessment"]

            # An agent goes silent holding a task: timeout, reassignment, late result fenced.
            await hub(bus, "CREATE_WORKFLOW", "rc_silent", definition("rc_silent", ["a"]))
            await until_status(bus, "rc_silent", "COMPLETED", timeout=60)
            silent = next(iter(agents.silent))
            await eventually(
                lambda: any(
                    e.event_type == "AGENT_TIMEOUT" and e.data["agent_id"] == silent
                    for e in events.events
                ),
                what="AGENT_TIMEOUT",
            )
            timeout = events.last("rc_silent", "TASK_TIMEOUT")
            assert timeout is not None
            assert timeout.data["agent_id"] == silent
            first = next(e for e in agents.assignments if e.workflow_id == "rc_silent")
            moved = events.last("rc_silent", "TASK_REASSIGNED")
            assert moved is not None
            assert moved.data["old_agent"] == silent
            await bus.publish(
                Event(
                    event_type="TASK_COMPLETED",
                    workflow_id="rc_silent",
                    phase=first.phase,
                    data={
                        "task_id": first.data["task_id"],
                        "agent_id": silent,
                        "fencing_token": first.data["fencing_token"],
                        "duration": "9s",
                    },
                )
            )
            await eventually(
                lambda: events.last("rc_silent", "TASK_RESULT_REJECTED") is not None,
                what="the late result rejected",
            )

            # Restore: phase b keeps failing until recovery gives up and the workflow fails;
            # restoring the checkpoint taken after phase a keeps a's work and runs b again.
            await hub(bus, "CREATE_WORKFLOW", "rc_restore", definition("rc_restore", ["a", "b"]))
            await until_status(bus, "rc_restore", "FAILED", timeout=60)
            code, listed, err = await baton(env, "workflow-recovery", "checkpoints", "rc_restore")
            assert code == 0, err
            after_a = next(
                c["checkpoint_id"]
                for c in listed["checkpoints"]
                if c["checkpoint_type"] == "phase_complete"
            )
            assert any(c["checkpoint_type"] == "emergency" for c in listed["checkpoints"])
            breaking.clear()
            code, restored, err = await baton(
                env,
                "coordination-hub",
                "rc_restore",
                "restore",
                f'{{"checkpoint_id": "{after_a}"}}',
            )
            assert code == 0, err
            assert str(restored.get("verified_hash")).startswith("sha256:"), restored
            await until_status(bus, "rc_restore", "COMPLETED")
            done = events.last("rc_restore", "WORKFLOW_RESTORED")
            assert done is not None
            assert done.data["kept_tasks"] == ["a"]
            assert done.data["reset_tasks"] == ["b"]
            code, _, err = await baton(
                env, "coordination-hub", "rc_restore", "restore", '{"checkpoint_id": "nope"}'
            )
            assert code == 1, err
            assert "no checkpoint nope" in err
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
