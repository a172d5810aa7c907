"""The agent worker's behaviour on the in-memory bus and on real Kafka (same test, twice)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from baton.bus import MemoryTransport
from baton.client import AgentWorker, BatonClient, Task
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.conftest import BusFactory

pytestmark = pytest.mark.timeout(180)


async def test_worker_completes_one_task_and_drops_a_cancelled_one(make_bus: BusFactory) -> None:
    hub = await make_bus(component="fake-hub")
    seen: list[Event] = []

    async def record(event: Event) -> None:
        seen.append(event)

    hub.subscribe("#", record, group=f"log-{uuid.uuid4().hex[:6]}")
    await hub.start()
    shared = hub.transport if isinstance(hub.transport, MemoryTransport) else None
    client = BatonClient(component="kafka-agent", settings=hub.settings, transport=shared)
    cancelled = asyncio.Event()

    async def handler(task: Task) -> dict[str, Any]:
        await task.progress(10, message="Step 1/1")
        if task.workflow_id == "wf_cancel":
            try:
                await asyncio.sleep(120)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return {"done": task.task_id}

    def assign(workflow_id: str) -> Event:
        return Event(
            event_type="TASK_ASSIGNED",
            workflow_id=workflow_id,
            phase="build",
            data={"task_id": "t1", "agent_id": "agent_007", "estimated_duration": "1m",
                  "fencing_token": 1, "attempt": 1},
        )  # fmt: skip

    def reports(kind: str, workflow_id: str) -> list[Event]:
        return [e for e in seen if e.event_type == kind and e.workflow_id == workflow_id
                and e.source == "kafka-agent"]  # fmt: skip

    async with AgentWorker(client=client, agent_id="agent_007", handler=handler, concurrency=2):
        await hub.publish(assign("wf_ok"))
        await hub.publish(assign("wf_cancel"))
        await eventually(lambda: bool(reports("TASK_COMPLETED", "wf_ok")), timeout=90,
                         what="completion")  # fmt: skip
        await eventually(lambda: bool(reports("PHASE_PROGRESS", "wf_cancel")), timeout=60,
                         what="progress of the second task")  # fmt: skip
        await hub.publish(
            "WORKFLOW_CANCELLED:wf_cancel:build:{'cancellation_reason':'user','cleanup_status':{}}"
        )
        await asyncio.wait_for(cancelled.wait(), 60)
    assert reports("TASK_COMPLETED", "wf_ok")[0].data["results"] == {"done": "t1"}
    assert not reports("TASK_COMPLETED", "wf_cancel")
    assert not reports("TASK_FAILED", "wf_cancel")
    await client.stop()
