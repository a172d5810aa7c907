"""AgentWorkers with the hub, the resource manager and workflow-recovery as processes.

Three workers (the pool's agent_001..003) complete a three-phase workflow: progress events
appear, one handler failure is reported and retried by the workflow's routing rule. A
worker that goes silent holding a task has it timed out by recovery: its handler is
cancelled unreported and the task completes on another agent with a newer fencing token.
Then the quickstart example runs as written, one process per agent.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from baton.client import AgentWorker, BatonClient, Task
from baton.config import BatonSettings
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.e2e.harness import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent_quickstart.py"
AGENTS = ["agent_001", "agent_002", "agent_003"]
RETRY = {
    "rule_id": "retry_errors",
    "name": "Retry on error",
    "condition_key": "error_count",
    "condition_operator": "<=",
    "condition_value": 2,
    "decision": "retry",
    "priority": 100,
}
FEATURE = {
    "workflow_id": "aw_feature",
    "name": "Auth feature",
    "priority": "high",
    "phases": ["research", "planning", "implementation"],
    "resource_requirements": {"agents": 3, "duration": "1h"},
    "tasks": [
        {"task_id": "research_api", "phase": "research", "description": "survey the API"},
        {"task_id": "research_ui", "phase": "research", "description": "survey the UI"},
        {"task_id": "plan", "phase": "planning", "dependencies": ["research_api", "research_ui"]},
        {"task_id": "implement", "phase": "implementation", "dependencies": ["plan"]},
    ],
    "rules": [RETRY],
}


def env_of(e2e_env: dict[str, str]) -> dict[str, str]:
    return {
        **e2e_env,
        "BATON_RESOURCE_POOLS": '{"agents": 3}',
        "BATON_RECOVERY_AGENT_INTERVAL": "1",
        "BATON_RECOVERY_AGENT_MISSES": "3",
        "BATON_RECOVERY_CHECK_INTERVAL": "0.25",
    }


def from_agents(events: list[Event], kind: str, workflow_id: str) -> list[Event]:
    return [
        e
        for e in events
        if e.event_type == kind and e.workflow_id == workflow_id and e.source.startswith("agent-")
    ]


async def settled(events: list[Event], workflow_id: str) -> None:
    """Wait until the observer saw the workflow's end, and so every event before it: the
    agents' reports and the hub's events share the workflow's key, hence one partition."""
    await eventually(
        lambda: any(
            e.event_type == "WORKFLOW_COMPLETED" and e.workflow_id == workflow_id for e in events
        ),
        timeout=60,
        what=f"WORKFLOW_COMPLETED of {workflow_id} seen",
    )


async def test_workers_run_a_workflow_report_a_failure_and_obey_fencing(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    env = env_of(e2e_env)
    settings = BatonSettings.from_env(env)
    events: list[Event] = []
    seen = BatonClient(component="e2e-observer", settings=settings)

    async def record(event: Event) -> None:
        events.append(event)

    await seen.subscribe("#", record, group=f"log-{uuid.uuid4().hex[:6]}")
    workers: dict[str, AgentWorker] = {}
    cancelled: list[str] = []

    async def handler(task: Task) -> dict[str, Any]:
        await task.progress(25, message=f"Step 1/2: {task.description or task.task_id}")
        if task.task_id == "implement" and task.attempt == 1:
            raise RuntimeError("compiler crashed")
        if task.workflow_id == "aw_silent" and task.attempt == 1:
            await workers[task.agent_id].presence.stop()  # as if this agent's host hung
            try:
                await asyncio.sleep(240)
            except asyncio.CancelledError:
                cancelled.append(task.agent_id)
                raise
        await task.progress(100, message="Step 2/2: done")
        return {"by": task.agent_id, "task": task.task_id}

    for agent in AGENTS:
        client = BatonClient(component=f"agent-{agent}", settings=settings)
        workers[agent] = AgentWorker(
            client=client, agent_id=agent, handler=handler, heartbeat_interval=0.5
        )
    async with Cluster(["resource", "hub", "recovery"], env=env, log_dir=log_dir), seen:
        try:
            for worker in workers.values():
                await worker.start()
            await seen.create_workflow(FEATURE, timeout=30)
            done = await seen.wait_for_workflow("aw_feature", timeout=120)
            assert done.status == "COMPLETED", done.state.get("failure_reason")
            await settled(events, done.workflow_id)

            failed = from_agents(events, "TASK_FAILED", "aw_feature")
            assert [f.data["failure_reason"] for f in failed] == ["RuntimeError: compiler crashed"]
            completed = from_agents(events, "TASK_COMPLETED", "aw_feature")
            assert sorted(c.data["task_id"] for c in completed) == [
                "implement",
                "plan",
                "research_api",
                "research_ui",
            ]
            retried = next(c for c in completed if c.data["task_id"] == "implement")
            assert retried.data["fencing_token"] > failed[0].data["fencing_token"]
            progress = from_agents(events, "PHASE_PROGRESS", "aw_feature")
            assert {p.data["task_id"] for p in progress} >= {"research_api", "plan", "implement"}
            assert any(p.data.get("message") == "Step 2/2: done" for p in progress)
            assert len(from_agents(events, "TASK_STARTED", "aw_feature")) == 5  # one retried

            # A worker goes silent holding a task: recovery times it out and reassigns it.
            silent_def = {
                "workflow_id": "aw_silent",
                "name": "Silent agent",
                "phases": ["build"],
                "resource_requirements": {"agents": 2, "duration": "1h"},
            }
            await seen.create_workflow(silent_def, timeout=30)
            done = await seen.wait_for_workflow("aw_silent", timeout=120)
            assert done.status == "COMPLETED", done.state.get("failure_reason")
            await settled(events, done.workflow_id)
            assert len(cancelled) == 1
            silent = cancelled[0]
            timeout = [e for e in events if e.event_type == "TASK_TIMEOUT"]
            assert timeout, "no TASK_TIMEOUT"
            assert timeout[0].data["agent_id"] == silent
            finished = from_agents(events, "TASK_COMPLETED", "aw_silent")
            assert len(finished) == 1
            assert finished[0].data["agent_id"] != silent
            assert finished[0].data["fencing_token"] == 2
        finally:
            for worker in workers.values():
                await worker.stop()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _exit_code(proc: asyncio.subprocess.Process) -> int | None:
    """Its exit code after SIGINT; killed (and the code shows it) when it hangs."""
    try:
        return await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:
        proc.kill()  # never leave an orphan that outlives the test's topics
        await proc.wait()
        return proc.returncode


async def test_the_quickstart_example_runs_as_written(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    env = {**env_of(e2e_env), "BATON_RESOURCE_POOLS": '{"agents": 2}'}
    events: list[Event] = []
    seen = BatonClient(component="e2e-observer", settings=BatonSettings.from_env(env))

    async def record(event: Event) -> None:
        events.append(event)

    await seen.subscribe("#", record, group=f"log-{uuid.uuid4().hex[:6]}")
    agents: list[asyncio.subprocess.Process] = []
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir), seen:
        try:
            for agent in ("agent_001", "agent_002"):
                log = (log_dir / f"quickstart-{agent}.log").open("ab")
                agents.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        str(EXAMPLE),
                        agent,
                        env=env,
                        stdout=log,
                        stderr=log,
                        # A shell's background jobs inherit SIGINT ignored; the example
                        # must see Ctrl-C as a user's terminal delivers it.
                        preexec_fn=_default_sigint,
                    )
                )
                log.close()
            definition = {
                "workflow_id": "aw_quickstart",
                "name": "Quickstart",
                "phases": ["research", "planning", "implementation"],
                "resource_requirements": {"agents": 2, "duration": "1h"},
            }
            await seen.create_workflow(definition, timeout=30)
            done = await seen.wait_for_workflow("aw_quickstart", timeout=120)
            assert done.status == "COMPLETED", done.state.get("failure_reason")
            await settled(events, done.workflow_id)
            completed = [
                e
                for e in events
                if e.event_type == "TASK_COMPLETED" and e.source.startswith("quickstart-")
            ]
            assert len(completed) == 3
            assert all("done by agent_00" in c.data["results"]["summary"] for c in completed)
            assert any(
                e.event_type == "PHASE_PROGRESS" and e.source.startswith("quickstart-")
                for e in events
            )
        finally:
            for proc in agents:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGINT)
            codes = [await _exit_code(p) for p in agents]
    assert codes == [0, 0], [(log_dir / f"quickstart-{a}.log").read_text() for a in AGENTS[:2]]
