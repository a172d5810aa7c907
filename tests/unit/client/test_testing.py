"""The agent test kit itself: what the stand-in hub publishes, records and waits for."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from baton.client import AgentWorker, Task
from baton.errors import RequestTimeoutError
from baton.testing import AgentTestEnvironment

pytestmark = pytest.mark.timeout(60)


async def echo(task: Task) -> dict[str, Any]:
    await task.progress(50, message="half way")
    return {"inputs": dict(task.inputs), "role": task.role, "description": task.description}


async def test_an_assignment_reaches_the_agent_and_its_reports_come_back() -> None:
    async with AgentTestEnvironment() as env:
        client = env.client(component="kit-agent")
        async with AgentWorker(client=client, agent_id="agent_007", handler=echo):
            sent = await env.hub.assign(
                "t1",
                agent="agent_007",
                token=3,
                workflow="wf_kit",
                role="review",
                inputs={"doc": "a.md"},
                description="review a.md",
            )
            done = await env.hub.wait_for("TASK_COMPLETED", task_id="t1", timeout=20)
        assert (sent.event_type, sent.workflow_id, sent.phase) == (
            "TASK_ASSIGNED",
            "wf_kit",
            "review",
        )
        assert done.data["results"] == {"inputs": {"doc": "a.md"}, "role": "review",
                                        "description": "review a.md"}  # fmt: skip
        assert (done.data["fencing_token"], done.data["attempt"]) == (3, 3)
        ours = [e.event_type for e in env.hub.reports(task_id="t1")]
        assert ours == ["TASK_STARTED", "PHASE_PROGRESS", "TASK_COMPLETED"]
        # The hub's own events are recorded, not counted as reports.
        assert sent.event_id in {e.event_id for e in env.hub.events}
        assert sent.event_id not in {e.event_id for e in env.hub.reports()}
    assert not client.started  # the environment's clients are stopped with it
    await env.stop()  # idempotent


async def test_waiting_for_a_report_that_never_comes_says_what_came() -> None:
    async with (
        AgentTestEnvironment() as env,
        AgentWorker(client=env.client(), agent_id="agent_001", handler=echo),
    ):
        await env.hub.assign("t1")
        await env.hub.wait_for("TASK_COMPLETED", task_id="t1", timeout=20)
        with pytest.raises(RequestTimeoutError) as raised:
            await env.hub.wait_for("TASK_FAILED", task_id="t1", timeout=0.2)
        with pytest.raises(RequestTimeoutError):
            await env.hub.wait_for("TASK_COMPLETED", count=2, timeout=0.2)
    message = str(raised.value)
    assert "1 TASK_FAILED report(s) on task t1" in message
    assert "TASK_STARTED(t1), PHASE_PROGRESS(t1), TASK_COMPLETED(t1)" in message


async def test_a_cancelled_workflow_stops_the_handler_and_nothing_is_reported() -> None:
    began, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(task: Task) -> dict[str, Any]:
        began.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    async with AgentTestEnvironment() as env:
        async with AgentWorker(client=env.client(), agent_id="agent_001", handler=slow) as agent:
            await env.hub.assign("t1", workflow="wf_gone")
            await asyncio.wait_for(began.wait(), 20)
            sent = await env.hub.cancel("wf_gone", reason="user asked")
            await asyncio.wait_for(cancelled.wait(), 20)
            assert agent.running_tasks == []
        assert sent.data["cancellation_reason"] == "user asked"
        assert [e.event_type for e in env.hub.reports(task_id="t1")] == ["TASK_STARTED"]
