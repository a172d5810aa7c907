"""AgentWorker on the in-memory bus, with the test environment's hub assigning and listening."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from baton.bus import MemoryTransport
from baton.client import AgentWorker, Pipeline, Step, Task, TaskResult, task_progress
from baton.config import BatonSettings
from baton.errors import ConfigError
from baton.protocol.headers import H
from baton.testing import FakeHub
from tests.behaviour.helpers import eventually, settle
from tests.unit.client.conftest import ClientFactory

pytestmark = pytest.mark.timeout(60)

AGENT = "agent_001"
WAIT = 20.0  # seconds: generous, for a loaded machine


Handler = Callable[[Task], Any]


def worker(make_client: ClientFactory, handler: Handler, **options: Any) -> AgentWorker:
    return AgentWorker(
        client=make_client(f"agent-{AGENT}"),
        agent_id=options.pop("agent_id", AGENT),
        handler=handler,
        heartbeat_interval=options.pop("heartbeat_interval", 0.2),
        capabilities=["research"],
        **options,
    )


def agent_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("baton-agent-")]


async def test_a_task_is_started_progressed_and_completed_with_its_token(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    seen: list[Task] = []

    async def research(task: Task) -> TaskResult:
        seen.append(task)
        await task.progress(50, message="Step 1/2: reading")
        await task.progress(150)
        return TaskResult(results={"found": task.inputs["topic"]}, quality_score=0.9)

    async with worker(make_client, research):
        await hub.assign("t1", token=4, inputs={"topic": "auth"})
        await hub.assign("t_other", agent="agent_002")
        await hub.wait_for("TASK_COMPLETED", timeout=WAIT)
    task = seen[0]
    assert (task.task_id, task.fencing_token, task.attempt, task.role) == ("t1", 4, 4, "research")
    assert [t.task_id for t in seen] == ["t1"]  # another agent's task is not ours
    kinds = [e.event_type for e in hub.reports() if "task_id" in e.data]
    assert kinds == ["TASK_STARTED", "PHASE_PROGRESS", "PHASE_PROGRESS", "TASK_COMPLETED"]
    progress = hub.reports("PHASE_PROGRESS")
    assert [p.data["progress_percentage"] for p in progress] == [50, 100]
    assert progress[0].data["message"] == "Step 1/2: reading"
    assert progress[0].data["phase_id"] == "research"
    done = hub.reports("TASK_COMPLETED")[0]
    assert done.data["results"] == {"found": "auth"}
    assert done.data["quality_score"] == 0.9
    assert done.data["agent_id"] == AGENT
    assert all(e.data["fencing_token"] == 4 for e in hub.reports(task_id="t1"))
    assert not done.findings  # every registered field is there
    assert not agent_tasks()


async def test_a_handler_may_wait_for_its_start_to_be_acknowledged(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    """The handler runs once the start report is handed over; ``task.started()`` returns
    once it is acknowledged (the handler goes on), and the start stays ahead of the end."""
    waited: list[str] = []

    async def careful(task: Task) -> None:
        await task.started()
        waited.append(task.task_id)

    async with worker(make_client, careful):
        await hub.assign("t1")
        await hub.wait_for("TASK_COMPLETED", timeout=WAIT)
    assert waited == ["t1"]
    kinds = [e.event_type for e in hub.reports() if "task_id" in e.data]
    assert kinds == ["TASK_STARTED", "TASK_COMPLETED"]
    built = Task.from_assignment(hub.reports("TASK_STARTED")[0], reporter=_no_progress)
    await built.started()  # a task built without a worker has nothing to wait for


async def _no_progress(percent: float, message: str | None, eta: str | None) -> None:
    return None


async def test_a_handler_error_is_reported_as_the_task_failure(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    async def broken(task: Task) -> dict[str, Any]:
        raise ValueError("tool crashed")

    async def wrong(task: Task) -> Any:
        return 42

    async with worker(make_client, broken):
        await hub.assign("t1", token=2)
        await hub.wait_for("TASK_FAILED", timeout=WAIT)
    failed = hub.reports("TASK_FAILED")[0].data
    assert failed["failure_reason"] == "ValueError: tool crashed"
    assert (failed["retry_count"], failed["fencing_token"]) == (1, 2)
    assert not hub.reports("TASK_COMPLETED")

    async with worker(make_client, wrong):
        await hub.assign("t2")
        await hub.wait_for("TASK_FAILED", task_id="t2", timeout=WAIT)
    assert "not a mapping" in hub.reports("TASK_FAILED", task_id="t2")[0].data["failure_reason"]


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("WORKFLOW_CANCELLED", {"cancellation_reason": "user", "cleanup_status": {}}),
        ("TASK_REASSIGNED", {"task_id": "t1", "old_agent": AGENT, "new_agent": "agent_002"}),
        ("TASK_TIMEOUT", {"task_id": "t1", "agent_id": AGENT, "timeout_duration": "3s"}),
        ("TASK_SKIPPED", {"task_id": "t1", "reason": "rule", "rule_id": "r"}),
        ("AGENT_DEALLOCATED", {"agent_id": AGENT, "workflow_id": "wf_1", "reason": "timeout"}),
    ],
)
async def test_a_task_taken_away_stops_its_handler_and_reports_nothing(
    make_client: ClientFactory, hub: FakeHub, event_type: str, data: dict[str, Any]
) -> None:
    began, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(task: Task) -> dict[str, Any]:
        began.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    async with worker(make_client, slow) as agent:
        await hub.assign("t1")
        await asyncio.wait_for(began.wait(), 20)
        assert [t.task_id for t in agent.running_tasks] == ["t1"]
        await hub.announce(event_type, data)
        await asyncio.wait_for(cancelled.wait(), 20)
        await settle(0.3)
        assert agent.running_tasks == []
    assert hub.reports("TASK_STARTED")
    assert not hub.reports("TASK_COMPLETED")
    assert not hub.reports("TASK_FAILED")


async def test_a_superseded_assignments_late_report_leaves_the_task_to_its_holder(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    """Issue 16, point 1: agent_001 was paused past its task's timeout, the task went to
    agent_002 (token 2); agent_001 wakes up and reports on token 1, and the hub rejects it.
    agent_002 must go on and report its own result."""
    release, began = asyncio.Event(), asyncio.Event()

    async def handler(task: Task) -> dict[str, Any]:
        if task.task_id == "t1":
            began.set()
            await release.wait()
        return {"by": task.agent_id}

    async with worker(make_client, handler, agent_id="agent_002") as agent:
        await hub.assign("t1", agent="agent_002", token=2)
        await asyncio.wait_for(began.wait(), 20)
        late = {"task_id": "t1", "agent_id": AGENT, "fencing_token": 1, "duration": "9s"}
        await hub.announce("TASK_COMPLETED", {**late, "results": {"stale": True}})
        await hub.announce("TASK_FAILED", {**late, "failure_reason": "stale"})
        await hub.announce(
            "TASK_RESULT_REJECTED",
            {"task_id": "t1", "agent_id": AGENT, "report": "completed", "fencing_token": 1,
             "reason": "agent agent_001 does not hold the task (held by agent_002)"},
        )  # fmt: skip
        # Same workflow, so the same partition: once t2 is in, the reports were handled.
        await hub.assign("t2", agent="agent_002", token=1)
        await eventually(lambda: len(agent.running_tasks) == 2, what="t2 accepted")
        assert [t.task_id for t in agent.running_tasks] == ["t1", "t2"]
        release.set()
        await hub.wait_for("TASK_COMPLETED", count=2, timeout=WAIT)
    done = hub.reports("TASK_COMPLETED", task_id="t1")
    assert [(d.data["agent_id"], d.data["fencing_token"]) for d in done] == [("agent_002", 2)]


async def test_reports_carry_the_assignments_trace_context(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    """Issue 16, point 8: the assignment's trace context travels back with every report,
    though this agent has no tracer (no OpenTelemetry SDK)."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01".encode()

    async def handler(task: Task) -> dict[str, Any]:
        await task.progress(50, message="half way")
        return {}

    async with worker(make_client, handler):
        await hub.assign("t1", headers=((H.TRACEPARENT, traceparent),))
        await hub.wait_for("TASK_COMPLETED", timeout=WAIT)
    reports = [e for e in hub.reports() if "task_id" in e.data]
    assert [e.event_type for e in reports] == ["TASK_STARTED", "PHASE_PROGRESS", "TASK_COMPLETED"]
    carried = [dict(e.extra_headers).get(H.TRACEPARENT, b"").decode() for e in reports]
    assert [c.split("-")[1:2] for c in carried] == [[trace_id]] * 3, carried


async def test_a_newer_assignment_replaces_the_older_run(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    release = asyncio.Event()
    tokens: list[int | None] = []

    async def handler(task: Task) -> dict[str, Any]:
        tokens.append(task.fencing_token)
        if task.fencing_token == 1:
            await asyncio.sleep(60)
        await release.wait()
        return {"token": task.fencing_token}

    async with worker(make_client, handler):
        await hub.assign("t1", token=1)
        await eventually(lambda: tokens == [1], what="first run")
        await hub.assign("t1", token=1)  # a redelivery of the same assignment: not run again
        await hub.assign("t1", token=2)
        await eventually(lambda: tokens == [1, 2], what="second run")
        release.set()
        await hub.wait_for("TASK_COMPLETED", timeout=WAIT)
    done = hub.reports("TASK_COMPLETED")
    assert [d.data["fencing_token"] for d in done] == [2]


async def test_concurrency_is_limited_and_stop_leaves_no_task_behind(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    running, peak = 0, 0
    gate = asyncio.Event()

    async def handler(task: Task) -> dict[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await gate.wait()
        finally:
            running -= 1
        return {}

    agent = worker(make_client, handler, concurrency=2)
    await agent.start()
    for n in range(5):
        await hub.assign(f"t{n}", workflow=f"wf_{n}")
    await eventually(lambda: running == 2, what="two running")
    await settle(0.3)
    assert peak == 2
    assert len(agent.running_tasks) == 5  # three wait for a slot
    gate.set()
    await hub.wait_for("TASK_COMPLETED", count=5, timeout=WAIT)
    gate.clear()
    await hub.assign("t9", workflow="wf_9")
    await eventually(lambda: running == 1, what="one more running")
    await agent.stop()
    await agent.stop()  # idempotent
    assert not agent_tasks()
    assert not hub.reports("TASK_COMPLETED", task_id="t9")
    assert not agent.client.started  # the worker started its client, so it stopped it


async def test_presence_registration_heartbeats_and_shutdown(
    make_client: ClientFactory, hub: FakeHub, memory: MemoryTransport, settings: BatonSettings
) -> None:
    async def idle(task: Task) -> dict[str, Any]:
        return {}

    async with worker(make_client, idle):
        await hub.wait_for("AGENT_HEARTBEAT", count=2, timeout=WAIT)
    registered = hub.reports("COMPONENT_REGISTERED")[0]
    assert registered.data["component_registration"]["component_type"] == "agent"
    assert registered.data["component_registration"]["capabilities"] == ["research"]
    beat = hub.reports("AGENT_HEARTBEAT")[0]
    assert (beat.workflow_id, beat.phase, beat.data["agent_id"]) == ("global", AGENT, AGENT)
    assert hub.reports("COMPONENT_HEARTBEAT")[0].data["health_status"]["component_id"] == AGENT
    await hub.wait_for("SYSTEM_SHUTDOWN", timeout=WAIT)
    # Keyed by the agent: agents' heartbeats spread over partitions (recovery's replicas
    # share them); the monitor's presence events stay system-wide.
    keys = {
        r.value.split(b":", 1)[0]: r.key for r in memory.records(settings.topics.events) if r.value
    }
    assert keys[b"AGENT_HEARTBEAT"] == AGENT.encode()
    assert keys[b"COMPONENT_HEARTBEAT"] == b"global"


async def test_old_assignments_are_skipped(make_client: ClientFactory, hub: FakeHub) -> None:
    ran: list[str] = []

    async def handler(task: Task) -> dict[str, Any]:
        ran.append(task.task_id)
        return {}

    old = datetime.now(UTC) - timedelta(hours=2)
    async with worker(make_client, handler, max_assignment_age=60):
        await hub.assign("old", timestamp=old)
        await hub.assign("new")
        await eventually(lambda: ran == ["new"], what="the new one only")
        await settle(0.3)
    assert ran == ["new"]


async def test_run_forever_returns_when_stopped(make_client: ClientFactory, hub: FakeHub) -> None:
    async def handler(task: Task) -> dict[str, Any]:
        return {}

    agent = worker(make_client, handler)
    running = asyncio.create_task(agent.run_forever())
    await hub.wait_for("COMPONENT_REGISTERED", timeout=WAIT)
    await agent.stop()
    await asyncio.wait_for(running, 20)


def test_bad_options_are_config_errors(make_client: ClientFactory) -> None:
    async def handler(task: Task) -> dict[str, Any]:
        return {}

    with pytest.raises(ConfigError):
        worker(make_client, handler, agent_id="no:colons")
    with pytest.raises(ConfigError):
        worker(make_client, handler, concurrency=0)


async def test_a_pipeline_reports_its_steps_as_task_progress(
    make_client: ClientFactory, hub: FakeHub
) -> None:
    async def step(state: dict[str, Any]) -> None:
        state["n"] = state.get("n", 0) + 1

    async def handler(task: Task) -> dict[str, Any]:
        steps = [Step("read", step), Step("write", step)]
        return await Pipeline(steps=steps, reporters=[task_progress(task)]).run()

    async with worker(make_client, handler):
        await hub.assign("t1")
        await hub.wait_for("TASK_COMPLETED", timeout=WAIT)
    progress = [(p.data["progress_percentage"], p.data["message"])
                for p in hub.reports("PHASE_PROGRESS")]  # fmt: skip
    assert progress == [
        (0, "Step 1/2: read"),
        (50, "Step 1/2: read done"),
        (50, "Step 2/2: write"),
        (100, "Step 2/2: write done"),
    ]
    assert hub.reports("TASK_COMPLETED")[0].data["results"] == {"n": 2}
